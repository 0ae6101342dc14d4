//! The record of one service state transition, as published on the bus and stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::service::Status;

/// One transition of one service: what it was, what it became, and why.
///
/// The field names are part of the API contract (`event` object in DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ServiceEvent {
    /// The service's name from the config.
    pub service: String,
    /// State before the transition.
    pub from: Status,
    /// State after the transition.
    pub to: Status,
    /// Main process id at the time, if there was one.
    pub pid: Option<u32>,
    /// Exit code when the transition was caused by a normal exit.
    pub exit_code: Option<i32>,
    /// Signal name (for example `SIGKILL`) when the process was killed by one.
    pub signal: Option<String>,
    /// Human explanation: what the supervisor saw or did.
    pub reason: Option<String>,
    /// Wall-clock time of the transition.
    pub at: DateTime<Utc>,
}
