//! What a service's actor publishes about itself on every change.

use std::time::Instant;

use chrono::{DateTime, Utc};

use ctrl_core::config::Condition;
use ctrl_core::{Health, Status};

/// The current state of one service, readable by anyone without asking the actor.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// State.
    pub status: Status,
    /// Main pid.
    pub pid: Option<u32>,
    /// Restarts so far.
    pub restarts: u32,
    /// Probe verdict.
    pub health: Health,
    /// Last exit code.
    pub exit_code: Option<i32>,
    /// Last exit signal.
    pub signal: Option<String>,
    /// Why it is in this state (also updated while waiting for dependencies).
    pub reason: Option<String>,
    /// When the current process started.
    pub up_since: Option<Instant>,
    /// Whether the service has a readiness probe (decides what "healthy" means).
    pub has_readiness: bool,
    /// Wall-clock time of the last transition.
    pub updated_at: DateTime<Utc>,
}

impl Snapshot {
    /// A stopped service.
    pub fn stopped(has_readiness: bool) -> Self {
        Snapshot {
            status: Status::Stopped,
            pid: None,
            restarts: 0,
            health: Health::Unknown,
            exit_code: None,
            signal: None,
            reason: None,
            up_since: None,
            has_readiness,
            updated_at: Utc::now(),
        }
    }

    /// Whether a dependent waiting for `cond` may go ahead.
    pub fn satisfies(&self, cond: Condition) -> bool {
        match cond {
            Condition::Started => matches!(self.status, Status::Running | Status::Ready | Status::Completed),
            Condition::Healthy => {
                self.status == Status::Ready || (self.status == Status::Running && !self.has_readiness)
            }
            Condition::Completed => self.status == Status::Completed,
        }
    }
}
