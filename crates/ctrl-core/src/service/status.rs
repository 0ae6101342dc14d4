//! The states a service can be in, as the API names them.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A service's state (DESIGN.md "Service states").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not running, by request or never started.
    Stopped,
    /// Waiting for dependencies or being spawned.
    Starting,
    /// The process runs; no readiness probe has passed (yet).
    Running,
    /// The process runs and its readiness probe passes.
    Ready,
    /// The process exited (code or signal) and is not running now.
    Exited,
    /// Waiting before an automatic restart.
    Backoff,
    /// Gave up after the start limit; only a manual start clears it.
    Fatal,
    /// Asked to stop; waiting for the process group to go.
    Stopping,
    /// Exited with code 0 and is not to be restarted (a one-shot task).
    Completed,
}

impl Status {
    /// Every state, in lifecycle order.
    pub const ALL: [Status; 9] = [
        Status::Stopped,
        Status::Starting,
        Status::Running,
        Status::Ready,
        Status::Exited,
        Status::Backoff,
        Status::Fatal,
        Status::Stopping,
        Status::Completed,
    ];

    /// The snake_case word used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stopped => "stopped",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Ready => "ready",
            Status::Exited => "exited",
            Status::Backoff => "backoff",
            Status::Fatal => "fatal",
            Status::Stopping => "stopping",
            Status::Completed => "completed",
        }
    }

    /// Parses the API word back.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True while a process exists or is about to: a start now would be a conflict.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Starting | Status::Running | Status::Ready | Status::Stopping)
    }

    /// True when the process is up (running or ready).
    pub fn is_up(self) -> bool {
        matches!(self, Status::Running | Status::Ready)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the probes last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// No probe has answered yet, or the service has no probe.
    #[default]
    Unknown,
    /// The last probe passed.
    Healthy,
    /// Probes are failing.
    Unhealthy,
}

/// What can be seen of a service from outside: its state and the facts that go
/// with it. The machine keeps it current; the runtime publishes it as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// Current state.
    pub status: Status,
    /// Main pid while one exists.
    pub pid: Option<u32>,
    /// Restarts since the daemon started (automatic and requested).
    pub restarts: u32,
    /// Last probe verdict.
    pub health: Health,
    /// Exit code of the last exit.
    pub exit_code: Option<i32>,
    /// Signal of the last exit.
    pub signal: Option<String>,
    /// Reason of the last transition (or what a launch is waiting for).
    pub reason: Option<String>,
    /// When the current process started, while up.
    pub up_since: Option<Instant>,
    /// Who held the port when the last launch was refused for it.
    pub port_holder: Option<PortHolder>,
}

/// The process that holds a service's port (pid and name when this user can see them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    /// The port.
    pub port: u16,
    /// The holder's pid.
    pub pid: Option<u32>,
    /// The holder's process name.
    pub process: Option<String>,
}

impl ServiceView {
    /// A service that never ran.
    pub fn stopped() -> Self {
        ServiceView {
            status: Status::Stopped,
            pid: None,
            restarts: 0,
            health: Health::Unknown,
            exit_code: None,
            signal: None,
            reason: None,
            up_since: None,
            port_holder: None,
        }
    }
}
