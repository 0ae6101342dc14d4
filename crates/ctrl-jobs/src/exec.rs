//! Running one job's process: its own process group, output captured like a
//! service's, progress markers read from it, and a stop (timeout or cancel)
//! that reaches every process of the group.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctrl_core::JobStatus;
use ctrl_core::job::{Marker, parse_marker};
use ctrl_store::JobEnd;
use ctrl_supervisor::group::{signal_group, signal_name, wait_group_gone};
use ctrl_supervisor::logs::{LogSink, capture_with};
use nix::sys::signal::Signal;
use tokio::process::Command;
use tokio::sync::watch;

use crate::plan::Exec;

/// After SIGTERM, the group has this long before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What a job reports about itself while it runs.
#[derive(Default)]
pub struct Reports {
    /// The last progress: percent and the steps label.
    pub progress: watch::Sender<Option<(f64, Option<String>)>>,
    /// The last `::result`.
    pub result: Mutex<Option<serde_json::Value>>,
    /// The process the job started (its group's leader) and its start time.
    pub process: watch::Sender<Option<(u32, u64)>>,
}

impl Reports {
    /// Takes in one line of output.
    pub fn line(&self, raw: &[u8]) {
        if !raw.starts_with(b"::") {
            return;
        }
        match parse_marker(&String::from_utf8_lossy(raw)) {
            Some(Marker::Progress { percent, label }) => {
                self.progress.send_replace(Some((percent, label)));
            }
            Some(Marker::Result(v)) => *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(v),
            None => {}
        }
    }

    /// The job's end with what it reported.
    pub fn end(&self, mut end: JobEnd) -> JobEnd {
        if let Some((p, label)) = self.progress.borrow().clone() {
            end.progress = Some(p);
            end.progress_label = label;
        }
        if end.result.is_none() {
            end.result = self.result.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        end
    }
}

/// Why a running job is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A user (or the daemon's shutdown) cancelled it.
    Cancelled,
    /// It ran past its timeout.
    TimedOut,
}

/// The output sinks of one job.
pub struct Sinks {
    /// Standard output.
    pub stdout: Arc<LogSink>,
    /// Standard error.
    pub stderr: Arc<LogSink>,
}

impl Sinks {
    /// Writes a line of the daemon's own about the job (built-in kinds, errors).
    pub fn note(&self, line: &str) {
        self.stdout.write_line(line);
    }
}

/// Where a job's standard input comes from and its output goes, besides the log.
#[derive(Default)]
pub struct Io {
    /// Feed this file to standard input (a restore); otherwise /dev/null.
    pub stdin: Option<PathBuf>,
    /// Write standard output into this file instead of the log (a dump).
    pub stdout: Option<std::fs::File>,
}

/// Runs `exec` to its end, a stop, or `timeout`.
pub async fn run(
    exec: &Exec,
    io: Io,
    job_id: i64,
    timeout: Duration,
    sinks: &Sinks,
    reports: &Arc<Reports>,
    mut cancel: watch::Receiver<bool>,
) -> (JobStatus, JobEnd) {
    let Some((program, args)) = exec.argv.split_first() else {
        return failed("the command is empty");
    };
    if !exec.cwd.is_dir() {
        return failed("the action's working directory does not exist");
    }
    let input = match io.stdin {
        None => Stdio::null(),
        Some(p) => match std::fs::File::open(&p) {
            Ok(f) => Stdio::from(f),
            Err(e) => return failed(&format!("cannot open the backup ({})", e.kind())),
        },
    };
    let mut cmd = Command::new(program);
    // First, so the action's own env wins over the user's HOME and USER.
    let (user, group) = (exec.account.user.as_deref(), exec.account.group.as_deref());
    if let Err(e) =
        ctrl_host::run_as::apply(&mut cmd, user, group, &exec.account.limits.settings(), &exec.cwd)
    {
        return failed(&e);
    }
    cmd.args(args)
        .current_dir(&exec.cwd)
        .envs(&exec.env)
        .env("CTRL_JOB_ID", job_id.to_string())
        // A daemon run under another one's service would pass its name on.
        .env_remove(ctrl_host::children::SERVICE_VAR)
        .stdin(input)
        .stdout(io.stdout.map(Stdio::from).unwrap_or_else(Stdio::piped))
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match ctrl_host::children::spawn_noted(|| cmd.spawn(), tokio::process::Child::id) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return failed(&format!("command '{program}' was not found"));
        }
        Err(e) => return failed(&format!("cannot start '{program}': {e}")),
    };
    let pgid = child.id().unwrap_or(0);
    if let Some(start) = ctrl_host::children::noted_start(pgid) {
        reports.process.send_replace(Some((pgid, start)));
    }
    let mut captures = Vec::new();
    if let Some(out) = child.stdout.take() {
        let r = reports.clone();
        captures.push(tokio::spawn(capture_with(out, sinks.stdout.clone(), move |l| r.line(l))));
    }
    if let Some(err) = child.stderr.take() {
        let r = reports.clone();
        captures.push(tokio::spawn(capture_with(err, sinks.stderr.clone(), move |l| r.line(l))));
    }
    let ended = tokio::select! {
        status = child.wait() => Ok(status),
        _ = tokio::time::sleep(timeout) => Err(Stop::TimedOut),
        _ = cancel.wait_for(|c| *c) => Err(Stop::Cancelled),
    };
    let stop = match ended {
        Ok(status) => {
            // Helpers it left running do not outlive the job.
            stop_group(pgid).await;
            finish_output(captures).await;
            return match status {
                Ok(s) => exited(s),
                Err(e) => failed(&format!("cannot wait for the process: {e}")),
            };
        }
        Err(stop) => stop,
    };
    stop_group(pgid).await;
    // The leader itself, in case it left its group (setsid) and the group signals missed it.
    let _ = child.start_kill();
    let status = child.wait().await.ok();
    finish_output(captures).await;
    let (st, why) = match stop {
        Stop::TimedOut => (
            JobStatus::TimedOut,
            format!("stopped after its timeout of {}", humantime::format_duration(timeout)),
        ),
        Stop::Cancelled => (JobStatus::Cancelled, "cancelled".to_string()),
    };
    let mut end = status.map(|s| exited(s).1).unwrap_or_default();
    end.error = Some(why);
    (st, end)
}

/// SIGTERM to the group, SIGKILL to what is left after `STOP_GRACE`; returns when it is gone.
async fn stop_group(pgid: u32) {
    if pgid == 0 {
        return;
    }
    signal_group(pgid, Signal::SIGTERM);
    let until = tokio::time::Instant::now() + STOP_GRACE;
    if !wait_group_gone(pgid, until).await {
        signal_group(pgid, Signal::SIGKILL);
        wait_group_gone(pgid, tokio::time::Instant::now() + Duration::from_secs(5)).await;
    }
}

/// Waits for the output to be written out; a pipe held open by a process that
/// left the group is given up on after a moment.
async fn finish_output(captures: Vec<tokio::task::JoinHandle<()>>) {
    for c in captures {
        let abort = c.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), c).await.is_err() {
            abort.abort();
        }
    }
}

fn exited(s: std::process::ExitStatus) -> (JobStatus, JobEnd) {
    use std::os::unix::process::ExitStatusExt;
    let end = JobEnd { exit_code: s.code(), signal: s.signal().map(signal_name), ..JobEnd::default() };
    (if s.success() { JobStatus::Succeeded } else { JobStatus::Failed }, end)
}

/// A job that failed before or around its process, with why.
pub fn failed(why: &str) -> (JobStatus, JobEnd) {
    (JobStatus::Failed, JobEnd { error: Some(why.to_owned()), ..JobEnd::default() })
}
