//! What a service's actor publishes about itself on every change.

use chrono::{DateTime, Utc};
use ctrl_core::Status;
use ctrl_core::config::Condition;
use ctrl_core::service::ServiceView;

/// The current state of one service, readable by anyone without asking the actor.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The machine's view: state, pid, restarts, health, last exit, reason (which
    /// also says what a launch is waiting for).
    pub view: ServiceView,
    /// Whether the service has a readiness probe (decides what "healthy" means).
    pub has_readiness: bool,
    /// Wall-clock time of the last transition.
    pub updated_at: DateTime<Utc>,
    /// The process exited and the exit is being taken in (its output read to
    /// the end): whoever waits on a start must not call it up meanwhile.
    pub exiting: bool,
}

impl Snapshot {
    /// A stopped service.
    pub fn stopped(has_readiness: bool) -> Self {
        Snapshot { view: ServiceView::stopped(), has_readiness, updated_at: Utc::now(), exiting: false }
    }

    /// Whether a dependent waiting for `cond` may go ahead.
    pub fn satisfies(&self, cond: Condition) -> bool {
        match (cond, self.view.status) {
            (Condition::Started, s) => matches!(s, Status::Running | Status::Ready | Status::Completed),
            (Condition::Healthy, s) => s == Status::Ready || (s == Status::Running && !self.has_readiness),
            (Condition::Completed, s) => s == Status::Completed,
        }
    }
}
