//! Checks of `[actions.*]`, `[schedules.*]` and `[alerts]` that serde cannot express.

use super::AlertKind;
use super::Config;
use super::action::{ActionKind, ActionSpec, ScheduleSpec};
use super::run_as::Limits;
use super::validate::{Problem, problem, valid_name};
use crate::job::{Schedule, Template, check_params};

pub(super) fn check(config: &Config, out: &mut Vec<Problem>) {
    for (name, spec) in &config.actions {
        action(name, spec, config, out);
    }
    for (name, spec) in &config.schedules {
        schedule(name, spec, config, out);
    }
    alerts(config, out);
}

fn alerts(config: &Config, out: &mut Vec<Problem>) {
    let a = &config.alerts;
    for (name, ch) in &a.channels {
        let at = |k: &str| ["alerts", "channels", name, k].map(String::from).to_vec();
        if !valid_name(name) {
            out.push(problem(&["alerts", "channels", name], bad_name("channel", name)));
        }
        if !(ch.url.starts_with("http://") || ch.url.starts_with("https://"))
            || ch.url.contains(char::is_whitespace)
        {
            out.push(Problem {
                key: at("url"),
                // Not echoed: webhook URLs carry secrets, and this message reaches the API and the audit log.
                message: "must be an http:// or https:// URL without spaces".into(),
            });
        }
    }
    for (name, r) in &a.rules {
        let at = |k: &str| ["alerts", "rules", name, k].map(String::from).to_vec();
        let mut push = |k: &str, m: String| out.push(Problem { key: at(k), message: m });
        if !valid_name(name) {
            push("on", bad_name("rule", name));
        }
        let metrics = r.on.iter().filter(|k| k.is_metric()).count();
        if r.on.is_empty() {
            push("on", "name what raises the alert: crash, fatal, unhealthy, job_failed, job_timed_out, host_offline, or one of cpu, memory, disk".into());
        } else if metrics > 0 && r.on.len() > 1 {
            push("on", "a metric rule (cpu, memory, disk) watches one metric and nothing else".into());
        }
        if r.on.contains(&AlertKind::Test) {
            push("on", "'test' is for test sends, not rules".into());
        }
        if r.channels.is_empty() {
            push("channels", "name at least one channel".into());
        }
        for ch in r.channels.iter().filter(|c| !a.channels.contains_key(*c)) {
            let known = a.channels.keys().cloned().collect::<Vec<_>>().join(", ");
            push("channels", format!("unknown channel '{ch}'; defined channels: {known}"));
        }
        if metrics == 1 && r.on.len() == 1 {
            match r.above {
                Some(v) if (0.0..=100.0).contains(&v) => {}
                _ => push("above", "a metric rule needs above = a percent between 0 and 100".into()),
            }
            if r.hold.is_none() {
                push("for", "a metric rule needs for = \"5m\" (how long the value must stay over)".into());
            }
            if let (Some(c), Some(v)) = (r.clear_below, r.above)
                && c >= v
            {
                push("clear_below", "must be below 'above'".into());
            }
            if r.services.is_some() || r.actions.is_some() {
                push("on", "services and actions filter event rules, not metric rules".into());
            }
        } else {
            // A host_offline rule may wait: only hosts offline that long.
            let waits = r.on == [AlertKind::HostOffline];
            for (k, set) in [
                ("above", r.above.is_some()),
                ("for", r.hold.is_some() && !waits),
                ("clear_below", r.clear_below.is_some()),
            ] {
                if set {
                    push(
                        k,
                        format!(
                            "'{k}' applies only to cpu, memory and disk rules (and 'for' to host_offline)"
                        ),
                    );
                }
            }
        }
        if r.mount.is_some() && r.on != [AlertKind::Disk] {
            push("mount", "'mount' applies only to disk rules".into());
        }
        for s in r.services.iter().flatten().filter(|s| !config.services.contains_key(*s)) {
            push("services", format!("unknown service '{s}'"));
        }
        for x in r.actions.iter().flatten().filter(|x| !config.actions.contains_key(*x)) {
            push("actions", format!("unknown action '{x}'"));
        }
    }
}

fn bad_name(what: &str, name: &str) -> String {
    format!(
        "'{name}' is not a valid {what} name: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"
    )
}

fn action(name: &str, a: &ActionSpec, config: &Config, out: &mut Vec<Problem>) {
    let at = |k: &str| vec!["actions".to_string(), name.to_string(), k.to_string()];
    let mut push = |key: Vec<String>, msg: String| out.push(Problem { key, message: msg });
    if !valid_name(name) {
        push(vec!["actions".into(), name.into()], bad_name("action", name));
    }
    let kind = a.kind.as_str();
    // Each kind's own fields; any other set field is a mistake worth naming.
    let fields: [(&str, bool, &[ActionKind]); 8] = [
        ("command", a.command.is_some(), &[ActionKind::Command, ActionKind::Restore]),
        ("service", a.service.is_some(), &[ActionKind::Service]),
        ("operation", a.operation.is_some(), &[ActionKind::Service]),
        ("source", a.source.is_some(), &[ActionKind::Backup]),
        ("target", a.target.is_some(), &[ActionKind::Backup, ActionKind::Restore]),
        ("retention", a.retention.is_some(), &[ActionKind::Backup]),
        ("ext", a.ext.is_some(), &[ActionKind::Backup]),
        ("into", a.into.is_some(), &[ActionKind::Restore]),
    ];
    for (key, set, kinds) in fields {
        if set && !kinds.contains(&a.kind) {
            push(at(key), format!("'{key}' does not apply to kind = \"{kind}\""));
        }
    }
    let required = |key: &str, set: bool, push: &mut dyn FnMut(Vec<String>, String)| {
        if !set {
            push(at(key), format!("kind = \"{kind}\" needs '{key}'"));
        }
    };
    match a.kind {
        ActionKind::Command => {
            required("command", a.command.is_some(), &mut push);
            if let Some(cmd) = &a.command {
                match cmd.argv() {
                    None => push(at("command"), "unbalanced quotes in the command string".into()),
                    Some(v) if v.first().is_none_or(|p| p.is_empty()) => {
                        push(at("command"), "the command is empty".into())
                    }
                    Some(v) => match Template::parse(&v) {
                        Err(e) => push(at("command"), e),
                        Ok(t) => {
                            for p in t.params().into_iter().filter(|p| !a.params.contains_key(*p)) {
                                push(at("command"), format!("'{{{p}}}' names no parameter; add params.{p}"));
                            }
                            if v[0].contains('{') {
                                push(at("command"), "the program itself cannot be a parameter".into());
                            }
                        }
                    },
                }
            }
        }
        ActionKind::Service => {
            required("service", a.service.is_some(), &mut push);
            required("operation", a.operation.is_some(), &mut push);
            if let Some(s) = a.service.as_deref().filter(|s| *s != "*" && !config.services.contains_key(*s)) {
                let known = config.services.keys().cloned().collect::<Vec<_>>().join(", ");
                push(
                    at("service"),
                    format!("unknown service '{s}' (write \"*\" for all); defined services: {known}"),
                );
            }
        }
        ActionKind::Backup => {
            required("target", a.target.is_some(), &mut push);
            match &a.source {
                None => required("source", false, &mut push),
                Some(src) => {
                    if src.path.is_some() == src.command.is_some() {
                        push(
                            at("source"),
                            "a source is either { path = \"…\" } or { command = [\"…\"] }".into(),
                        );
                    }
                    if let Some(c) = &src.command
                        && c.argv().is_none_or(|v| v.first().is_none_or(|p| p.is_empty()))
                    {
                        push(at("source"), "the source command is empty or has unbalanced quotes".into());
                    }
                }
            }
            if let Some(e) = &a.ext
                && (e.is_empty()
                    || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
                    || e.starts_with('.'))
            {
                push(at("ext"), format!("'{e}' is not a file extension like \"sql\" or \"sql.gz\""));
            }
        }
        ActionKind::Restore => {
            required("target", a.target.is_some(), &mut push);
            if a.into.is_some() == a.command.is_some() {
                push(
                    at("into"),
                    "a restore needs either into = \"folder\" (archives) or command = [\"…\"] (fed the file)"
                        .into(),
                );
            }
        }
        ActionKind::KbScan => {
            if config.knowledge.is_none() {
                push(at("kind"), "kind = \"kb_scan\" needs a [knowledge] section".into());
            }
        }
    }
    let runs_command = match a.kind {
        ActionKind::Command | ActionKind::Restore => a.command.is_some(),
        ActionKind::Backup => a.source.as_ref().is_some_and(|s| s.command.is_some()),
        ActionKind::Service | ActionKind::KbScan => false,
    };
    let run_as =
        [("user", a.user.is_some()), ("group", a.group.is_some()), ("limits", a.limits != Limits::default())];
    for (key, _) in run_as.iter().filter(|(_, set)| *set && !runs_command) {
        push(at(key), format!("'{key}' applies only to an action that runs a command"));
    }
    let mut accounts = Vec::new();
    super::run_as::check(&["actions", name], a.user.as_deref(), a.group.as_deref(), &a.limits, &mut accounts);
    for p in accounts {
        push(p.key, p.message);
    }
    if let Some(t) = &a.target
        && !valid_name(t)
    {
        push(at("target"), bad_name("backup target", t));
    }
    if a.kind != ActionKind::Command && !a.params.is_empty() {
        push(at("params"), format!("kind = \"{kind}\" takes no parameters"));
    }
    if a.concurrency == 0 {
        push(at("concurrency"), "must be at least 1".into());
    }
    if a.timeout.0.is_zero() {
        push(at("timeout"), "must be above zero".into());
    }
    for key in a.env.keys().filter(|k| k.is_empty() || k.contains(['=', '\0'])) {
        push(
            vec!["actions".into(), name.into(), "env".into(), key.clone()],
            format!("'{key}' is not a valid variable name"),
        );
    }
    for (pname, p) in &a.params {
        let valid = pname.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && pname.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let key = |k: &str| {
            vec!["actions".to_string(), name.to_string(), "params".into(), pname.clone(), k.to_string()]
        };
        if !valid {
            push(
                key("type")[..4].to_vec(),
                format!("'{pname}' is not a parameter name: use letters, digits and '_'"),
            );
        }
        for (k, msg) in p.problems() {
            push(key(k), msg);
        }
    }
}

fn schedule(name: &str, s: &ScheduleSpec, config: &Config, out: &mut Vec<Problem>) {
    let at = |k: &str| ["schedules", name, k].map(String::from).to_vec();
    if !valid_name(name) {
        out.push(problem(&["schedules", name], bad_name("schedule", name)));
    }
    if let Err(e) = Schedule::parse(&s.cron, &s.timezone) {
        let key = if e.contains("time zone") { "timezone" } else { "cron" };
        out.push(Problem { key: at(key), message: e });
    }
    match config.actions.get(&s.action) {
        None => {
            let known = config.actions.keys().cloned().collect::<Vec<_>>().join(", ");
            out.push(Problem {
                key: at("action"),
                message: format!("unknown action '{}'; defined actions: {known}", s.action),
            });
        }
        Some(a) => {
            if let Err(problems) = check_params(&a.params, &s.params) {
                out.push(Problem { key: at("params"), message: problems.join("; ") });
            }
            if a.kind == ActionKind::Restore {
                out.push(Problem {
                    key: at("action"),
                    message: "a restore cannot be scheduled: it always asks for confirmation".into(),
                });
            }
        }
    }
}
