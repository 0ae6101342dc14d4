//! The job runner's handle: submit, watch, cancel and read jobs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ctrl_core::config::ActionSpec;
use ctrl_core::{Config, JobStatus};
use ctrl_proto::{ActionInfo, JobInfo, LogLine, LogStream, RunAction};
use ctrl_store::{JobFilter, Store};
use ctrl_supervisor::Supervisor;
use ctrl_supervisor::logs::{Chunk, last_lines_of};
use tokio::sync::{Semaphore, broadcast, watch};

use crate::error::JobError;
use crate::plan::{self, Plan, Planned};
use crate::task::Task;

/// Lines of a job's output readable at once.
pub const MAX_LOG_LINES: usize = 100_000;

/// Runs of one action that may wait at once; more are refused (409), so a
/// runaway client cannot grow the queue without bound.
pub const MAX_QUEUED: usize = 10_000;

/// A job that has not ended: how to stop it, its live output, and its state now.
pub(crate) struct Live {
    pub cancel: watch::Sender<bool>,
    pub follow: broadcast::Sender<Arc<Chunk>>,
    pub info: JobInfo,
}

pub(crate) struct Inner {
    pub store: Store,
    pub sup: Supervisor,
    pub state_dir: PathBuf,
    pub backups_dir: PathBuf,
    pub actions: RwLock<BTreeMap<String, ActionSpec>>,
    pub live: Mutex<HashMap<i64, Live>>,
    slots: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
    pub updates: broadcast::Sender<JobInfo>,
    /// In-process work by kind, registered by features.
    tasks: RwLock<HashMap<&'static str, Task>>,
    /// Wakes the scheduler when schedules change.
    pub wake: tokio::sync::Notify,
    closing: AtomicBool,
}

/// Where a job queues: its kind, its action, the slot that limits runs at once.
struct Queue<'a> {
    job_type: &'a str,
    action: Option<&'a str>,
    slot: &'a str,
    concurrency: u32,
}

/// The job runner: every action run is a job, persisted in `job_history`,
/// observable while it runs and afterwards. Cheap to clone.
#[derive(Clone)]
pub struct Jobs(pub(crate) Arc<Inner>);

impl Jobs {
    /// A runner for `config`'s actions. Jobs a previous daemon left unfinished are
    /// recorded as cancelled; the processes of those it left running (it was
    /// killed), recognised by pid and start time, are stopped with their groups.
    pub async fn new(config: &Config, store: Store, sup: Supervisor) -> Result<Jobs, JobError> {
        for (id, pid, start) in store.running_job_processes().await? {
            let left =
                ctrl_host::process_identity(pid).is_some_and(|p| p.start_ticks == start && p.pgid == pid);
            if !left {
                continue;
            }
            tracing::warn!(job = id, pid, "stopping the processes of a job the previous daemon left running");
            ctrl_supervisor::group::reap_group(
                pid,
                nix::sys::signal::Signal::SIGTERM,
                crate::exec::STOP_GRACE,
            )
            .await;
            let why =
                "cancelled: the daemon was killed while it ran; its processes were stopped at the next start";
            store.end_interrupted_job(id, why).await?;
        }
        let ended = store.end_interrupted_jobs("interrupted: the daemon stopped while it ran").await?;
        if ended > 0 {
            tracing::warn!(jobs = ended, "jobs left unfinished by the previous daemon are marked cancelled");
        }
        let state_dir = config.server.state_dir.clone();
        std::fs::create_dir_all(state_dir.join("jobs")).map_err(|e| JobError::Logs(0, e))?;
        let jobs = Jobs(Arc::new(Inner {
            store,
            sup,
            backups_dir: config.backups.dir.clone().unwrap_or_else(|| state_dir.join("backups")),
            state_dir,
            actions: RwLock::new(config.actions.clone()),
            live: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            updates: broadcast::channel(1024).0,
            tasks: RwLock::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            closing: AtomicBool::new(false),
        }));
        tokio::spawn(jobs.clone().prune_output_daily());
        Ok(jobs)
    }

    /// Removes old job output now and then once a day, for the daemon's life.
    async fn prune_output_daily(self) {
        loop {
            let dir = self.0.state_dir.join("jobs");
            let live: Vec<i64> =
                self.0.live.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
            let now = std::time::SystemTime::now();
            let pruned = tokio::task::spawn_blocking(move || {
                crate::output::prune(&dir, crate::KEEP_OUTPUT, now, &live)
            })
            .await;
            match pruned {
                Ok(Ok(n)) if n > 0 => tracing::info!(files = n, "removed job output older than 30 days"),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune old job output"),
                _ => {}
            }
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        }
    }

    /// Takes the actions of a reloaded config; running jobs go on as they were.
    pub fn set_config(&self, config: &Config) {
        *self.0.actions.write().unwrap_or_else(|p| p.into_inner()) = config.actions.clone();
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The backups root.
    pub fn backups_dir(&self) -> &std::path::Path {
        &self.0.backups_dir
    }

    pub(crate) fn spec(&self, name: &str) -> Result<ActionSpec, JobError> {
        let actions = self.0.actions.read().unwrap_or_else(|p| p.into_inner());
        actions.get(name).cloned().ok_or_else(|| JobError::UnknownAction(name.to_owned()))
    }

    /// Every action with its parameter schema.
    pub fn actions(&self) -> Vec<ActionInfo> {
        let actions = self.0.actions.read().unwrap_or_else(|p| p.into_inner());
        actions.iter().map(|(n, s)| plan::info(n, s)).collect()
    }

    /// One action.
    pub fn action(&self, name: &str) -> Result<ActionInfo, JobError> {
        Ok(plan::info(name, &self.spec(name)?))
    }

    /// Checks a request and queues the job; answers at once with the job (queued or running).
    pub async fn submit(&self, name: &str, req: &RunAction, triggered_by: &str) -> Result<JobInfo, JobError> {
        let spec = self.spec(name)?;
        let info = plan::info(name, &spec);
        if info.confirm && !req.confirm {
            return Err(JobError::NeedsConfirmation(name.to_owned()));
        }
        let planned = plan::plan(name, &spec, &req.params)?;
        self.enqueue_action(name, &spec, planned, triggered_by).await
    }

    /// Queues a job whose request is already checked (schedules skip the confirmation).
    pub(crate) async fn submit_unattended(
        &self,
        name: &str,
        params: &BTreeMap<String, ctrl_core::config::ParamValue>,
        triggered_by: &str,
    ) -> Result<JobInfo, JobError> {
        let spec = self.spec(name)?;
        let planned = plan::plan(name, &spec, params)?;
        self.enqueue_action(name, &spec, planned, triggered_by).await
    }

    /// Registers the work of a kind of task (`kb_scan`): actions of that kind and
    /// [`Jobs::run_task`] run it.
    pub fn register_task(&self, kind: &'static str, task: Task) {
        self.0.tasks.write().unwrap_or_else(|p| p.into_inner()).insert(kind, task);
    }

    pub(crate) fn task(&self, kind: &str) -> Option<Task> {
        self.0.tasks.read().unwrap_or_else(|p| p.into_inner()).get(kind).cloned()
    }

    /// Queues a run of a registered task outside any action (the knowledge
    /// base's scan button): one at a time, within `timeout`.
    pub async fn run_task(
        &self,
        kind: &'static str,
        timeout: Duration,
        triggered_by: &str,
    ) -> Result<JobInfo, JobError> {
        if self.task(kind).is_none() {
            return Err(JobError::UnknownAction(kind.to_owned()));
        }
        // A run already waiting does what another would: answer that one.
        let waiting = self.0.live.lock().unwrap_or_else(|p| p.into_inner()).values().find_map(|l| {
            let i = &l.info;
            (i.status == JobStatus::Queued && i.action.is_none() && i.job_type == kind).then(|| i.clone())
        });
        if let Some(job) = waiting {
            return Ok(job);
        }
        let planned = Planned { plan: Plan::Task(kind), params: BTreeMap::new(), timeout };
        self.enqueue(
            Queue { job_type: kind, action: None, slot: kind, concurrency: 1 },
            planned,
            triggered_by,
        )
        .await
    }

    async fn enqueue_action(
        &self,
        name: &str,
        spec: &ActionSpec,
        planned: Planned,
        triggered_by: &str,
    ) -> Result<JobInfo, JobError> {
        let q = Queue {
            job_type: spec.kind.as_str(),
            action: Some(name),
            slot: name,
            concurrency: spec.concurrency,
        };
        self.enqueue(q, planned, triggered_by).await
    }

    async fn enqueue(&self, q: Queue<'_>, planned: Planned, triggered_by: &str) -> Result<JobInfo, JobError> {
        let name = q.slot;
        if self.0.closing.load(Ordering::SeqCst) {
            return Err(JobError::ShuttingDown);
        }
        let queued = {
            let live = self.0.live.lock().unwrap_or_else(|p| p.into_inner());
            live.values()
                .filter(|l| l.info.status == JobStatus::Queued && l.info.action.as_deref() == q.action)
                .count()
        };
        if queued >= MAX_QUEUED {
            return Err(JobError::Conflict(format!(
                "'{name}' already has {MAX_QUEUED} runs waiting; let them finish or cancel some"
            )));
        }
        let job = self.0.store.add_job(q.job_type, q.action, &planned.params, triggered_by).await?;
        let (cancel, cancel_rx) = watch::channel(false);
        let follow = broadcast::channel(256).0;
        self.0
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id, Live { cancel, follow: follow.clone(), info: job.clone() });
        let _ = self.0.updates.send(job.clone());
        let slot = self.slot(name, q.concurrency);
        tokio::spawn(crate::run::run(self.clone(), job.clone(), planned, slot, cancel_rx, follow));
        Ok(job)
    }

    /// The semaphore that limits runs of one action at once.
    fn slot(&self, name: &str, concurrency: u32) -> Arc<Semaphore> {
        let mut slots = self.0.slots.lock().unwrap_or_else(|p| p.into_inner());
        let entry = slots
            .entry(name.to_owned())
            .or_insert_with(|| (concurrency, Arc::new(Semaphore::new(concurrency as usize))));
        if entry.0 != concurrency {
            *entry = (concurrency, Arc::new(Semaphore::new(concurrency as usize)));
        }
        entry.1.clone()
    }

    /// A job as it is now.
    pub async fn job(&self, id: i64) -> Result<JobInfo, JobError> {
        if let Some(l) = self.0.live.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(l.info.clone());
        }
        self.0.store.job(id).await?.ok_or(JobError::UnknownJob(id))
    }

    /// Jobs matching `filter`, newest first; live ones as they are now.
    pub async fn list(&self, filter: &JobFilter) -> Result<Vec<JobInfo>, JobError> {
        let mut jobs = self.0.store.jobs(filter).await?;
        let live = self.0.live.lock().unwrap_or_else(|p| p.into_inner());
        for j in &mut jobs {
            if let Some(l) = live.get(&j.id) {
                *j = l.info.clone();
            }
        }
        Ok(jobs)
    }

    /// Cancels a queued or running job and waits (a bounded while) until it has ended.
    pub async fn cancel(&self, id: i64) -> Result<JobInfo, JobError> {
        let mut updates = self.0.updates.subscribe();
        let sent = {
            let live = self.0.live.lock().unwrap_or_else(|p| p.into_inner());
            live.get(&id).map(|l| l.cancel.send_replace(true))
        };
        if sent.is_none() {
            let job = self.job(id).await?;
            return Err(JobError::Conflict(format!("job {id} has already ended ({})", job.status)));
        }
        let wait = async {
            loop {
                match updates.recv().await {
                    Ok(j) if j.id == id && j.status.is_final() => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                    _ => {}
                }
            }
        };
        let _ = tokio::time::timeout(crate::exec::STOP_GRACE + Duration::from_secs(10), wait).await;
        self.job(id).await
    }

    /// The last `lines` lines of a job's output.
    pub async fn logs(&self, id: i64, lines: usize, which: LogStream) -> Result<Vec<LogLine>, JobError> {
        self.job(id).await?;
        let dir = self.0.state_dir.join("jobs");
        let read = move || last_lines_of(&dir, &id.to_string(), lines.min(MAX_LOG_LINES), which);
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| JobError::Logs(id, std::io::Error::other(e)))?
            .map_err(|e| JobError::Logs(id, e))
    }

    /// Whether a job is queued or running.
    pub fn is_live(&self, id: i64) -> bool {
        self.0.live.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&id)
    }

    /// Live output of a job from now on; `None` once it has ended.
    pub fn follow(&self, id: i64) -> Option<broadcast::Receiver<Arc<Chunk>>> {
        self.0.live.lock().unwrap_or_else(|p| p.into_inner()).get(&id).map(|l| l.follow.subscribe())
    }

    /// Every job change (queued, running, progress, ended).
    pub fn subscribe(&self) -> broadcast::Receiver<JobInfo> {
        self.0.updates.subscribe()
    }

    /// Refuses new jobs, cancels the live ones and waits (bounded) for them to end.
    pub async fn shutdown(&self) {
        self.0.closing.store(true, Ordering::SeqCst);
        let ids: Vec<i64> = {
            let live = self.0.live.lock().unwrap_or_else(|p| p.into_inner());
            live.values().for_each(|l| {
                l.cancel.send_replace(true);
            });
            live.keys().copied().collect()
        };
        let deadline = tokio::time::Instant::now() + crate::exec::STOP_GRACE + Duration::from_secs(5);
        for id in ids {
            while self.0.live.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&id)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Records a change of a live job and tells every watcher.
    pub(crate) fn publish(&self, id: i64, change: impl FnOnce(&mut JobInfo)) {
        let info = {
            let mut live = self.0.live.lock().unwrap_or_else(|p| p.into_inner());
            let Some(l) = live.get_mut(&id) else { return };
            change(&mut l.info);
            l.info.clone()
        };
        let _ = self.0.updates.send(info);
    }

    /// Forgets a job that ended (its followers' streams end) and announces its end.
    pub(crate) fn retire(&self, info: JobInfo) {
        self.0.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&info.id);
        let _ = self.0.updates.send(info);
    }
}
