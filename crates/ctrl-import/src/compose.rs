//! A process-compose YAML: each process becomes a service, run by `bash -c` as
//! process-compose runs it; its depends_on conditions, readiness and liveness
//! probes, availability and shutdown map to ctrl's; `replicas` make that many.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::draft::{Cmd, Draft, Probe, ServiceDraft, service_name};
use crate::{ImportError, Source, text};

/// Reads `src` as a process-compose file.
pub fn convert(src: &Source<'_>) -> Result<Draft, ImportError> {
    let v = ctrl_core::yaml::yaml(src.text, 1).map_err(|e| src.syntax_at(e.line, e.column, e.message))?;
    let Value::Object(top) = v else {
        return Err(src.invalid("a process-compose file is a mapping with 'processes'"));
    };
    let mut draft = Draft::default();
    if src.text.contains("${") {
        draft.notes.push(
            "process-compose expands ${VAR} in its file when it loads it; the import keeps them as written: \
             a command expands them when it runs (bash -c), other values need the value written in"
                .into(),
        );
    }
    let mut global = BTreeMap::new();
    for (k, v) in &top {
        match k.as_str() {
            "processes" | "version" => {}
            "environment" => global = env_list(v).map_err(|m| src.invalid(format!("environment: {m}")))?,
            _ => draft.notes.push(format!("process-compose: {k} = {} (no equivalent in ctrl)", text(v))),
        }
    }
    let Some(Value::Object(processes)) = top.get("processes") else {
        return Err(src.invalid("no 'processes' mapping: there is nothing to import"));
    };
    if processes.is_empty() {
        return Err(src.invalid("'processes' is empty: there is nothing to import"));
    }
    // Names first: dependencies may point at processes defined later, and replicas rename.
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut taken = Vec::new();
    for (name, p) in processes {
        let replicas = p.get("replicas").and_then(Value::as_u64).unwrap_or(1);
        if !(1..=256).contains(&replicas) {
            return Err(src.invalid(format!("processes.{name}.replicas: {replicas}: use 1 to 256")));
        }
        let list: Vec<String> = (0..replicas)
            .map(|n| {
                let raw = if replicas > 1 { format!("{name}-{n}") } else { name.clone() };
                let s = service_name(&raw, &taken);
                taken.push(s.clone());
                s
            })
            .collect();
        names.insert(name.clone(), list);
    }
    for (name, p) in processes {
        let Value::Object(p) = p else {
            return Err(src.invalid(format!("processes.{name} is not a mapping")));
        };
        let at = |k: &str, m: &str| src.invalid(format!("processes.{name}.{k}: {m}"));
        let command = match p.get("command") {
            Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
            _ => return Err(at("command", "required")),
        };
        let mut base = ServiceDraft::new(name, Cmd::Argv(vec!["bash".into(), "-c".into(), command]));
        base.env = global.clone();
        // process-compose gives every process the .env of its folder.
        base.env_file = src.dotenv.as_ref().map(|(path, _)| path.clone());
        base.restart = Some("never");
        for (k, v) in p {
            let note = |why: &str| format!("process-compose: {k} = {} ({why})", text(v));
            match k.as_str() {
                "command" | "replicas" => {}
                "working_dir" => base.cwd = Some(src.path(&text(v))),
                "environment" => base.env.extend(env_list(v).map_err(|m| at(k, &m))?),
                "disabled" => base.autostart = v.as_bool().map(|d| !d),
                "availability" => availability(v, &mut base).map_err(|m| at(k, &m))?,
                "depends_on" => depends_on(v, &names, &mut base).map_err(|m| at(k, &m))?,
                "readiness_probe" => {
                    base.readiness = Some(probe(k, v, &mut base.notes).map_err(|m| at(k, &m))?)
                }
                "liveness_probe" => {
                    base.liveness = Some(probe(k, v, &mut base.notes).map_err(|m| at(k, &m))?)
                }
                "shutdown" => shutdown(v, &mut base).map_err(|m| at(k, &m))?,
                "description" => base.notes.push(text(v)),
                "is_daemon" if v == &Value::Bool(true) => base.notes.push(note(
                    "ctrl is the subreaper of what its services start, so the daemon stays this service's; \
                     but run it in the foreground if it can: a main process that exits counts as exited",
                )),
                "log_location" => base.notes.push(note("ctrl keeps each stream in its state folder")),
                _ => base.notes.push(note("no equivalent in ctrl")),
            }
        }
        let list = &names[name];
        for (n, service) in list.iter().enumerate() {
            let mut d = base.clone();
            d.name = service.clone();
            let own = if list.len() > 1 { format!("{name}-{n}") } else { name.clone() };
            d.note_rename(&own, "process-compose: process");
            d.env.insert("PC_PROC_NAME".into(), name.clone());
            d.env.insert("PC_REPLICA_NUM".into(), n.to_string());
            draft.services.push(d);
        }
    }
    Ok(draft)
}

/// `["A=1", "B=2"]` (or a mapping, which process-compose also reads).
fn env_list(v: &Value) -> Result<BTreeMap<String, String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let s = text(i);
                s.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("'{s}' is not KEY=value"))
            })
            .collect(),
        Value::Object(m) => Ok(m.iter().map(|(k, v)| (k.clone(), text(v))).collect()),
        Value::Null => Ok(BTreeMap::new()),
        _ => Err("a list of KEY=value".into()),
    }
}

fn seconds(v: &Value) -> Result<Duration, String> {
    v.as_f64()
        .filter(|s| *s >= 0.0 && *s < 31_622_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("'{}' is not a number of seconds", text(v)))
}

fn availability(v: &Value, s: &mut ServiceDraft) -> Result<(), String> {
    let Value::Object(a) = v else {
        return Err("a mapping such as { restart: on_failure }".into());
    };
    for (k, v) in a {
        match k.as_str() {
            "restart" => {
                s.restart = Some(match text(v).as_str() {
                    "always" => "always",
                    "on_failure" => "on-failure",
                    "exit_on_failure" => {
                        s.notes.push(
                            "process-compose: restart = exit_on_failure (ctrl restarts it on failure; it does not stop everything)"
                                .into(),
                        );
                        "on-failure"
                    }
                    "no" => "never",
                    other => {
                        return Err(format!(
                            "restart '{other}' is not always, on_failure, exit_on_failure or no"
                        ));
                    }
                })
            }
            "backoff_seconds" => {
                let d = seconds(v)?;
                s.backoff = Some((d, d));
            }
            _ => s.notes.push(format!(
                "process-compose: availability.{k} = {} (no equivalent; start_limit caps crash loops)",
                text(v)
            )),
        }
    }
    Ok(())
}

fn depends_on(v: &Value, names: &BTreeMap<String, Vec<String>>, s: &mut ServiceDraft) -> Result<(), String> {
    let Value::Object(deps) = v else {
        return Err("a mapping of process names to { condition: … }".into());
    };
    for (dep, how) in deps {
        let Some(targets) = names.get(dep) else {
            return Err(format!("'{dep}' is not a process of this file"));
        };
        let condition = how.get("condition").map(text).unwrap_or_else(|| "process_started".into());
        let ours = match condition.as_str() {
            "process_started" => "started",
            "process_healthy" => "healthy",
            "process_completed_successfully" => "completed",
            "process_completed" => {
                s.notes.push(format!(
                    "process-compose: depends_on.{dep} = process_completed (ctrl waits for a successful exit)"
                ));
                "completed"
            }
            "process_log_ready" => {
                s.notes.push(format!(
                    "process-compose: depends_on.{dep} = process_log_ready (no log matching here: waits for the start; \
                     a readiness probe on {dep} and \"healthy\" is closer)"
                ));
                "started"
            }
            other => return Err(format!("condition '{other}' of '{dep}' is not one process-compose has")),
        };
        for t in targets {
            s.depends_on.insert(t.clone(), ours);
        }
    }
    Ok(())
}

fn probe(kind: &str, v: &Value, notes: &mut Vec<String>) -> Result<Probe, String> {
    let Value::Object(p) = v else {
        return Err("a mapping with http_get or exec".into());
    };
    let mut out = Probe::default();
    for (k, v) in p {
        match k.as_str() {
            "http_get" => out.http = Some(http_get(v)?),
            "exec" => {
                let cmd = v.get("command").map(text).ok_or("exec needs a command")?;
                // Its working_dir becomes a cd in the check's own shell.
                let cmd = match v.get("working_dir").map(text) {
                    Some(dir) => {
                        format!("cd {} && {cmd}", shlex::try_quote(&dir).map_err(|e| e.to_string())?)
                    }
                    None => cmd,
                };
                out.exec = Some(vec!["bash".into(), "-c".into(), cmd]);
            }
            "period_seconds" => out.interval = Some(seconds(v)?),
            "timeout_seconds" => out.timeout = Some(seconds(v)?),
            "initial_delay_seconds" => out.initial_delay = Some(seconds(v)?),
            "failure_threshold" => {
                out.failure_threshold =
                    Some(v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("not a count")?)
            }
            "success_threshold" if v.as_u64() == Some(1) => {}
            "success_threshold" => notes.push(format!(
                "process-compose: {kind}.success_threshold = {} (ctrl counts one success as ready)",
                text(v)
            )),
            other => return Err(format!("'{other}' is not a probe key this import knows")),
        }
    }
    if out.http.is_none() && out.exec.is_none() {
        return Err("a probe needs http_get or exec".into());
    }
    Ok(out)
}

fn http_get(v: &Value) -> Result<String, String> {
    let Value::Object(h) = v else {
        return Err("http_get is a mapping of host, port, path, scheme".into());
    };
    let get = |k: &str| h.get(k).map(text);
    let scheme = get("scheme").unwrap_or_else(|| "http".into());
    if scheme != "http" {
        return Err(format!("http_get scheme '{scheme}': ctrl's probes speak http"));
    }
    let host = get("host").unwrap_or_else(|| "127.0.0.1".into());
    let port = get("port").ok_or("http_get needs a port")?;
    let path = get("path").unwrap_or_else(|| "/".into());
    let path = if path.starts_with('/') { path } else { format!("/{path}") };
    Ok(format!("{scheme}://{host}:{port}{path}"))
}

fn shutdown(v: &Value, s: &mut ServiceDraft) -> Result<(), String> {
    let Value::Object(sh) = v else {
        return Err("a mapping such as { signal: 15, timeout_seconds: 10 }".into());
    };
    let signals =
        [(15, "TERM"), (2, "INT"), (1, "HUP"), (3, "QUIT"), (9, "KILL"), (10, "USR1"), (12, "USR2")];
    for (k, v) in sh {
        match k.as_str() {
            "signal" => {
                let n = v.as_i64().ok_or("signal is a number, such as 15")?;
                let name = signals.iter().find(|(num, _)| *num == n).map(|(_, name)| *name);
                s.stop_signal =
                    Some(name.ok_or_else(|| format!("signal {n} is not one ctrl stops with"))?.into());
            }
            "timeout_seconds" => s.stop_timeout = Some(seconds(v)?),
            _ => s.notes.push(format!(
                "process-compose: shutdown.{k} = {} (ctrl stops a service with its stop_signal)",
                text(v)
            )),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probes_conditions_and_signals_map() {
        let mut notes = Vec::new();
        let p = probe(
            "readiness_probe",
            &json!({"http_get": {"host": "127.0.0.1", "port": 8080, "path": "health"},
                "period_seconds": 2, "failure_threshold": 5, "success_threshold": 2}),
            &mut notes,
        )
        .unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(p.http.as_deref(), Some("http://127.0.0.1:8080/health"));
        assert_eq!((p.interval, p.failure_threshold), (Some(Duration::from_secs(2)), Some(5)));
        assert!(probe("liveness_probe", &json!({"period_seconds": 2}), &mut notes).is_err());
        let p =
            probe("x", &json!({"exec": {"command": "ls", "working_dir": "/my dir"}}), &mut notes).unwrap();
        assert_eq!(p.exec.unwrap()[2], "cd '/my dir' && ls");
        assert!(http_get(&json!({"scheme": "https", "port": 1})).is_err());
        let names = BTreeMap::from([("db".to_string(), vec!["db".to_string()])]);
        let mut s = ServiceDraft::new("web", Cmd::Line("x".into()));
        depends_on(&json!({"db": {"condition": "process_healthy"}}), &names, &mut s).unwrap();
        assert_eq!(s.depends_on["db"], "healthy");
        assert!(depends_on(&json!({"nope": {}}), &names, &mut s).is_err());
        shutdown(&json!({"signal": 2, "timeout_seconds": 3}), &mut s).unwrap();
        assert_eq!((s.stop_signal.as_deref(), s.stop_timeout), (Some("INT"), Some(Duration::from_secs(3))));
        assert!(shutdown(&json!({"signal": 99}), &mut s).is_err());
    }
}
