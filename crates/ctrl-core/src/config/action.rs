//! `[actions.NAME]`: whitelisted commands with typed parameters, and the built-in
//! kinds that control services and make or restore backups.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::run_as::Limits;
use super::service::Command;
use super::units::Dur;
use crate::Role;

/// One action as written in `ctrl.toml`. Fields that belong to other kinds are
/// refused by validation, so a typo'd kind cannot silently ignore half the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// What the action does.
    #[serde(default)]
    pub kind: ActionKind,
    /// One line for the dashboard and `ctrl actions`.
    pub description: Option<String>,
    /// `command`: the argv template; `{param}` is replaced inside its own element only.
    /// `restore`: a command that reads the backup on its standard input.
    pub command: Option<Command>,
    /// Working directory of the command; relative to the config file's folder.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables of the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A run still going after this long is stopped and recorded `timed_out`.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// How many runs of this action may go at once; more wait, queued.
    #[serde(default = "one")]
    pub concurrency: u32,
    /// The least role that may run it.
    #[serde(default = "operator")]
    pub role: Role,
    /// Clients must confirm before running it (`"confirm": true` in the body).
    #[serde(default)]
    pub confirm: bool,
    /// Typed parameters, by name.
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    /// `service`: the service to control, or `"*"` for all of them.
    pub service: Option<String>,
    /// `service`: what to do to it.
    pub operation: Option<ServiceOp>,
    /// `backup`: what to back up.
    pub source: Option<BackupSource>,
    /// `backup` and `restore`: the folder under the backups root (`backups/<target>/`).
    pub target: Option<String>,
    /// `backup`: which old backups are removed after each success.
    pub retention: Option<Retention>,
    /// `backup` with a command source: the file extension of its output (default `dump`).
    pub ext: Option<String>,
    /// `restore` of an archive: the folder it is unpacked into.
    pub into: Option<PathBuf>,
    /// The user its command runs as (ctrl must run as root); by default ctrl's own.
    pub user: Option<String>,
    /// The group its command runs in; by default the user's own.
    pub group: Option<String>,
    /// Resource limits of its command.
    #[serde(default)]
    pub limits: Limits,
}

fn default_timeout() -> Dur {
    Dur::secs(3600)
}
fn one() -> u32 {
    1
}
fn operator() -> Role {
    Role::Operator
}

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Runs a whitelisted command.
    #[default]
    Command,
    /// Starts, stops or restarts a service (or all).
    Service,
    /// Makes a backup: an archive of a folder or a dump command's output.
    Backup,
    /// Restores a backup chosen by its file name (always asks for confirmation).
    Restore,
    /// Scans the knowledge base's folders (needs `[knowledge]`).
    KbScan,
}

impl ActionKind {
    /// The word used in the config, the API and the `job_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Command => "command",
            ActionKind::Service => "service",
            ActionKind::Backup => "backup",
            ActionKind::Restore => "restore",
            ActionKind::KbScan => "kb_scan",
        }
    }
}

/// What a `service` action does to its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOp {
    /// Start it.
    Start,
    /// Stop it.
    Stop,
    /// Restart it.
    Restart,
}

/// Where a backup comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSource {
    /// A file or folder archived as `.tar.zst`; relative to the config file's folder.
    pub path: Option<PathBuf>,
    /// A command whose standard output is the backup (`pg_dump app`).
    pub command: Option<Command>,
}

/// Which backups are kept after a new one succeeds: at most `keep`, none older than `max_age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// How many backups to keep at most (the new one counts).
    pub keep: Option<u32>,
    /// Backups older than this are removed.
    pub max_age: Option<Dur>,
}

/// One typed parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// The parameter's type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// One line for forms and `ctrl actions`.
    pub description: Option<String>,
    /// `string`: a regular expression the whole value must match.
    pub pattern: Option<String>,
    /// `enum`: the allowed values.
    pub values: Option<Vec<String>>,
    /// `int`: the smallest allowed value.
    pub min: Option<i64>,
    /// `int`: the largest allowed value.
    pub max: Option<i64>,
    /// `path`: the folder the value must stay inside; relative to the config file's folder.
    pub root: Option<PathBuf>,
    /// The value used when the request gives none; without one the parameter is required.
    pub default: Option<ParamValue>,
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Free text, optionally matched by `pattern`; never a NUL or other control character.
    String,
    /// One of `values`.
    Enum,
    /// A whole number within `min..=max`.
    Int,
    /// `true` or `false`.
    Bool,
    /// A relative path that must stay inside `root`; substituted as the resolved absolute path.
    Path,
}

/// A parameter's value as written in the config (defaults) or sent by a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Text.
    Text(String),
}

/// `[schedules.NAME]`: an action run at cron times with fixed parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The action to run.
    pub action: String,
    /// 5 or 6 cron fields, or a preset: `daily@02:00`, `weekly@sun 02:00`, `monthly@1 02:00`.
    pub cron: String,
    /// The time zone the cron fields are read in (IANA name; default UTC).
    #[serde(default = "utc")]
    pub timezone: String,
    /// What happens to runs missed while the daemon was down.
    #[serde(default)]
    pub missed: Missed,
    /// The parameters every run gets.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// A disabled schedule keeps its place but does not fire.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn utc() -> String {
    "UTC".into()
}
fn yes() -> bool {
    true
}

/// What happens to runs a schedule missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Forget them; wait for the next time.
    #[default]
    Skip,
    /// Run once at start-up however many were missed.
    RunOnce,
}

impl ParamSpec {
    /// Problems with this parameter's own definition, as (sub-key, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let only = |key: &'static str, set: bool, kind: &str, out: &mut Vec<(&'static str, String)>| {
            if set {
                out.push((key, format!("'{key}' applies only to type \"{kind}\"")));
            }
        };
        only("pattern", self.pattern.is_some() && self.kind != ParamType::String, "string", &mut out);
        only("values", self.values.is_some() && self.kind != ParamType::Enum, "enum", &mut out);
        only("min", self.min.is_some() && self.kind != ParamType::Int, "int", &mut out);
        only("max", self.max.is_some() && self.kind != ParamType::Int, "int", &mut out);
        only("root", self.root.is_some() && self.kind != ParamType::Path, "path", &mut out);
        if let Some(p) = &self.pattern
            && let Err(e) = regex_lite::Regex::new(p)
        {
            out.push(("pattern", format!("not a regular expression: {e}")));
        }
        match self.kind {
            ParamType::Enum if self.values.as_ref().is_none_or(Vec::is_empty) => {
                out.push(("values", "an enum needs a non-empty list of values".into()))
            }
            ParamType::Path if self.root.is_none() => {
                out.push(("root", "a path parameter needs the root it must stay inside".into()))
            }
            ParamType::Int if self.min.zip(self.max).is_some_and(|(a, b)| a > b) => {
                out.push(("min", "min is above max".into()))
            }
            _ => {}
        }
        if let Some(d) = &self.default
            && let Err(e) = crate::job::check_value(self, d)
        {
            out.push(("default", e));
        }
        out
    }
}
