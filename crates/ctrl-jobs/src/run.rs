//! The task of one job: wait for a slot, run, record the end.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ctrl_core::JobStatus;
use ctrl_core::config::{LogFormat, LogSpec, ServiceOp};
use ctrl_proto::JobInfo;
use ctrl_store::JobEnd;
use ctrl_supervisor::logs::{Chunk, LogSink, Stream};
use tokio::sync::{Semaphore, broadcast, watch};

use crate::exec::{self, Io, Reports, Sinks, Stop, failed};
use crate::jobs::Jobs;
use crate::plan::{Plan, Planned};
use crate::task::TaskRun;

/// Output kept per job and stream: the newest 16 MB and the 16 MB before.
const OUTPUT_LIMIT: u64 = 16 * 1024 * 1024;

pub(crate) async fn run(
    jobs: Jobs,
    job: JobInfo,
    planned: Planned,
    slot: Arc<Semaphore>,
    mut cancel: watch::Receiver<bool>,
    follow: broadcast::Sender<Arc<Chunk>>,
) {
    let id = job.id;
    let permit = tokio::select! {
        p = slot.acquire_owned() => p.ok(),
        _ = cancel.wait_for(|c| *c) => None,
    };
    if permit.is_none() {
        let end = JobEnd { error: Some("cancelled before it started".into()), ..JobEnd::default() };
        return finish(&jobs, id, JobStatus::Cancelled, end, Utc::now()).await;
    }
    let started = Utc::now();
    if let Err(e) = jobs.store().job_started(id, started).await {
        tracing::error!(job = id, error = %e, "cannot record a job's start");
    }
    jobs.publish(id, |j| {
        j.status = JobStatus::Running;
        j.started_at = Some(started);
    });
    let sinks = sinks(&jobs, id, follow);
    let reports = Arc::new(Reports::default());
    let pump = tokio::spawn(pump_progress(jobs.clone(), id, reports.progress.subscribe()));
    tokio::spawn(record_process(jobs.clone(), id, reports.process.subscribe()));
    let timeout = planned.timeout;
    let (status, end) = match planned.plan {
        Plan::Command(exec) => exec::run(&exec, Io::default(), id, timeout, &sinks, &reports, cancel).await,
        Plan::Service { service, op } => {
            bounded(timeout, cancel, control(&jobs, &service, op, &sinks)).await.unwrap_or_else(stopped)
        }
        Plan::Backup { target, source, ext, retention, cwd, env, account } => {
            let b = crate::backup::Make { target, source, ext, retention, cwd, env, account };
            crate::backup::make(&jobs, id, b, timeout, &sinks, &reports, cancel).await
        }
        Plan::Restore { target, file, into, command } => {
            let r = crate::backup::Restore { target, file, into, command };
            crate::backup::restore(&jobs, id, r, timeout, &sinks, &reports, cancel).await
        }
        Plan::Task(kind) => match jobs.task(kind) {
            Some(task) => {
                let run = TaskRun { reports: reports.clone(), cancel: cancel.clone() };
                match bounded(timeout, cancel, task(run)).await {
                    Ok(Ok(result)) => {
                        (JobStatus::Succeeded, JobEnd { result: Some(result), ..JobEnd::default() })
                    }
                    Ok(Err(e)) => (JobStatus::Failed, JobEnd { error: Some(e), ..JobEnd::default() }),
                    Err(stop) => stopped(stop),
                }
            }
            None => (
                JobStatus::Failed,
                JobEnd { error: Some(format!("nothing runs '{kind}' here")), ..JobEnd::default() },
            ),
        },
    };
    pump.abort();
    if let Some(e) = &end.error {
        sinks.note(&format!("[ctrl] {e}"));
    }
    let end = reports.end(end);
    // Ended when its work ended: the slot is free from here, before the store hears of it.
    let ended = Utc::now();
    drop(sinks);
    drop(permit);
    finish(&jobs, id, status, end, ended).await;
}

/// Records the end in the store, through a database outage of up to a minute
/// (a job's end is not lost to a restarting server), then tells every watcher:
/// whoever hears of the end and asks the store finds it there.
async fn finish(jobs: &Jobs, id: i64, status: JobStatus, end: JobEnd, at: chrono::DateTime<Utc>) {
    record(jobs, id, status, &end, at).await;
    tell(jobs, id, status, end, at);
}

async fn record(jobs: &Jobs, id: i64, status: JobStatus, end: &JobEnd, at: chrono::DateTime<Utc>) {
    let write = || jobs.store().job_finished(id, status, at, end);
    if let Err(e) = ctrl_store::retry::through_outage(Some(std::time::Duration::from_secs(60)), write).await {
        tracing::error!(job = id, error = %e, "cannot record a job's end");
    }
}

/// The ended job, to every watcher.
fn tell(jobs: &Jobs, id: i64, status: JobStatus, end: JobEnd, at: chrono::DateTime<Utc>) {
    let mut info = match jobs.0.live.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        Some(l) => l.info.clone(),
        None => return,
    };
    info.status = status;
    info.completed_at = Some(at);
    info.exit_code = end.exit_code;
    info.signal = end.signal;
    info.progress = end.progress.or(info.progress);
    info.progress_label = end.progress_label.or(info.progress_label);
    info.result = end.result;
    info.error = end.error;
    jobs.retire(info);
}

fn sinks(jobs: &Jobs, id: i64, follow: broadcast::Sender<Arc<Chunk>>) -> Sinks {
    let spec = LogSpec {
        max_size: ctrl_core::config::ByteSize(OUTPUT_LIMIT),
        keep: 1,
        format: LogFormat::Timestamped,
    };
    let dir = jobs.0.state_dir.join("jobs");
    let sink = |s: Stream| {
        Arc::new(LogSink::new(dir.join(format!("{id}.{}.log", s.as_str())), s, spec, follow.clone()))
    };
    Sinks { stdout: sink(Stream::Stdout), stderr: sink(Stream::Stderr) }
}

/// Publishes progress as it comes (at most ten times a second) and stores it
/// (at most once a second), so a job printing progress in a tight loop costs little.
async fn pump_progress(jobs: Jobs, id: i64, mut rx: watch::Receiver<Option<(f64, Option<String>)>>) {
    let mut stored = tokio::time::Instant::now() - Duration::from_secs(1);
    while rx.changed().await.is_ok() {
        let Some((percent, label)) = rx.borrow_and_update().clone() else { continue };
        jobs.publish(id, |j| {
            j.progress = Some(percent);
            j.progress_label = label.clone();
        });
        if stored.elapsed() >= Duration::from_secs(1) {
            stored = tokio::time::Instant::now();
            if let Err(e) = jobs.store().job_progress(id, percent, label.as_deref()).await {
                tracing::warn!(job = id, error = %e, "cannot record a job's progress");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records the process a job started, for the next daemon if this one is killed.
async fn record_process(jobs: Jobs, id: i64, mut rx: watch::Receiver<Option<(u32, u64)>>) {
    while rx.changed().await.is_ok() {
        let Some((pid, start)) = *rx.borrow_and_update() else { continue };
        if let Err(e) = jobs.store().job_process(id, pid, start).await {
            tracing::warn!(job = id, error = %e, "cannot record a job's process");
        }
    }
}

/// Runs `work` unless the timeout or a cancel comes first.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    mut cancel: watch::Receiver<bool>,
    work: impl Future<Output = T>,
) -> Result<T, Stop> {
    tokio::select! {
        out = work => Ok(out),
        _ = tokio::time::sleep(timeout) => Err(Stop::TimedOut),
        _ = cancel.wait_for(|c| *c) => Err(Stop::Cancelled),
    }
}

/// The status and end of work stopped by `stop`.
pub(crate) fn stopped(stop: Stop) -> (JobStatus, JobEnd) {
    match stop {
        Stop::TimedOut => (
            JobStatus::TimedOut,
            JobEnd { error: Some("stopped at its timeout".into()), ..JobEnd::default() },
        ),
        Stop::Cancelled => {
            (JobStatus::Cancelled, JobEnd { error: Some("cancelled".into()), ..JobEnd::default() })
        }
    }
}

/// A `service` action: the supervisor does the work; the job records it.
async fn control(jobs: &Jobs, service: &str, op: ServiceOp, sinks: &Sinks) -> (JobStatus, JobEnd) {
    let sup = &jobs.0.sup;
    let verb = match op {
        ServiceOp::Start => "start",
        ServiceOp::Stop => "stop",
        ServiceOp::Restart => "restart",
    };
    let done = if service == "*" {
        Ok(match op {
            ServiceOp::Start => sup.start_all().await,
            ServiceOp::Stop => sup.stop_all().await,
            ServiceOp::Restart => sup.restart_all().await,
        })
    } else {
        match op {
            ServiceOp::Start => sup.start_service(service).await,
            ServiceOp::Stop => sup.stop_service(service).await,
            ServiceOp::Restart => sup.restart_service(service).await,
        }
        .map(|s| vec![s])
    };
    match done {
        Ok(list) => {
            let mut result = serde_json::Map::new();
            for s in &list {
                sinks.note(&format!("{verb} {}: {}", s.name, s.status));
                result.insert(s.name.clone(), serde_json::Value::String(s.status.to_string()));
            }
            let end = JobEnd { result: Some(serde_json::Value::Object(result)), ..JobEnd::default() };
            (JobStatus::Succeeded, end)
        }
        Err(e) => failed(&e.to_string()),
    }
}
