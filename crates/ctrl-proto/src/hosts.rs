//! Hosts behind a hub, as the hub's clients see them (`/api/hosts`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether the hub hears from a host now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// Its link is up.
    Online,
    /// It enrolled, but its link is down.
    Offline,
    /// Added on the hub; it has not connected with its enrolment token yet.
    Pending,
}

impl HostStatus {
    /// The word used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Online => "online",
            HostStatus::Offline => "offline",
            HostStatus::Pending => "pending",
        }
    }
}

/// One host known to the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostInfo {
    /// Its name.
    pub name: String,
    /// Whether its link is up.
    pub status: HostStatus,
    /// When the hub last heard from it.
    pub last_seen: Option<DateTime<Utc>>,
    /// Its `ctrl` version.
    pub version: Option<String>,
    /// The IP address its link comes from.
    pub address: Option<String>,
    /// Its latest numbers, when it is online.
    pub stats: Option<HostSummary>,
    /// Its services, when it is online.
    pub services: Option<ServiceCounts>,
    /// CPU percent of its recent samples, oldest first (for a sparkline).
    pub cpu_history: Vec<f32>,
    /// When it was added on the hub.
    pub created_at: DateTime<Utc>,
    /// When it enrolled (pinned its key), if it has.
    pub enrolled_at: Option<DateTime<Utc>>,
}

/// A host's numbers, as the hub lists them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostSummary {
    /// CPU use, all cores.
    pub cpu_percent: f32,
    /// Memory in use.
    pub memory_percent: f32,
    /// The fullest disk.
    pub disk_percent: f32,
}

/// How many of a host's services are in which state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceCounts {
    /// Configured.
    pub total: u32,
    /// Running (or ready).
    pub running: u32,
    /// Failed (backoff spent, or crashed for good).
    pub failed: u32,
}

/// `POST /api/hosts`: a host to enrol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewHost {
    /// Its name: the `[hub] name` it will connect as.
    pub name: String,
    /// How long the enrolment token is good for, like "1h" (default 1 h).
    pub expires: Option<String>,
}

/// The answer to `POST /api/hosts`: the one-time token, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Enrolment {
    /// The host's name.
    pub name: String,
    /// The token for the host's `[hub] enroll_token_file`; the hub keeps only its hash.
    pub enroll_token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Something a host reported through its link, as the hub keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostEvent {
    /// The host.
    pub host: String,
    /// The host's run it came from (a new one each time its daemon starts).
    pub boot: String,
    /// Its number within that run: the host's order.
    pub seq: i64,
    /// When it happened on the host.
    pub at: DateTime<Utc>,
    /// `service` (a state change) or `alert` (an alert fired or resolved).
    pub kind: String,
    /// The service event or alert, as the host's own API shows it.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}
