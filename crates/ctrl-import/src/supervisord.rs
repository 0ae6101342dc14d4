//! supervisord's `.conf`: each `[program:x]` (times `numprocs`) becomes a service.
//! Its `%(name)s` expansions are made, `[supervisord] environment` is given to
//! every program, and the rest (groups, the daemon's own sections, log paths)
//! become comments naming the key.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::draft::{Cmd, Draft, ServiceDraft, service_name};
use crate::ini::{self, Section};
use crate::{ImportError, Source};

/// Reads `src` as a supervisord config.
pub fn convert(src: &Source<'_>) -> Result<Draft, ImportError> {
    let sections = ini::parse(src.text).map_err(|(line, message)| src.syntax(line, message))?;
    let mut draft = Draft::default();
    let here = src.dir.display().to_string();
    let mut global_env = BTreeMap::new();
    let groups: Vec<(&str, Vec<&str>)> = sections
        .iter()
        .filter_map(|s| s.name.strip_prefix("group:").map(|g| (g, s)))
        .map(|(g, s)| (g, s.get("programs").unwrap_or("").split(',').map(str::trim).collect()))
        .collect();
    for s in &sections {
        let (kind, name) = s.name.split_once(':').unwrap_or((s.name.as_str(), ""));
        match kind {
            "program" => {}
            "supervisord" => {
                if let Some((env, line)) =
                    s.entries.iter().find(|e| e.0 == "environment").map(|e| (&e.1, e.2))
                {
                    let vars = |k: &str| if k == "here" { Some(here.clone()) } else { src.env(k) };
                    let text = expand(env, &vars).map_err(|m| src.syntax(line, m))?;
                    global_env = environment(&text).map_err(|m| src.syntax(line, m))?;
                }
                let rest: Vec<String> = s
                    .entries
                    .iter()
                    .filter(|e| e.0 != "environment")
                    .map(|e| format!("{} = {}", e.0, e.1))
                    .collect();
                if !rest.is_empty() {
                    draft.notes.push(format!(
                        "[supervisord] {}: the daemon's own settings; ctrl's are in [server] \
                         (it logs to stderr and raises its open-file limit itself)",
                        rest.join(", ")
                    ));
                }
            }
            "unix_http_server" | "inet_http_server" => draft.notes.push(format!(
                "[{}]: ctrl serves its API on [server] listen (127.0.0.1:8080) and on a unix socket \
                 in its state folder; users and tokens replace username/password",
                s.name
            )),
            "supervisorctl" | "rpcinterface" => draft
                .notes
                .push(format!("[{}]: not needed; `ctrl` finds the daemon through this file", s.name)),
            "include" => draft.notes.push(format!(
                "[include] files = {}: not followed; import each included file too and merge the services",
                s.get("files").unwrap_or("")
            )),
            "group" => draft.notes.push(format!(
                "[group:{name}] programs = {}: ctrl has no groups; control them one by one, or with \
                 `ctrl start`/`ctrl stop` of each",
                s.get("programs").unwrap_or("")
            )),
            _ => draft.notes.push(format!("[{}]: not imported (no equivalent in ctrl)", s.name)),
        }
    }
    for s in sections.iter().filter(|s| s.name.starts_with("program:")) {
        let program = &s.name["program:".len()..];
        let group =
            groups.iter().find(|(_, members)| members.contains(&program)).map_or(program, |(g, _)| *g);
        program_services(src, s, program, group, &global_env, &mut draft)?;
    }
    if draft.services.is_empty() {
        return Err(src.invalid("no [program:NAME] section: there is nothing to import"));
    }
    Ok(draft)
}

/// The services of one `[program:x]`: one, or `numprocs` of them.
fn program_services(
    src: &Source<'_>,
    s: &Section,
    program: &str,
    group: &str,
    global_env: &BTreeMap<String, String>,
    draft: &mut Draft,
) -> Result<(), ImportError> {
    let line_of = |k: &str| s.entries.iter().find(|e| e.0 == k).map_or(0, |e| e.2);
    let number = |k: &str, default: u64| -> Result<u64, ImportError> {
        match s.get(k) {
            None => Ok(default),
            Some(v) => {
                v.trim().parse().map_err(|_| src.syntax(line_of(k), format!("{k} = {v} is not a number")))
            }
        }
    };
    let numprocs = number("numprocs", 1)?;
    let start = number("numprocs_start", 0)?;
    if numprocs == 0 || numprocs > 1000 {
        return Err(src.syntax(line_of("numprocs"), format!("numprocs = {numprocs}: use 1 to 1000")));
    }
    let process_name = s.get("process_name").unwrap_or("%(program_name)s");
    if numprocs > 1 && !process_name.contains("%(process_num)") {
        return Err(src.syntax(
            line_of("numprocs"),
            "numprocs above 1 needs process_name to contain %(process_num)s, as supervisord requires",
        ));
    }
    if s.get("command").is_none() {
        return Err(src.syntax(s.line, format!("[program:{program}] has no command")));
    }
    let Some(end) = start.checked_add(numprocs) else {
        return Err(src.syntax(line_of("numprocs_start"), "numprocs_start is too large"));
    };
    for num in start..end {
        let here = src.dir.display().to_string();
        let vars = |k: &str| match k {
            "program_name" => Some(program.to_string()),
            "process_num" => Some(num.to_string()),
            "group_name" => Some(group.to_string()),
            "numprocs" => Some(numprocs.to_string()),
            "here" => Some(here.clone()),
            other => src.env(other),
        };
        let at = |k: &str, m: String| src.syntax(line_of(k), format!("{k}: {m}"));
        let name = expand(process_name, &vars).map_err(|m| at("process_name", m))?;
        let taken: Vec<String> = draft.services.iter().map(|d| d.name.clone()).collect();
        let mut d = ServiceDraft::new(&service_name(&name, &taken), Cmd::Line(String::new()));
        d.note_rename(&name, "supervisord: process name");
        d.env = global_env.clone();
        let mut log_size = None;
        for (k, raw, _) in &s.entries {
            let v = expand(raw, &vars).map_err(|m| at(k, m))?;
            if !apply(k, &v, &mut d, &mut log_size).map_err(|m| at(k, m))? {
                d.notes.push(format!("supervisord: {k} = {v} (no equivalent in ctrl)"));
            }
            if raw.contains("%(ENV_") {
                d.notes.push(format!(
                    "supervisord: {k} took %(ENV_…)s from this shell's environment at import time; \
                     give secrets through env_file instead"
                ));
            }
        }
        // supervisord reads a relative directory from where it runs; here, from the config's folder.
        if let Some(cwd) = d.cwd.take() {
            d.cwd = Some(if cwd.starts_with('/') { cwd } else { src.path(&cwd) });
        }
        if numprocs > 1 {
            d.notes.push(format!("supervisord: process {num} of {numprocs} of [program:{program}]"));
        }
        draft.services.push(d);
    }
    Ok(())
}

/// Applies one program key to the service; `false` when ctrl has no equivalent.
fn apply(k: &str, v: &str, d: &mut ServiceDraft, log_size: &mut Option<u64>) -> Result<bool, String> {
    let secs = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("'{v}' is not a number of seconds"))
    };
    match k {
        "command" => {
            if shlex::split(v).is_none_or(|w| w.is_empty()) {
                return Err(format!("'{v}' is empty or has unbalanced quotes"));
            }
            d.command = Cmd::Line(v.to_string());
        }
        "process_name" | "numprocs" | "numprocs_start" | "stopasgroup" | "killasgroup" => {}
        "directory" => d.cwd = Some(v.to_string()),
        "user" => d.user = Some(v.to_string()),
        "environment" => d.env.extend(environment(v)?),
        "autostart" => d.autostart = Some(boolean(v)?),
        "autorestart" => {
            d.restart = Some(match v.trim().to_ascii_lowercase().as_str() {
                "unexpected" => "on-failure",
                other => match boolean(other)? {
                    true => "always",
                    false => "never",
                },
            })
        }
        "startsecs" => d.start_window = Some(secs(v)?),
        "stopwaitsecs" => d.stop_timeout = Some(secs(v)?),
        "stopsignal" => {
            let sig = v.trim().to_ascii_uppercase();
            let sig = sig.strip_prefix("SIG").unwrap_or(&sig).to_string();
            if !["TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2"].contains(&sig.as_str()) {
                return Err(format!("'{v}' is not a signal supervisord accepts"));
            }
            d.stop_signal = Some(sig);
        }
        "exitcodes" if v.trim() == "0" => {}
        "stdout_logfile_maxbytes" | "stderr_logfile_maxbytes" => {
            let size = ctrl_core::config::parse_size(v)?;
            if log_size.is_some_and(|s| s != size) {
                return Ok(false);
            }
            *log_size = Some(size);
            d.log_max_size = Some(size);
        }
        "stdout_logfile_backups" | "stderr_logfile_backups" => {
            let keep = v.trim().parse().map_err(|_| format!("'{v}' is not a number"))?;
            if d.log_keep.is_some_and(|k| k != keep) {
                return Ok(false);
            }
            d.log_keep = Some(keep);
        }
        "stdout_logfile" | "stderr_logfile" => {
            d.notes.push(format!(
                "supervisord: {k} = {v} (ctrl keeps each stream in its state folder: `ctrl logs {}`)",
                d.name
            ));
        }
        "redirect_stderr" => {
            d.notes.push(format!("supervisord: redirect_stderr = {v} (ctrl keeps stdout and stderr apart and shows both)"))
        }
        "startretries" => d.notes.push(format!(
            "supervisord: startretries = {v} (ctrl does not retry a failed start; start_limit caps crash loops)"
        )),
        "priority" => d.notes.push(format!("supervisord: priority = {v} (ctrl orders starts by depends_on)")),
        _ => return Ok(false),
    }
    Ok(true)
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("'{v}' is not true or false")),
    }
}

/// `KEY="value",KEY2=value2` (supervisord's `environment`, read by its shlex:
/// whitespace outside quotes separates nothing, `\"` inside double quotes is a quote).
fn environment(v: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut parts = Vec::new();
    let (mut cur, mut quote) = (String::new(), None);
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('\\', Some('"')) => cur.extend(chars.next()),
            (',', None) => parts.push(std::mem::take(&mut cur)),
            (c, None) if c.is_whitespace() => {}
            (c, _) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unbalanced quotes in '{v}'"));
    }
    parts.push(cur);
    for p in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let Some((k, val)) = p.split_once('=') else {
            return Err(format!("'{p}' is not KEY=value"));
        };
        out.insert(k.trim().to_string(), val.to_string());
    }
    Ok(out)
}

/// Python's `%(name)s`, `%(name)d`, `%(name)02d` and `%%`, from `vars`.
pub fn expand(s: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        }
        let Some(body) = after.strip_prefix('(') else {
            return Err(format!("a lone '%' in '{s}': write %% for a percent sign"));
        };
        let Some(close) = body.find(')') else {
            return Err(format!("'%(' without ')' in '{s}'"));
        };
        let name = &body[..close];
        let spec_end = body[close + 1..]
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(|| format!("%({name}) has no type (s or d) in '{s}'"))?;
        let flags = &body[close + 1..close + 1 + spec_end];
        let kind = &body[close + 1 + spec_end..close + 2 + spec_end];
        let value = match name.strip_prefix("ENV_") {
            Some(var) => {
                vars(&format!("ENV_{var}")).ok_or_else(|| format!("%({name})s: ${var} is not set"))?
            }
            None => vars(name).ok_or_else(|| format!("%({name}) is not a name supervisord expands"))?,
        };
        match kind {
            "s" => out.push_str(&value),
            "d" => {
                let n: i64 = value.parse().map_err(|_| format!("%({name})d: '{value}' is not a number"))?;
                let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0).min(64);
                if flags.starts_with('0') {
                    out.push_str(&format!("{n:0width$}"));
                } else {
                    out.push_str(&format!("{n:width$}"));
                }
            }
            other => return Err(format!("%({name}){other}: only s and d are supported")),
        }
        rest = &body[close + 2 + spec_end..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(k: &str) -> Option<String> {
        match k {
            "program_name" => Some("web".into()),
            "process_num" => Some("3".into()),
            "ENV_HOME" => Some("/home/u".into()),
            _ => None,
        }
    }

    #[test]
    fn expansions_as_python_makes_them() {
        assert_eq!(expand("%(program_name)s_%(process_num)02d", &vars).unwrap(), "web_03");
        assert_eq!(expand("%(process_num)d%%", &vars).unwrap(), "3%");
        assert_eq!(expand("%(ENV_HOME)s/app", &vars).unwrap(), "/home/u/app");
        assert!(expand("%(ENV_NOPE)s", &vars).unwrap_err().contains("$NOPE is not set"));
        assert!(expand("%(nope)s", &vars).is_err());
        assert!(expand("50%", &vars).is_err());
    }

    #[test]
    fn environment_pairs_with_quotes_and_commas() {
        let env = environment("A=\"1,2\",B='x y', C = plain\n,D=,E=\"a\\\"b\"").unwrap();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("A", "1,2"), ("B", "x y"), ("C", "plain"), ("D", ""), ("E", "a\"b")]);
        assert!(environment("A=\"1").is_err());
        assert!(environment("novalue").is_err());
    }
}
