//! API objects whose field names are part of the contract.

use chrono::{DateTime, Utc};
use ctrl_core::{Health, Status};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The `service` object: what a service is doing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// When the daemon read it (absent in raw-format logs).
    pub ts: Option<String>,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text, with invalid UTF-8 replaced.
    pub line: String,
}

/// What a reload did, by service name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReloadReport {
    /// New services, started when autostart.
    pub added: Vec<String>,
    /// Services gone from the config, stopped.
    pub removed: Vec<String>,
    /// Services whose settings changed, restarted.
    pub changed: Vec<String>,
    /// Services left exactly as they were (same process).
    pub unchanged: Vec<String>,
}

/// A message of the live services stream (WS `/api/services/ws`, SSE `/api/services/stream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServiceUpdate {
    /// Every service: sent first, and again after a client fell behind.
    Snapshot(Vec<ServiceInfo>),
    /// One transition, with the service as it is when the message is sent
    /// (already past the transition when several follow each other quickly).
    Event(Box<ServiceChange>),
}

/// A transition and the service it left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceChange {
    /// The transition.
    pub event: ctrl_core::ServiceEvent,
    /// The service when the message was sent.
    pub service: ServiceInfo,
}

/// One server-sent event, as the OpenAPI document describes the items of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SseEvent {
    /// The event name (`log`, `stats`, `snapshot`, `event`).
    pub event: String,
    /// Its JSON text (a `LogLine` for `log`, a `ServiceUpdate` for the services stream).
    pub data: String,
}
