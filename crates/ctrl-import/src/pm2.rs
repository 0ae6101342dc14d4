//! A PM2 ecosystem file (its JSON; a `.config.js` is turned into JSON by
//! `node` first): each app becomes a service, `instances` of it become that
//! many, `cron_restart` a restart action on a schedule.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::draft::{Cmd, Draft, ServiceDraft, service_name};
use crate::{ImportError, Source, text};

/// Reads `src` as a PM2 ecosystem (`{"apps": [...]}` or a list of apps).
pub fn convert(src: &Source<'_>) -> Result<Draft, ImportError> {
    let v: Value = serde_json::from_str(src.text).map_err(|e| {
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or(&what).to_string();
        src.syntax_at(e.line(), e.column(), what)
    })?;
    let mut draft = Draft::default();
    let apps: &[Value] = match &v {
        Value::Array(apps) => apps,
        Value::Object(m) => {
            for k in m.keys().filter(|k| *k != "apps") {
                draft
                    .notes
                    .push(format!("pm2: '{k}' section not imported (ctrl runs services, not deployments)"));
            }
            match m.get("apps") {
                Some(Value::Array(apps)) => apps,
                Some(Value::Object(_)) => std::slice::from_ref(&v["apps"]),
                _ => return Err(src.invalid("no 'apps' list: there is nothing to import")),
            }
        }
        _ => return Err(src.invalid("an ecosystem file is an object with an 'apps' list")),
    };
    if apps.is_empty() {
        return Err(src.invalid("the 'apps' list is empty: there is nothing to import"));
    }
    for (i, app) in apps.iter().enumerate() {
        let Value::Object(app) = app else {
            return Err(src.invalid(format!("apps[{i}] is not an object")));
        };
        app_services(src, i, app, &mut draft)?;
    }
    Ok(draft)
}

/// A string of words or a list of them (`args`, `node_args`).
fn words(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => shlex::split(s),
        Value::Array(items) => Some(items.iter().map(text).collect()),
        other => Some(vec![text(other)]),
    }
}

/// Milliseconds as a number, or a duration string ("10s").
fn millis(v: &Value) -> Option<Duration> {
    match v {
        Value::Number(n) => n.as_u64().map(Duration::from_millis),
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => ctrl_core::config::parse_duration(s).ok(),
        },
        _ => None,
    }
}

/// The program PM2 runs a script with, by its extension (`None`: the script itself).
fn interpreter_for(script: &str) -> Option<&'static str> {
    let ext = std::path::Path::new(script).extension()?.to_str()?;
    Some(match ext {
        "js" | "mjs" | "cjs" => "node",
        "sh" => "bash",
        "py" => "python3",
        "rb" => "ruby",
        "php" => "php",
        "pl" => "perl",
        "ts" => "ts-node",
        "coffee" => "coffee",
        _ => return None,
    })
}

fn app_services(
    src: &Source<'_>,
    i: usize,
    app: &Map<String, Value>,
    draft: &mut Draft,
) -> Result<(), ImportError> {
    let bad = |k: &str, why: &str| src.invalid(format!("apps[{i}].{k}: {why}"));
    let script = match app.get("script") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(bad("script", "required: the file or program to run")),
    };
    let name = app.get("name").map(text).unwrap_or_else(|| {
        let base = std::path::Path::new(&script).file_stem().map(|s| s.to_string_lossy().into_owned());
        base.unwrap_or_else(|| format!("app{i}"))
    });
    let interpreter = match app.get("interpreter").or_else(|| app.get("exec_interpreter")) {
        Some(Value::String(s)) if s == "none" => None,
        Some(v) => Some(text(v)),
        None => interpreter_for(&script).map(String::from),
    };
    let mut argv = Vec::new();
    if let Some(int) = interpreter {
        argv.push(int);
        for k in ["interpreter_args", "node_args"] {
            if let Some(v) = app.get(k) {
                argv.extend(words(v).ok_or_else(|| bad(k, "unbalanced quotes"))?);
            }
        }
    }
    argv.push(script);
    if let Some(v) = app.get("args") {
        argv.extend(words(v).ok_or_else(|| bad("args", "unbalanced quotes"))?);
    }
    let mut base = ServiceDraft::new(&name, Cmd::Argv(argv));
    base.cwd = Some(match app.get("cwd") {
        Some(v) => src.path(&text(v)),
        None => src.path("."),
    });
    base.restart = Some("always");
    let mut instances = 1u64;
    let mut cluster = false;
    for (k, v) in app {
        let shown = || format!("pm2: {k} = {}", text(v));
        match k.as_str() {
            "name" | "script" | "args" | "interpreter" | "exec_interpreter" | "interpreter_args" | "node_args"
            | "cwd" => {}
            "env" => match v {
                Value::Object(vars) => base.env.extend(vars.iter().map(|(k, v)| (k.clone(), text(v)))),
                _ => return Err(bad("env", "must be an object of variables")),
            },
            k if k.starts_with("env_") => base.notes.push(format!(
                "{} (`pm2 --env {}`: ctrl has one environment per service; merge it into env by hand)",
                shown(),
                &k[4..]
            )),
            "instances" => match v.as_u64() {
                Some(n) if (1..=256).contains(&n) => instances = n,
                _ => base.notes.push(format!("{} (one process here; add more services for more)", shown())),
            },
            "exec_mode" => cluster = text(v).starts_with("cluster"),
            "autorestart" => {
                if v == &Value::Bool(false) {
                    base.restart = Some("never");
                }
            }
            "autostart" => base.autostart = v.as_bool(),
            "min_uptime" => base.start_window = Some(millis(v).ok_or_else(|| bad(k, "not a duration"))?),
            "kill_timeout" => base.stop_timeout = Some(millis(v).ok_or_else(|| bad(k, "not a duration"))?),
            "restart_delay" => {
                let d = millis(v).ok_or_else(|| bad(k, "not a duration"))?;
                base.backoff = Some((d, d));
            }
            "exp_backoff_restart_delay" => {
                let d = millis(v).ok_or_else(|| bad(k, "not a duration"))?;
                base.backoff = Some((d, d.max(Duration::from_secs(15))));
            }
            "cron_restart" => draft.restarts.push((String::new(), text(v))),
            "uid" | "user" => base.user = Some(text(v)),
            "gid" if app.contains_key("uid") || app.contains_key("user") => base.group = Some(text(v)),
            "gid" => base.notes.push(format!("{} (ctrl sets a group only with a user: add user)", shown())),
            "watch" | "ignore_watch" | "watch_options" if v == &Value::Bool(false) => {}
            "watch" | "ignore_watch" | "watch_options" => {
                base.notes.push(format!("{} (ctrl does not restart on file changes)", shown()))
            }
            "max_memory_restart" => base.notes.push(format!(
                "{} (no equivalent; an alert rule on memory can tell you instead)",
                shown()
            )),
            "out_file" | "error_file" | "log_file" | "log_date_format" | "merge_logs" | "combine_logs" | "time"
            | "pid_file" => base.notes.push(format!(
                "{} (ctrl keeps each stream in its state folder, timestamped: `ctrl logs {}`)",
                shown(),
                base.name
            )),
            "wait_ready" | "listen_timeout" => base.notes.push(format!(
                "{} (no process.send('ready') here; a readiness probe, such as readiness = {{ http = \"…\" }}, does it)",
                shown()
            )),
            _ => base.notes.push(format!("{} (no equivalent in ctrl)", shown())),
        }
    }
    if cluster {
        base.notes.push(
            "pm2: exec_mode = cluster (Node's cluster module shares one port; here each instance is its own \
             process, and each needs its own port, from NODE_APP_INSTANCE)"
                .into(),
        );
    }
    let cron = draft.restarts.iter().position(|(s, _)| s.is_empty());
    for n in 0..instances {
        let taken: Vec<String> = draft.services.iter().map(|d| d.name.clone()).collect();
        let mut d = base.clone();
        let raw = if instances > 1 { format!("{name}-{n}") } else { name.clone() };
        d.name = service_name(&raw, &taken);
        d.note_rename(&raw, "pm2: app");
        // PM2 numbers every instance, a single one too.
        d.env.insert("NODE_APP_INSTANCE".into(), n.to_string());
        if let Some(at) = cron {
            if n == 0 {
                draft.restarts[at].0 = d.name.clone();
            } else {
                let c = draft.restarts[at].1.clone();
                draft.restarts.push((d.name.clone(), c));
            }
        }
        draft.services.push(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_by_extension_and_durations_in_ms_or_text() {
        assert_eq!(interpreter_for("app.js"), Some("node"));
        assert_eq!(interpreter_for("./worker.py"), Some("python3"));
        assert_eq!(interpreter_for("/usr/bin/redis-server"), None);
        assert_eq!(millis(&Value::from(1500)), Some(Duration::from_millis(1500)));
        assert_eq!(millis(&Value::from("3000")), Some(Duration::from_secs(3)));
        assert_eq!(millis(&Value::from("10s")), Some(Duration::from_secs(10)));
        assert_eq!(millis(&Value::from(true)), None);
    }
}
