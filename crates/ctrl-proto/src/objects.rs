//! API objects whose field names are part of the contract.

use chrono::{DateTime, Utc};
use ctrl_core::{Health, Status};
use serde::{Deserialize, Serialize};

/// The `service` object: what a service is doing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Name from the config.
    pub name: String,
    /// Current state.
    pub status: Status,
    /// Main pid while one exists.
    pub pid: Option<u32>,
    /// Configured port.
    pub port: Option<u16>,
    /// The command line.
    pub command: String,
    /// Restarts since the daemon started.
    pub restarts: u32,
    /// Seconds the current process has been up.
    pub uptime_s: Option<u64>,
    /// Probe verdict.
    pub health: Health,
    /// Exit code of the last exit.
    pub exit_code: Option<i32>,
    /// Signal of the last exit.
    pub signal: Option<String>,
    /// Why it is in this state.
    pub reason: Option<String>,
    /// CPU of the process tree, in % of one core (filled by host monitoring).
    pub cpu_percent: Option<f32>,
    /// Resident memory of the process tree (filled by host monitoring).
    pub memory_bytes: Option<u64>,
    /// When the service first appeared in this state dir.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

/// One captured line of output: `{ts, stream, line}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the daemon read it (absent in raw-format logs).
    pub ts: Option<String>,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text, with invalid UTF-8 replaced.
    pub line: String,
}
