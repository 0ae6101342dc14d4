//! Alerts as clients see them.

use chrono::{DateTime, Utc};
use ctrl_core::config::{AlertKind, ChannelFormat};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One alert: a rule firing or resolving for a subject, or a test send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertInfo {
    /// Its id.
    pub id: i64,
    /// When it was raised.
    pub at: DateTime<Utc>,
    /// The rule (or `test`).
    pub rule: String,
    /// What raised it.
    pub kind: AlertKind,
    /// What it is about: a service, an action, `cpu`, `memory` or a mount point.
    pub subject: String,
    /// `firing`, `resolved` or `test`.
    pub state: String,
    /// The text sent.
    pub message: String,
    /// How delivery to each channel went (empty while it is still being tried).
    pub deliveries: Vec<Delivery>,
}

/// Delivery of one alert to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// The channel.
    pub channel: String,
    /// Its format.
    pub format: ChannelFormat,
    /// Whether the webhook accepted it.
    pub ok: bool,
    /// Tries made (retries back off 1 s, 2 s, 4 s).
    pub attempts: u32,
    /// The last HTTP status.
    pub status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A rule as configured, with the subjects it is firing for now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertRuleInfo {
    /// Its name.
    pub name: String,
    /// What raises it.
    pub on: Vec<AlertKind>,
    /// Where it goes.
    pub channels: Vec<String>,
    /// Only these services.
    pub services: Option<Vec<String>>,
    /// Only these actions.
    pub actions: Option<Vec<String>>,
    /// Only these hosts behind this hub.
    pub hosts: Option<Vec<String>>,
    /// Metric threshold, percent.
    pub above: Option<f64>,
    /// How long the metric must stay over, in seconds.
    pub for_s: Option<u64>,
    /// Recovery line, percent.
    pub clear_below: Option<f64>,
    /// Disk rules: the mount point.
    pub mount: Option<String>,
    /// Subjects firing now.
    pub firing: Vec<String>,
}

/// A channel (its URL is a secret and is not shown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelInfo {
    /// Its name.
    pub name: String,
    /// Its format.
    pub format: ChannelFormat,
}

/// The body of `POST /api/alerts/test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestAlert {
    /// The channel to send a test message to.
    pub channel: String,
}
