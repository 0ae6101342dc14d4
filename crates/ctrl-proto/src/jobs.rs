//! Actions, jobs, schedules and backups as clients see them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ctrl_core::config::{ActionKind, Missed, ParamType, ParamValue};
use ctrl_core::{JobStatus, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A whitelisted action and the form of its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionInfo {
    /// Its name, as in `POST /api/actions/{name}`.
    pub name: String,
    /// What it does.
    pub kind: ActionKind,
    /// One line about it.
    pub description: Option<String>,
    /// The command template (kind `command`), for display.
    pub command: Option<String>,
    /// The least role that may run it.
    pub role: Role,
    /// Whether clients must send `"confirm": true`.
    pub confirm: bool,
    /// Seconds after which a run is stopped as timed out.
    pub timeout_s: u64,
    /// Runs allowed at once.
    pub concurrency: u32,
    /// The backup target (kinds `backup` and `restore`).
    pub target: Option<String>,
    /// Its parameters, in name order.
    pub params: Vec<ParamInfo>,
}

/// One parameter's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParamInfo {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// One line about it.
    pub description: Option<String>,
    /// `string`: the pattern the whole value must match.
    pub pattern: Option<String>,
    /// `enum`: the allowed values.
    pub values: Option<Vec<String>>,
    /// `int`: the smallest value.
    pub min: Option<i64>,
    /// `int`: the largest value.
    pub max: Option<i64>,
    /// The value used when none is given.
    pub default: Option<ParamValue>,
    /// Whether a value must be given (no default).
    pub required: bool,
}

/// The body of `POST /api/actions/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunAction {
    /// Parameter values by name.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Must be true for actions that ask for confirmation.
    #[serde(default)]
    pub confirm: bool,
}

/// One run of an action (the seed's `job_history` row and more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobInfo {
    /// Its id.
    pub id: i64,
    /// The kind of work: `command`, `service`, `backup`, `restore` (later `index`).
    pub job_type: String,
    /// The action it runs.
    pub action: Option<String>,
    /// The checked parameter values it ran with.
    pub params: BTreeMap<String, ParamValue>,
    /// Where it is.
    pub status: JobStatus,
    /// Who or what started it: `user:NAME`, `token:NAME`, `schedule:NAME`, `local`.
    pub triggered_by: String,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// The process's exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended the process.
    pub signal: Option<String>,
    /// The last progress it reported, in percent.
    pub progress: Option<f64>,
    /// The last progress as steps (`3/10`), when it counted steps.
    pub progress_label: Option<String>,
    /// The summary it reported with `::result {json}` (or the built-in kinds' own).
    pub result: Option<serde_json::Value>,
    /// Why it failed, when it did not get as far as an exit code.
    pub error: Option<String>,
}

/// A message of the live jobs stream (WS `/api/jobs/ws`, SSE `/api/jobs/stream`):
/// a job whenever its state or progress changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum JobUpdate {
    /// The job as it is now.
    Job(Box<JobInfo>),
    /// One line of its output (on the per-job streams).
    Log(crate::LogLine),
}

/// A schedule with its next run times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleInfo {
    /// Its name.
    pub name: String,
    /// The action it runs.
    pub action: String,
    /// The cron expression or preset, as written.
    pub cron: String,
    /// The cron fields in force (a preset expanded).
    pub expression: String,
    /// The time zone the fields are read in.
    pub timezone: String,
    /// What happens to runs missed while the daemon was down.
    pub missed: Missed,
    /// The parameters every run gets.
    pub params: BTreeMap<String, ParamValue>,
    /// Whether it fires.
    pub enabled: bool,
    /// `config` (from `ctrl.toml`; change it there) or `api`.
    pub source: String,
    /// The next five times it fires (none when disabled).
    pub next_runs: Vec<DateTime<Utc>>,
    /// When it last fired.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The job it last started.
    pub last_job_id: Option<i64>,
}

/// The body of `POST /api/schedules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// Its name (letters, digits, `-_.`).
    pub name: String,
    /// The action to run.
    pub action: String,
    /// 5 or 6 cron fields, or a preset (`daily@02:00`, `weekly@sun 02:00`, `monthly@1 02:00`).
    pub cron: String,
    /// IANA time zone (default `UTC`).
    pub timezone: Option<String>,
    /// `skip` (default) or `run_once`.
    pub missed: Option<Missed>,
    /// Fixed parameters.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Whether it fires (default true).
    pub enabled: Option<bool>,
}

/// The body of `PATCH /api/schedules/{name}`: the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleChange {
    /// Turn it on or off.
    pub enabled: Option<bool>,
    /// A new time: 5 or 6 cron fields, or a preset.
    pub cron: Option<String>,
    /// A new time zone.
    pub timezone: Option<String>,
    /// A new missed-run policy.
    pub missed: Option<Missed>,
    /// New fixed parameters (replacing the old ones).
    pub params: Option<BTreeMap<String, ParamValue>>,
}

/// A backup target: the folder `backups/<target>/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupTarget {
    /// Its name.
    pub target: String,
    /// How many backups it holds.
    pub count: u32,
    /// Their total size.
    pub total_bytes: u64,
    /// When the newest was made.
    pub latest: Option<DateTime<Utc>>,
}

/// One backup file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupFile {
    /// The file name, as in `/api/backups/{target}/{file}`.
    pub name: String,
    /// Its size.
    pub size_bytes: u64,
    /// When it was made (from its name).
    pub created_at: DateTime<Utc>,
    /// The SHA-256 written beside it.
    pub sha256: Option<String>,
}
