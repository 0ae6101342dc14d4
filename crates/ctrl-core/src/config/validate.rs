//! Whole-config checks that serde cannot express: names, references, cycles, ranges.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use super::Config;
use super::service::{Command, Probe, ServiceSpec};

/// One validation problem: the key path it is about and what is wrong.
pub struct Problem {
    pub key: Vec<String>,
    pub message: String,
}

pub(super) fn problem(key: &[&str], message: impl Into<String>) -> Problem {
    Problem { key: key.iter().map(|s| s.to_string()).collect(), message: message.into() }
}

/// Every problem in `config`, in file order as far as practical.
pub fn validate(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    if config.server.listen.parse::<SocketAddr>().is_err() {
        out.push(problem(
            &["server", "listen"],
            format!("'{}' is not an address; write it like \"127.0.0.1:8080\"", config.server.listen),
        ));
    }
    for origin in &config.server.cors_origins {
        if let Err(why) = check_origin(origin) {
            out.push(problem(&["server", "cors_origins"], why));
        }
    }
    if let Some(a) = &config.server.advertise
        && let Err(why) = check_origin(a)
    {
        out.push(problem(&["server", "advertise"], why.replace("is not an origin", "is not an address")));
    }
    if config.storage.shared {
        shared(config, &mut out);
    }
    let [lo, hi] = config.monitor.port_range;
    if lo > hi {
        out.push(problem(&["monitor", "port_range"], format!("start {lo} is above end {hi}")));
    }
    for (name, spec) in &config.services {
        service(name, spec, &config.services, &mut out);
    }
    super::check_actions::check(config, &mut out);
    if let Some(k) = &config.knowledge {
        super::knowledge::check(k, &mut out);
    }
    if let Some(l) = &config.llm {
        super::llm::check(l, &mut out);
    }
    if let Some(a) = &config.agent {
        if config.llm.is_none() {
            out.push(problem(
                &["agent"],
                "agent sessions reach their model through the gateway: add an [llm] section",
            ));
        }
        super::agent::check(a, &config.actions, &mut out);
    }
    super::agent::check_vnc(&config.vnc, &mut out);
    if let Some(h) = &config.hub {
        super::hub::check(h, &mut out);
    }
    if let Some(cycle) = find_cycle(&config.services) {
        let first = cycle[0].clone();
        out.push(problem(
            &["services", &first, "depends_on"],
            format!("dependency cycle: {}", cycle.join(" -> ")),
        ));
    }
    out
}

/// Hubs sharing a database hold nothing that the database's tables could not
/// tell apart from another hub's: no services, jobs, schedules, notes, keys or
/// sessions of their own.
fn shared(config: &Config, out: &mut Vec<Problem>) {
    // No URL here may mean CTRL_DATABASE_URL gives it: the daemon checks that one.
    if let Some(url) = &config.storage.url
        && !url.starts_with("postgres://")
        && !url.starts_with("postgresql://")
    {
        out.push(problem(&["storage", "shared"], "only a PostgreSQL database can be shared"));
    }
    let own = [
        ("services", !config.services.is_empty()),
        ("actions", !config.actions.is_empty()),
        ("schedules", !config.schedules.is_empty()),
        ("knowledge", config.knowledge.is_some()),
        ("llm", config.llm.is_some()),
        ("agent", config.agent.is_some()),
    ];
    for (section, present) in own {
        if present {
            out.push(problem(
                &[section],
                format!(
                    "a hub that shares its database ([storage] shared) runs no [{section}] of its own: \
                     put them on a host that reports to it"
                ),
            ));
        }
    }
}

/// A CORS origin is `scheme://host[:port]`, nothing more: no wildcard (the API
/// allows credentials, which a wildcard cannot go with), no path.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!("'{origin}' is not an origin ({why}); write it like \"http://localhost:3000\""))
    };
    let Some((scheme, rest)) = origin.split_once("://") else { return bad("no scheme") };
    if scheme != "http" && scheme != "https" {
        return bad("the scheme must be http or https");
    }
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.is_empty() || host.contains(['/', '*', ' ', '?', '#', '@']) || !host.is_ascii() {
        return bad("the host must be a plain name or address, no path or wildcard");
    }
    Ok(())
}

/// A service (action, schedule, backup target) name must be usable as a file name and in a URL path.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn service(name: &str, s: &ServiceSpec, all: &BTreeMap<String, ServiceSpec>, out: &mut Vec<Problem>) {
    let at = |k: &'static str| ["services", name, k];
    if !valid_name(name) {
        out.push(problem(
            &["services", name],
            format!("'{name}' is not a valid service name: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"),
        ));
    }
    match (&s.command, s.shell) {
        (Command::Argv(_), true) => {
            out.push(problem(&at("shell"), "shell = true needs the command as one string, not an array"))
        }
        (cmd, _) => match cmd.argv() {
            None => out.push(problem(&at("command"), "unbalanced quotes in the command string")),
            Some(v) if v.is_empty() || v[0].is_empty() => {
                out.push(problem(&at("command"), "the command is empty"))
            }
            Some(_) => {}
        },
    }
    for key in s.env.keys() {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            out.push(problem(
                &["services", name, "env", key],
                format!("'{key}' is not a valid variable name"),
            ));
        }
    }
    if s.port == Some(0) {
        out.push(problem(&at("port"), "port 0 is not a port; use 1-65535"));
    }
    if s.backoff.initial > s.backoff.max {
        out.push(problem(&at("backoff"), "initial is larger than max"));
    }
    if s.start_limit.burst == 0 {
        out.push(problem(&at("start_limit"), "burst must be at least 1"));
    }
    for dep in s.depends_on.keys() {
        if dep == name {
            out.push(problem(
                &["services", name, "depends_on", dep],
                format!("'{name}' cannot depend on itself"),
            ));
        } else if !all.contains_key(dep) {
            out.push(problem(
                &["services", name, "depends_on", dep],
                format!("unknown service '{dep}'; defined services: {}", names(all)),
            ));
        }
    }
    for (kind, probe) in [("readiness", &s.readiness), ("liveness", &s.liveness)] {
        if let Some(p) = probe {
            check_probe(&at(kind), p, out);
        }
    }
    super::run_as::check(&["services", name], s.user.as_deref(), s.group.as_deref(), &s.limits, out);
}

fn names(all: &BTreeMap<String, ServiceSpec>) -> String {
    all.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

fn check_probe(at: &[&str], p: &Probe, out: &mut Vec<Problem>) {
    let kinds = [p.http.is_some(), p.tcp.is_some(), p.exec.is_some()].iter().filter(|b| **b).count();
    if kinds != 1 {
        out.push(problem(at, "a probe needs exactly one of http, tcp or exec"));
    }
    if let Some(u) = &p.http
        && !u.starts_with("http://")
    {
        out.push(problem(&[at, &["http"]].concat(), format!("'{u}' must be an http:// URL")));
    }
    if let Some(a) = &p.tcp
        && a.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none()
    {
        out.push(problem(&[at, &["tcp"]].concat(), format!("'{a}' must be host:port")));
    }
    if let Some(e) = &p.exec
        && e.argv().is_none_or(|v| v.is_empty())
    {
        out.push(problem(&[at, &["exec"]].concat(), "the probe command is empty or has unbalanced quotes"));
    }
    if p.failure_threshold == 0 {
        out.push(problem(&[at, &["failure_threshold"]].concat(), "must be at least 1"));
    }
    if p.interval.0.is_zero() || p.timeout.0.is_zero() {
        out.push(problem(at, "interval and timeout must be above zero"));
    }
}

/// The first dependency cycle found, as `a, b, c, a`.
fn find_cycle(all: &BTreeMap<String, ServiceSpec>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        n: &'a str,
        all: &'a BTreeMap<String, ServiceSpec>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        marks.insert(n, Mark::Open);
        stack.push(n);
        for dep in all.get(n).map(|s| s.depends_on.keys()).into_iter().flatten() {
            let Some((dep, _)) = all.get_key_value(dep) else {
                continue;
            };
            match marks.get(dep.as_str()).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|s| *s == dep).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(dep.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(dep, all, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(n, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in all.keys() {
        if marks.get(n.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, all, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Services in layers: each layer depends only on earlier ones.
///
/// Start goes layer by layer forwards, stop backwards. Assumes a validated,
/// acyclic config; names that depend on unknown services are placed last.
pub fn dependency_order(services: &BTreeMap<String, ServiceSpec>) -> Vec<Vec<String>> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut layers = Vec::new();
    while placed.len() < services.len() {
        let layer: Vec<String> = services
            .iter()
            .filter(|(n, _)| !placed.contains(n.as_str()))
            .filter(|(_, s)| {
                s.depends_on.keys().all(|d| placed.contains(d.as_str()) || !services.contains_key(d))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if layer.is_empty() {
            layers.push(services.keys().filter(|n| !placed.contains(n.as_str())).cloned().collect());
            break;
        }
        for n in &layer {
            placed.insert(services.get_key_value(n).map(|(k, _)| k.as_str()).unwrap_or(""));
        }
        layers.push(layer);
    }
    layers
}
