//! Work done inside the daemon, run as a job: a feature registers a kind of
//! task (the knowledge base's `kb_scan`) and every run of it is a job like an
//! action's: queued, recorded, with progress, a result, a timeout and a cancel.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

use crate::exec::Reports;

/// What a run of a task comes to: its result, or why it failed.
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>>;

/// A kind of task: given its run's handle, the work.
pub type Task = Arc<dyn Fn(TaskRun) -> TaskFuture + Send + Sync>;

/// One run's hold on its job: report progress, see a cancel.
/// The job ends when the task's future does (or at a timeout or cancel, when
/// the future is dropped).
#[derive(Clone)]
pub struct TaskRun {
    pub(crate) reports: Arc<Reports>,
    pub(crate) cancel: watch::Receiver<bool>,
}

impl TaskRun {
    /// `done` of `total` steps: the job's progress and its `done/total` label.
    pub fn progress(&self, done: u64, total: u64) {
        let percent = if total == 0 { 100.0 } else { (done as f64 * 100.0 / total as f64).min(100.0) };
        self.reports.progress.send_replace(Some((percent, Some(format!("{done}/{total}")))));
    }

    /// Whether the job was cancelled (the future is dropped soon after; a task
    /// checks this between steps to stop at a clean point).
    pub fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }
}
