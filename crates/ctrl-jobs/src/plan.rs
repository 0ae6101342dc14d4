//! From an action and a request to a plan: checked parameters, resolved paths,
//! the argv with every value inside its own element.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ctrl_core::config::{ActionKind, ActionSpec, BackupSource, Limits, ParamValue, Retention, ServiceOp};
use ctrl_core::job::{Arg, Template, check_params};
use ctrl_proto::{ActionInfo, ParamInfo};

use crate::error::JobError;
use crate::paths::resolve_inside;

/// What a job will do, decided before it is queued.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Run a process.
    Command(Exec),
    /// Control a service (`*`: all).
    Service {
        /// The service, or `*`.
        service: String,
        /// What to do.
        op: ServiceOp,
    },
    /// Make a backup into `backups/<target>/`.
    Backup {
        /// The target folder's name.
        target: String,
        /// What to back up.
        source: BackupSource,
        /// The extension of a dump command's output.
        ext: String,
        /// What to remove after a success.
        retention: Retention,
        /// The dump command's working directory and environment.
        cwd: PathBuf,
        /// Extra environment of the dump command.
        env: BTreeMap<String, String>,
        /// Who the dump command runs as.
        account: Account,
    },
    /// Restore the backup `file` of `target`.
    Restore {
        /// The target folder's name.
        target: String,
        /// The backup's file name.
        file: String,
        /// Unpack an archive into this folder…
        into: Option<PathBuf>,
        /// …or feed the file to this command's standard input.
        command: Option<Exec>,
    },
    /// Run a task registered by a feature (`kb_scan`).
    Task(&'static str),
}

/// A process to run.
#[derive(Debug, Clone)]
pub struct Exec {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Who it runs as, with which limits.
    pub account: Account,
}

/// The user, group and resource limits an action's command runs with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// The user (the daemon's own when `None`).
    pub user: Option<String>,
    /// The group (the user's own when `None`).
    pub group: Option<String>,
    /// Resource limits.
    pub limits: Limits,
}

impl Account {
    /// The action's `user`, `group` and `limits`.
    pub fn of(spec: &ActionSpec) -> Account {
        Account { user: spec.user.clone(), group: spec.group.clone(), limits: spec.limits }
    }
}

/// The plan of one run, and the parameters as they are recorded.
pub struct Planned {
    /// What to do.
    pub plan: Plan,
    /// The checked values (defaults included).
    pub params: BTreeMap<String, ParamValue>,
    /// The action's time limit.
    pub timeout: Duration,
}

/// Checks `given` against `spec` and builds the plan.
pub fn plan(
    name: &str,
    spec: &ActionSpec,
    given: &BTreeMap<String, ParamValue>,
) -> Result<Planned, JobError> {
    let cwd = spec.cwd.clone().unwrap_or_else(|| PathBuf::from("."));
    let timeout = spec.timeout.0;
    if spec.kind == ActionKind::Restore {
        return restore(name, spec, given, cwd, timeout);
    }
    let checked = check_params(&spec.params, given).map_err(JobError::Invalid)?;
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    for (k, arg) in &checked {
        match arg {
            Arg::Text(t) => {
                values.insert(k.clone(), t.clone());
            }
            Arg::Path { root, rel } => match resolve_inside(root, rel) {
                Ok(p) => {
                    values.insert(k.clone(), p.to_string_lossy().into_owned());
                }
                Err(e) => problems.push(format!("{k}: {e}")),
            },
        }
    }
    if !problems.is_empty() {
        return Err(JobError::Invalid(problems));
    }
    let recorded = checked
        .iter()
        .map(|(k, a)| {
            let v = match a {
                Arg::Text(t) => given
                    .get(k)
                    .or_else(|| spec.params.get(k).and_then(|p| p.default.as_ref()))
                    .cloned()
                    .unwrap_or_else(|| ParamValue::Text(t.clone())),
                Arg::Path { rel, .. } => ParamValue::Text(rel.to_string_lossy().into_owned()),
            };
            (k.clone(), v)
        })
        .collect();
    let plan = match spec.kind {
        ActionKind::Command => {
            let argv = spec.command.as_ref().and_then(|c| c.argv()).unwrap_or_default();
            let template = Template::parse(&argv).map_err(JobError::invalid)?;
            Plan::Command(Exec {
                argv: template.render(&values),
                cwd,
                env: spec.env.clone(),
                account: Account::of(spec),
            })
        }
        ActionKind::Service => Plan::Service {
            service: spec.service.clone().unwrap_or_else(|| "*".into()),
            op: spec.operation.unwrap_or(ServiceOp::Restart),
        },
        ActionKind::Backup | ActionKind::Restore => Plan::Backup {
            target: spec.target.clone().unwrap_or_default(),
            source: spec.source.clone().unwrap_or(BackupSource { path: None, command: None }),
            ext: spec.ext.clone().unwrap_or_else(|| "dump".into()),
            retention: spec.retention.unwrap_or_default(),
            cwd,
            env: spec.env.clone(),
            account: Account::of(spec),
        },
        ActionKind::KbScan => Plan::Task(ActionKind::KbScan.as_str()),
    };
    Ok(Planned { plan, params: recorded, timeout })
}

/// A restore takes one parameter, `file`: a backup of its target, checked by name.
fn restore(
    name: &str,
    spec: &ActionSpec,
    given: &BTreeMap<String, ParamValue>,
    cwd: PathBuf,
    timeout: Duration,
) -> Result<Planned, JobError> {
    let unknown: Vec<String> =
        given.keys().filter(|k| *k != "file").map(|k| format!("{k}: a restore takes only 'file'")).collect();
    if !unknown.is_empty() {
        return Err(JobError::Invalid(unknown));
    }
    let file = match given.get("file") {
        Some(ParamValue::Text(f)) => f.clone(),
        Some(_) => return Err(JobError::invalid("file: must be a backup's file name")),
        None => return Err(JobError::invalid(format!("file: required (the backup of '{name}' to restore)"))),
    };
    crate::backup::check_file_name(&file).map_err(|e| JobError::invalid(format!("file: {e}")))?;
    let command = spec.command.as_ref().map(|c| Exec {
        argv: c.argv().unwrap_or_default(),
        cwd,
        env: spec.env.clone(),
        account: Account::of(spec),
    });
    let mut params = BTreeMap::new();
    params.insert("file".to_string(), ParamValue::Text(file.clone()));
    Ok(Planned {
        plan: Plan::Restore {
            target: spec.target.clone().unwrap_or_default(),
            file,
            into: spec.into.clone(),
            command,
        },
        params,
        timeout,
    })
}

/// An action as the API lists it (no internal paths).
pub fn info(name: &str, spec: &ActionSpec) -> ActionInfo {
    let mut params: Vec<ParamInfo> = spec
        .params
        .iter()
        .map(|(n, p)| ParamInfo {
            name: n.clone(),
            kind: p.kind,
            description: p.description.clone(),
            pattern: p.pattern.clone(),
            values: p.values.clone(),
            min: p.min,
            max: p.max,
            default: p.default.clone(),
            required: p.default.is_none(),
        })
        .collect();
    if spec.kind == ActionKind::Restore {
        params.push(ParamInfo {
            name: "file".into(),
            kind: ctrl_core::config::ParamType::String,
            description: Some("the backup to restore (a file name from /api/backups/{target})".into()),
            pattern: None,
            values: None,
            min: None,
            max: None,
            default: None,
            required: true,
        });
    }
    ActionInfo {
        name: name.to_owned(),
        kind: spec.kind,
        description: spec.description.clone(),
        command: spec.command.as_ref().map(|c| c.display()),
        role: spec.role,
        confirm: spec.confirm || spec.kind == ActionKind::Restore,
        timeout_s: spec.timeout.0.as_secs(),
        concurrency: spec.concurrency,
        target: spec.target.clone(),
        params,
    }
}
