//! `[alerts]`: where alerts go (`channels`) and what raises them (`rules`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::units::Dur;

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Webhooks, by name.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelSpec>,
    /// Rules, by name.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleSpec>,
}

/// `[alerts.channels.NAME]`: one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// Where to POST (http:// or https://); for ntfy, the topic's URL.
    pub url: String,
    /// The body's shape.
    #[serde(default)]
    pub format: ChannelFormat,
}

/// The shape of a webhook body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelFormat {
    /// The alert object as JSON.
    #[default]
    Json,
    /// Slack incoming webhook: `{"text": …}`.
    Slack,
    /// Discord webhook: `{"content": …}`.
    Discord,
    /// ntfy: the message as the body, title and priority as headers.
    Ntfy,
}

/// What raises an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A service exited on its own with a failure.
    Crash,
    /// A service hit its start limit.
    Fatal,
    /// A service's readiness or liveness probe failed.
    Unhealthy,
    /// A job failed.
    JobFailed,
    /// A job ran past its timeout.
    JobTimedOut,
    /// Host CPU use over a threshold.
    Cpu,
    /// Host memory use over a threshold.
    Memory,
    /// A disk's use over a threshold.
    Disk,
    /// A test send.
    Test,
    /// A host behind this hub lost its link.
    HostOffline,
}

impl AlertKind {
    /// The word used in the config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Crash => "crash",
            AlertKind::Fatal => "fatal",
            AlertKind::Unhealthy => "unhealthy",
            AlertKind::JobFailed => "job_failed",
            AlertKind::JobTimedOut => "job_timed_out",
            AlertKind::Cpu => "cpu",
            AlertKind::Memory => "memory",
            AlertKind::Disk => "disk",
            AlertKind::Test => "test",
            AlertKind::HostOffline => "host_offline",
        }
    }

    /// Whether this is a host threshold.
    pub fn is_metric(self) -> bool {
        matches!(self, AlertKind::Cpu | AlertKind::Memory | AlertKind::Disk)
    }
}

/// `[alerts.rules.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// What raises it: events (`crash`, `fatal`, `unhealthy`, `job_failed`,
    /// `job_timed_out`) or one metric (`cpu`, `memory`, `disk`).
    pub on: Vec<AlertKind>,
    /// The channels it is sent to.
    pub channels: Vec<String>,
    /// Only these services (default: all).
    pub services: Option<Vec<String>>,
    /// Only these actions' jobs (default: all).
    pub actions: Option<Vec<String>>,
    /// Only these hosts behind this hub, for `host_offline` and the alerts hosts
    /// report (default: all).
    pub hosts: Option<Vec<String>>,
    /// A metric rule fires when the value is above this percent…
    pub above: Option<f64>,
    /// …for this long…
    #[serde(rename = "for")]
    pub hold: Option<Dur>,
    /// …and recovers when it is below this percent for as long (default: `above` - 10).
    pub clear_below: Option<f64>,
    /// `disk`: only this mount point (default: any).
    pub mount: Option<String>,
    /// A service alert recovers once the service has run this long without trouble.
    #[serde(default = "default_recover")]
    pub recover_after: Dur,
}

fn default_recover() -> Dur {
    Dur::secs(30)
}
