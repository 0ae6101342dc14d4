//! `user`, `group` and `limits` of a service or an action: who its process runs
//! as and the resource limits it gets, checked against the machine it runs on.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::validate::{Problem, problem};
use super::{Config, ConfigErrors};

/// `limits = { nofile = 65536, nproc = 512, core = 0 }`: soft and hard limits set
/// through setrlimit before exec. Absent keys keep what the daemon has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Open files (RLIMIT_NOFILE).
    pub nofile: Option<Limit>,
    /// Processes of the user (RLIMIT_NPROC).
    pub nproc: Option<Limit>,
    /// Core dump size in bytes; 0 turns core dumps off (RLIMIT_CORE).
    pub core: Option<Limit>,
}

impl Limits {
    /// The limits that are set, by their config name; `None` is unlimited.
    pub fn settings(&self) -> Vec<(&'static str, Option<u64>)> {
        [("nofile", self.nofile), ("nproc", self.nproc), ("core", self.core)]
            .into_iter()
            .filter_map(|(k, v)| {
                v.map(|v| match v {
                    Limit::Value(n) => (k, Some(n)),
                    Limit::Unlimited => (k, None),
                })
            })
            .collect()
    }
}

/// One limit: a number, or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Limit {
    /// At most this many.
    Value(u64),
    /// No limit (RLIM_INFINITY).
    #[serde(serialize_with = "unlimited")]
    Unlimited,
}

fn unlimited<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("unlimited")
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of at least 0, or \"unlimited\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Limit, E> {
                u64::try_from(v).map(Limit::Value).map_err(|_| E::custom("a limit cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit::Value(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Limit, E> {
                if v == "unlimited" {
                    Ok(Limit::Unlimited)
                } else {
                    Err(E::custom(format!("'{v}' is not a limit: write a number or \"unlimited\"")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// What a config is checked against on the machine that runs it: whether the
/// daemon may change user, and which users and groups exist. Passed in, so the
/// checks stay plain functions of their input.
pub trait Machine {
    /// The daemon runs as root, so it may start processes as other users.
    fn is_root(&self) -> bool;
    /// `name` is a user here (a name in the user database, or a numeric uid).
    fn has_user(&self, name: &str) -> bool;
    /// `name` is a group here (a name in the group database, or a numeric gid).
    fn has_group(&self, name: &str) -> bool;
}

/// Parses `text` as [`super::parse`] does, then checks every `user` and `group`
/// against `machine`; the problems name file, line and column as the others do.
pub fn parse_on(
    path: &std::path::Path,
    text: &str,
    machine: &dyn Machine,
) -> Result<super::Config, ConfigErrors> {
    let config = super::parse(path, text)?;
    let problems = check_machine(&config, machine);
    if problems.is_empty() {
        return Ok(config);
    }
    let file = path.display().to_string();
    Err(ConfigErrors(
        problems.into_iter().map(|p| super::locate::from_path(&file, text, &p.key, p.message)).collect(),
    ))
}

/// The plain checks of one table's `user`, `group` and `limits` (`at` is its key path).
pub(super) fn check(
    at: &[&str],
    user: Option<&str>,
    group: Option<&str>,
    limits: &Limits,
    out: &mut Vec<Problem>,
) {
    let key = |k: &'static str| at.iter().copied().chain([k]).collect::<Vec<_>>();
    for (k, v) in [("user", user), ("group", group)] {
        if let Some(v) = v
            && !valid_account(v)
        {
            out.push(problem(&key(k), format!("'{v}' is not a {k} name or a numeric id")));
        }
    }
    if group.is_some() && user.is_none() {
        out.push(problem(&key("group"), "'group' needs 'user': the process runs as that user in this group"));
    }
    if limits.nofile == Some(Limit::Unlimited) {
        out.push(problem(
            &key("limits"),
            "nofile cannot be \"unlimited\": Linux caps open files (fs.nr_open); give a number such as 65536",
        ));
    }
}

/// Names as useradd accepts them (letters, digits, `_`, `-`, `.`, a final `$`), or a number.
fn valid_account(s: &str) -> bool {
    let body = s.strip_suffix('$').unwrap_or(s);
    !body.is_empty()
        && s.len() <= 32
        && !body.starts_with('-')
        && body.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Every `user` and `group` of services and actions, checked against `machine`.
fn check_machine(config: &Config, machine: &dyn Machine) -> Vec<Problem> {
    let tables = config
        .services
        .iter()
        .map(|(n, s)| (["services", n.as_str()], s.user.as_deref(), s.group.as_deref()))
        .chain(
            config
                .actions
                .iter()
                .map(|(n, a)| (["actions", n.as_str()], a.user.as_deref(), a.group.as_deref())),
        );
    let mut out = Vec::new();
    for (at, user, group) in tables {
        let key = |k: &'static str| [at[0], at[1], k];
        if let Some(u) = user {
            if !machine.is_root() {
                out.push(problem(
                    &key("user"),
                    format!(
                        "runs as '{u}', which needs ctrl to run as root; remove 'user' or start ctrl as root"
                    ),
                ));
            } else if !machine.has_user(u) {
                out.push(problem(&key("user"), format!("unknown user '{u}' on this machine")));
            }
        }
        if let Some(g) = group
            && machine.is_root()
            && !machine.has_group(g)
        {
            out.push(problem(&key("group"), format!("unknown group '{g}' on this machine")));
        }
    }
    out
}
