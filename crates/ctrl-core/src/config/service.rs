//! `[services.NAME]`: how one service is run, restarted, stopped, probed and logged.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::run_as::Limits;
use super::units::{ByteSize, Dur};

/// One supervised service as written in `ctrl.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// What to run: an argv array, or a string split into words as a shell would.
    pub command: Command,
    /// Run the command string through `sh -c`. Off by default: no shell sees user text.
    #[serde(default)]
    pub shell: bool,
    /// Working directory; relative to the config file's folder.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables; they win over `env_file`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A dotenv file read at each start; relative to the config file's folder.
    pub env_file: Option<PathBuf>,
    /// The TCP port the service listens on: conflict check and default readiness probe.
    pub port: Option<u16>,
    /// Start with the daemon.
    #[serde(default = "yes")]
    pub autostart: bool,
    /// When an exited process is started again.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Delay between automatic restarts.
    #[serde(default)]
    pub backoff: Backoff,
    /// Crash-loop cap: more starts than `burst` within `interval` make the service fatal.
    #[serde(default)]
    pub start_limit: StartLimit,
    /// How long a start may take to be up: a process gone sooner failed to start
    /// (default: 1 s alive, or 30 s to pass a readiness probe).
    #[serde(default)]
    pub start_window: Option<Dur>,
    /// Signal sent to the process group to ask it to stop.
    #[serde(default)]
    pub stop_signal: StopSignal,
    /// How long to wait after `stop_signal` before SIGKILL to the whole group.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout: Dur,
    /// Services this one waits for, and what it waits for.
    #[serde(default)]
    pub depends_on: BTreeMap<String, Condition>,
    /// Where and how stdout and stderr are kept.
    #[serde(default)]
    pub log: LogSpec,
    /// Gates the `ready` state and `depends_on = "healthy"`.
    pub readiness: Option<Probe>,
    /// Restarts the service after `failure_threshold` failures in a row.
    pub liveness: Option<Probe>,
    /// What to do with this service's process left alive by a daemon that died.
    #[serde(default)]
    pub on_orphan: OnOrphan,
    /// The user the process runs as (ctrl must run as root); by default ctrl's own.
    pub user: Option<String>,
    /// The group it runs in; by default the user's own. The user's other groups are kept.
    pub group: Option<String>,
    /// Resource limits set before exec.
    #[serde(default)]
    pub limits: Limits,
}

fn yes() -> bool {
    true
}

fn default_stop_timeout() -> Dur {
    Dur::secs(10)
}

impl ServiceSpec {
    /// The argv to execute, with `shell = true` turned into `sh -c`.
    ///
    /// Validation has already rejected commands that cannot be split, so an
    /// unsplittable string here yields its words as written.
    pub fn argv(&self) -> Vec<String> {
        match (&self.command, self.shell) {
            (Command::Line(line), true) => vec!["sh".into(), "-c".into(), line.clone()],
            (cmd, _) => cmd.argv().unwrap_or_default(),
        }
    }

    /// How long a start may take to be up (see `start_window`).
    pub fn start_window(&self) -> Duration {
        match (self.start_window, self.effective_readiness()) {
            (Some(w), _) => w.0,
            (None, Some(_)) => Duration::from_secs(30),
            (None, None) => Duration::from_secs(1),
        }
    }

    /// The readiness probe in force: the configured one, or a TCP check of `port`.
    pub fn effective_readiness(&self) -> Option<Probe> {
        self.readiness
            .clone()
            .or_else(|| self.port.map(|p| Probe { tcp: Some(format!("127.0.0.1:{p}")), ..Probe::default() }))
    }
}

/// A command as written: an argv array or one string.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Command {
    /// `["python3", "-m", "http.server"]`: run exactly these words.
    Argv(Vec<String>),
    /// `"python3 -m http.server"`: split like a shell splits words, never run by one.
    Line(String),
}

impl Command {
    /// The argv, or `None` when a string has unbalanced quotes.
    pub fn argv(&self) -> Option<Vec<String>> {
        match self {
            Command::Argv(v) => Some(v.clone()),
            Command::Line(s) => shlex::split(s),
        }
    }

    /// The command as one line, for display and the `services.command` column.
    pub fn display(&self) -> String {
        match self {
            Command::Argv(v) => shlex::try_join(v.iter().map(String::as_str)).unwrap_or_else(|_| v.join(" ")),
            Command::Line(s) => s.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings or a command string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                Ok(Command::Line(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Command::Argv(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// When a process that exited is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// After every exit.
    Always,
    /// After a non-zero exit code or a signal; exit 0 means `completed`.
    #[default]
    OnFailure,
    /// Never; exit 0 means `completed`, anything else stays `exited`.
    Never,
}

/// Exponential backoff between automatic restarts: `initial`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// Delay before the first restart.
    #[serde(default = "default_backoff_initial")]
    pub initial: Dur,
    /// Upper bound of the delay; also how long a run must last to reset the backoff.
    #[serde(default = "default_backoff_max")]
    pub max: Dur,
}

fn default_backoff_initial() -> Dur {
    Dur::millis(500)
}
fn default_backoff_max() -> Dur {
    Dur::secs(30)
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: default_backoff_initial(), max: default_backoff_max() }
    }
}

/// The crash-loop cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartLimit {
    /// Starts allowed within `interval`.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// The sliding window the starts are counted in.
    #[serde(default = "default_limit_interval")]
    pub interval: Dur,
}

fn default_burst() -> u32 {
    5
}
fn default_limit_interval() -> Dur {
    Dur::secs(60)
}

impl Default for StartLimit {
    fn default() -> Self {
        StartLimit { burst: default_burst(), interval: default_limit_interval() }
    }
}

/// The signals a service may be asked to stop with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum StopSignal {
    /// SIGTERM, the default.
    #[default]
    Term,
    /// SIGINT, as Ctrl-C.
    Int,
    /// SIGHUP.
    Hup,
    /// SIGQUIT.
    Quit,
    /// SIGKILL: no grace at all.
    Kill,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
}

impl StopSignal {
    /// Every accepted signal with its conventional name.
    pub const ALL: [(StopSignal, &'static str); 7] = [
        (StopSignal::Term, "SIGTERM"),
        (StopSignal::Int, "SIGINT"),
        (StopSignal::Hup, "SIGHUP"),
        (StopSignal::Quit, "SIGQUIT"),
        (StopSignal::Kill, "SIGKILL"),
        (StopSignal::Usr1, "SIGUSR1"),
        (StopSignal::Usr2, "SIGUSR2"),
    ];

    /// The conventional name, such as `SIGTERM`.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(s, _)| *s == self).map(|(_, n)| *n).unwrap_or("SIGTERM")
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let upper = text.trim().to_ascii_uppercase();
        let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
        StopSignal::ALL.iter().find(|(_, n)| *n == full).map(|(s, _)| *s).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown signal '{text}', expected one of TERM, INT, HUP, QUIT, KILL, USR1, USR2"
            ))
        })
    }
}

/// What a dependent waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// The dependency's process is running.
    Started,
    /// The dependency passed its readiness probe (or runs, when it has none).
    Healthy,
    /// The dependency exited with code 0 (a one-shot setup task).
    Completed,
}

impl Condition {
    /// The word used in config and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
        }
    }
}

/// How captured output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Each line prefixed with an RFC 3339 timestamp and its stream.
    #[default]
    Timestamped,
    /// Exactly the child's bytes.
    Raw,
}

/// `log = { max_size, keep, format }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    /// Rotate when a file reaches this size; `"0"` turns rotation off.
    #[serde(default = "default_log_size")]
    pub max_size: ByteSize,
    /// Rotated files kept (`.1` … `.keep`).
    #[serde(default = "default_log_keep")]
    pub keep: u32,
    /// Timestamped lines or raw bytes.
    #[serde(default)]
    pub format: LogFormat,
}

fn default_log_size() -> ByteSize {
    ByteSize(10 << 20)
}
fn default_log_keep() -> u32 {
    5
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec { max_size: default_log_size(), keep: default_log_keep(), format: LogFormat::default() }
    }
}

/// A health check: exactly one of `http`, `tcp` or `exec`, with its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// GET this `http://` URL; a 2xx or 3xx answer passes.
    pub http: Option<String>,
    /// Connect to this `host:port`; an accepted connection passes.
    pub tcp: Option<String>,
    /// Run this command (never through a shell); exit 0 passes.
    pub exec: Option<Command>,
    /// Time between checks.
    #[serde(default = "default_probe_interval")]
    pub interval: Dur,
    /// Time one check may take.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Dur,
    /// Failures in a row that count as a failure of the service.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Wait this long after the process starts before the first check.
    #[serde(default)]
    pub initial_delay: Dur,
}

fn default_probe_interval() -> Dur {
    Dur::secs(2)
}
fn default_probe_timeout() -> Dur {
    Dur::secs(1)
}
fn default_failure_threshold() -> u32 {
    3
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            http: None,
            tcp: None,
            exec: None,
            interval: default_probe_interval(),
            timeout: default_probe_timeout(),
            failure_threshold: default_failure_threshold(),
            initial_delay: Dur::default(),
        }
    }
}

/// The one check a probe performs.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeCheck {
    /// An HTTP GET.
    Http(String),
    /// A TCP connect.
    Tcp(String),
    /// A command's exit status.
    Exec(Vec<String>),
}

impl Probe {
    /// The configured check; validation guarantees there is exactly one.
    pub fn check(&self) -> Option<ProbeCheck> {
        if let Some(u) = &self.http {
            return Some(ProbeCheck::Http(u.clone()));
        }
        if let Some(a) = &self.tcp {
            return Some(ProbeCheck::Tcp(a.clone()));
        }
        self.exec.as_ref().and_then(Command::argv).map(ProbeCheck::Exec)
    }

    /// The check in words, for reasons and events.
    pub fn describe(&self) -> String {
        match self.check() {
            Some(ProbeCheck::Http(u)) => format!("http {u}"),
            Some(ProbeCheck::Tcp(a)) => format!("tcp {a}"),
            Some(ProbeCheck::Exec(v)) => format!("exec {}", v.join(" ")),
            None => "no check".into(),
        }
    }

    /// Time between checks as a `Duration`.
    pub fn every(&self) -> Duration {
        self.interval.0
    }
}

/// What to do with a process of this service found alive from a daemon that died.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnOrphan {
    /// Stop its whole process group, then start the service afresh.
    #[default]
    Kill,
    /// Keep it running and watch it as if this daemon had started it.
    Adopt,
}
