//! What an import makes: services, the restart schedules a format implies, and
//! notes for what has no equivalent; written as TOML with those notes as comments
//! beside the service they are about.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// A whole ctrl.toml in the making.
#[derive(Debug, Default)]
pub struct Draft {
    /// Notes about the file as a whole (sections with no equivalent).
    pub notes: Vec<String>,
    /// The services, in the order of the input.
    pub services: Vec<ServiceDraft>,
    /// Services restarted at cron times (`cron_restart`): a service action and its schedule.
    pub restarts: Vec<(String, String)>,
}

/// A command as the input wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// One line, split into words as a shell would (`shell`: run by `sh -c`).
    Line(String),
    /// Exact words.
    Argv(Vec<String>),
}

/// One `[services.NAME]`; `None` and empty fields keep ctrl's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDraft {
    /// The name as the input gave it; made valid when written.
    pub name: String,
    /// What to run.
    pub command: Cmd,
    /// Run the line through `sh -c` (the input's runner used a shell).
    pub shell: bool,
    /// Working directory.
    pub cwd: Option<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// A dotenv file read at each start.
    pub env_file: Option<String>,
    /// The port it listens on.
    pub port: Option<u16>,
    /// Start with the daemon.
    pub autostart: Option<bool>,
    /// `always`, `on-failure` or `never`.
    pub restart: Option<&'static str>,
    /// Restart delay: first and largest.
    pub backoff: Option<(Duration, Duration)>,
    /// How long a start may take to count as up.
    pub start_window: Option<Duration>,
    /// Stop signal name (`TERM` …).
    pub stop_signal: Option<String>,
    /// Grace before SIGKILL.
    pub stop_timeout: Option<Duration>,
    /// Dependencies and their condition (`started`, `healthy`, `completed`).
    pub depends_on: BTreeMap<String, &'static str>,
    /// Log rotation size in bytes.
    pub log_max_size: Option<u64>,
    /// Rotated log files kept.
    pub log_keep: Option<u32>,
    /// Readiness probe.
    pub readiness: Option<Probe>,
    /// Liveness probe.
    pub liveness: Option<Probe>,
    /// Run as this user.
    pub user: Option<String>,
    /// In this group.
    pub group: Option<String>,
    /// What the input said that has no equivalent, one comment each.
    pub notes: Vec<String>,
}

impl ServiceDraft {
    /// A service that runs `command` with every other setting at ctrl's default.
    pub fn new(name: &str, command: Cmd) -> ServiceDraft {
        ServiceDraft {
            name: name.to_string(),
            command,
            shell: false,
            cwd: None,
            env: BTreeMap::new(),
            env_file: None,
            port: None,
            autostart: None,
            restart: None,
            backoff: None,
            start_window: None,
            stop_signal: None,
            stop_timeout: None,
            depends_on: BTreeMap::new(),
            log_max_size: None,
            log_keep: None,
            readiness: None,
            liveness: None,
            user: None,
            group: None,
            notes: Vec::new(),
        }
    }
}

impl ServiceDraft {
    /// Notes that the input called this service `raw` (as `what`, e.g. `pm2: app`)
    /// when its name had to change to be one ctrl takes.
    pub fn note_rename(&mut self, raw: &str, what: &str) {
        if self.name != raw {
            self.notes.push(format!("{what} '{raw}' (renamed: ctrl names use letters, digits, - _ .)"));
        }
    }
}

/// A probe: one check and its timing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probe {
    /// `http://…` to GET.
    pub http: Option<String>,
    /// `host:port` to connect to.
    pub tcp: Option<String>,
    /// A command (never through a shell).
    pub exec: Option<Vec<String>>,
    /// Between checks.
    pub interval: Option<Duration>,
    /// For one check.
    pub timeout: Option<Duration>,
    /// Failures in a row that count.
    pub failure_threshold: Option<u32>,
    /// Before the first check.
    pub initial_delay: Option<Duration>,
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key, bare when it can be.
fn key(k: &str) -> String {
    let bare = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare { k.to_string() } else { quote(k) }
}

/// `"500ms"`, `"30s"`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) { format!("\"{}s\"", ms / 1000) } else { format!("\"{ms}ms\"") }
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
}

fn inline(pairs: &[(&str, String)]) -> String {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{} = {v}", key(k))).collect();
    format!("{{ {} }}", body.join(", "))
}

/// A comment, one `# ` line per line of `text`; control characters, which TOML
/// refuses in comments, are written escaped.
fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let shown: String = line
            .chars()
            .flat_map(|c| {
                let escape = c.is_control() && c != '\t';
                let text = if escape { c.escape_default().to_string() } else { c.to_string() };
                text.chars().collect::<Vec<_>>()
            })
            .collect();
        let _ = writeln!(out, "# {shown}");
    }
}

/// A name ctrl accepts (letters, digits, `-`, `_`, `.`; 1-64; not starting with `.`),
/// made from `raw`, and not one of `taken`.
pub fn service_name(raw: &str, taken: &[String]) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(60)
        .collect();
    if name.starts_with('.') {
        name.insert(0, '_');
    }
    if name.is_empty() {
        name = "service".into();
    }
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

impl Draft {
    /// The TOML text, with a header naming the input and every note as a comment.
    pub fn render(&self, header: &str) -> String {
        let mut out = String::new();
        comment(&mut out, header);
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                comment(&mut out, n);
            }
        }
        for s in &self.services {
            out.push('\n');
            render_service(&mut out, s);
        }
        let mut actions = Vec::new();
        for (service, cron) in &self.restarts {
            let action = service_name(&format!("restart-{service}"), &actions);
            actions.push(action.clone());
            let _ = writeln!(
                out,
                "\n[actions.{}]\nkind = \"service\"\nservice = {}\noperation = \"restart\"\n\n[schedules.{}]\naction = {}\ncron = {}",
                key(&action),
                quote(service),
                key(&action),
                quote(&action),
                quote(cron)
            );
        }
        out
    }
}

fn render_service(out: &mut String, s: &ServiceDraft) {
    let _ = writeln!(out, "[services.{}]", key(&s.name));
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k} = {v}");
    };
    match &s.command {
        Cmd::Line(l) => line("command", quote(l)),
        Cmd::Argv(v) => line("command", list(v)),
    }
    if s.shell {
        line("shell", "true".into());
    }
    if let Some(c) = &s.cwd {
        line("cwd", quote(c));
    }
    if !s.env.is_empty() {
        let pairs: Vec<(&str, String)> = s.env.iter().map(|(k, v)| (k.as_str(), quote(v))).collect();
        line("env", inline(&pairs));
    }
    if let Some(f) = &s.env_file {
        line("env_file", quote(f));
    }
    if let Some(p) = s.port {
        line("port", p.to_string());
    }
    if let Some(a) = s.autostart {
        line("autostart", a.to_string());
    }
    if let Some(r) = s.restart {
        line("restart", quote(r));
    }
    if let Some((initial, max)) = s.backoff {
        line("backoff", inline(&[("initial", duration(initial)), ("max", duration(max))]));
    }
    if let Some(w) = s.start_window {
        line("start_window", duration(w));
    }
    if let Some(sig) = &s.stop_signal {
        line("stop_signal", quote(sig));
    }
    if let Some(t) = s.stop_timeout {
        line("stop_timeout", duration(t));
    }
    if !s.depends_on.is_empty() {
        let pairs: Vec<(&str, String)> = s.depends_on.iter().map(|(k, v)| (k.as_str(), quote(v))).collect();
        line("depends_on", inline(&pairs));
    }
    let mut log = Vec::new();
    if let Some(size) = s.log_max_size {
        log.push(("max_size", quote(&size.to_string())));
    }
    if let Some(keep) = s.log_keep {
        log.push(("keep", keep.to_string()));
    }
    if !log.is_empty() {
        line("log", inline(&log));
    }
    for (k, p) in [("readiness", &s.readiness), ("liveness", &s.liveness)] {
        if let Some(p) = p {
            line(k, probe(p));
        }
    }
    if let Some(u) = &s.user {
        line("user", quote(u));
    }
    if let Some(g) = &s.group {
        line("group", quote(g));
    }
    for n in &s.notes {
        comment(out, n);
    }
}

fn probe(p: &Probe) -> String {
    let mut pairs = Vec::new();
    if let Some(u) = &p.http {
        pairs.push(("http", quote(u)));
    }
    if let Some(a) = &p.tcp {
        pairs.push(("tcp", quote(a)));
    }
    if let Some(v) = &p.exec {
        pairs.push(("exec", list(v)));
    }
    for (k, d) in [("interval", p.interval), ("timeout", p.timeout), ("initial_delay", p.initial_delay)] {
        if let Some(d) = d {
            pairs.push((k, duration(d)));
        }
    }
    if let Some(n) = p.failure_threshold {
        pairs.push(("failure_threshold", n.to_string()));
    }
    inline(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_keys_and_names_are_written_so_toml_reads_them_back() {
        assert_eq!(quote("a \"b\" \\ c\nd\u{1}"), r#""a \"b\" \\ c\nd\u0001""#);
        assert_eq!(key("web"), "web");
        assert_eq!(key("web.1"), "\"web.1\"");
        assert_eq!(duration(Duration::from_millis(1500)), "\"1500ms\"");
        assert_eq!(duration(Duration::from_secs(3)), "\"3s\"");
        assert_eq!(service_name("my app:1", &[]), "my-app-1");
        assert_eq!(service_name(".hidden", &[]), "_.hidden");
        assert_eq!(service_name("web", &["web".into(), "web-2".into()]), "web-3");
        assert_eq!(service_name("", &[]), "service");
        let mut out = String::new();
        comment(&mut out, "a\rb\u{7}c\td\ne");
        assert_eq!(out, "# a\\rb\\u{7}c\td\n# e\n");
    }
}
