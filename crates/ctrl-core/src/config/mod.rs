//! The `ctrl.toml` model: parsed strictly, validated whole, errors located.
//!
//! [`parse`] takes the file's text (the caller reads it) and returns either a
//! [`Config`] whose relative paths are resolved against the file's folder, or every
//! problem found, each naming file, line, column and key.

mod action;
mod agent;
mod alert;
mod check_actions;
mod error;
mod hub;
mod knowledge;
mod llm;
mod locate;
mod run_as;
mod server;
mod service;
mod units;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use action::{
    ActionKind, ActionSpec, BackupSource, Missed, ParamSpec, ParamType, ParamValue, Retention, ScheduleSpec,
    ServiceOp,
};
pub use agent::{AgentConfig, ComputerConfig, TOOL_FAMILIES, VncConfig, VncTarget};
pub use alert::{AlertKind, AlertsConfig, ChannelFormat, ChannelSpec, RuleSpec};
pub use error::{ConfigError, ConfigErrors};
pub use hub::HubConfig;
pub use knowledge::KnowledgeConfig;
pub use llm::{LlmConfig, Price, UpstreamSpec, model_matches};
pub use run_as::{Limit, Limits, Machine, parse_on};
pub use server::{BackupsConfig, MonitorConfig, ServerConfig, StorageConfig, TlsConfig};
pub use service::{
    Backoff, Command, Condition, LogFormat, LogSpec, OnOrphan, Probe, ProbeCheck, RestartPolicy, ServiceSpec,
    StartLimit, StopSignal,
};
pub use units::{ByteSize, Dur, parse_duration, parse_size};
pub use validate::{dependency_order, valid_name};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: listening address, state folder, live-update cadence.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[storage]`: the database URL.
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[monitor]`: host sampling settings.
    #[serde(default)]
    pub monitor: MonitorConfig,
    /// `[services.NAME]`: the supervised services, by name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    /// `[actions.NAME]`: whitelisted commands, service controls and backups.
    #[serde(default)]
    pub actions: BTreeMap<String, ActionSpec>,
    /// `[schedules.NAME]`: actions run at cron times (more can be added over the API).
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleSpec>,
    /// `[backups]`: where backups are kept.
    #[serde(default)]
    pub backups: BackupsConfig,
    /// `[alerts]`: webhooks and the rules that send to them.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// `[knowledge]`: folders of notes, scanned and searchable; absent, no knowledge base.
    pub knowledge: Option<KnowledgeConfig>,
    /// `[llm]`: the OpenAI-compatible gateway; absent, no gateway.
    pub llm: Option<LlmConfig>,
    /// `[agent]`: model sessions that operate the machine through ctrl's tools; absent, none.
    pub agent: Option<AgentConfig>,
    /// `[vnc]`: desktops reachable through the WebSocket bridge.
    #[serde(default)]
    pub vnc: VncConfig,
    /// `[hub]`: the hub this host reports to; absent, none.
    pub hub: Option<HubConfig>,
}

/// Parses and validates `text`, the content of the file at `path`.
///
/// Relative paths inside are made relative to `path`'s folder.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let mut config: Config = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => return Err(ConfigErrors(vec![locate::from_toml(&file, text, &e)])),
    };
    let problems = validate::validate(&config);
    if !problems.is_empty() {
        return Err(ConfigErrors(
            problems.into_iter().map(|p| locate::from_path(&file, text, &p.key, p.message)).collect(),
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    config.resolve_paths(base);
    Ok(config)
}

/// Joins `p` to `base` unless it is absolute.
fn under(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

impl Config {
    /// The built-in defaults, used when no config file exists; paths relative to `base`.
    pub fn defaults(base: &Path) -> Config {
        let mut c = Config::default();
        c.resolve_paths(base);
        c
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.server.state_dir = under(base, &self.server.state_dir);
        if let Some(tls) = &mut self.server.tls {
            tls.cert = under(base, &tls.cert);
            tls.key = under(base, &tls.key);
        }
        for spec in self.services.values_mut() {
            spec.cwd = Some(under(base, spec.cwd.as_deref().unwrap_or(Path::new("."))));
            if let Some(f) = &spec.env_file {
                spec.env_file = Some(under(base, f));
            }
        }
        for spec in self.actions.values_mut() {
            spec.cwd = Some(under(base, spec.cwd.as_deref().unwrap_or(Path::new("."))));
            if let Some(p) = spec.source.as_mut().and_then(|s| s.path.as_mut()) {
                *p = under(base, p);
            }
            if let Some(p) = &mut spec.into {
                *p = under(base, p);
            }
            for param in spec.params.values_mut() {
                if let Some(r) = &mut param.root {
                    *r = under(base, r);
                }
            }
        }
        if let Some(h) = &mut self.hub {
            h.enroll_token_file = h.enroll_token_file.as_deref().map(|f| under(base, f));
            h.ca = h.ca.as_deref().map(|f| under(base, f));
        }
        if let Some(k) = &mut self.knowledge {
            k.roots = k.roots.iter().map(|r| under(base, r)).collect();
            k.creators = k.creators.as_deref().map(|c| under(base, c));
        }
        self.backups.dir = Some(match self.backups.dir.take() {
            Some(d) => under(base, &d),
            None => self.server.state_dir.join("backups"),
        });
        self.storage.url = Some(match self.storage.url.take() {
            None => format!("sqlite://{}", self.server.state_dir.join("ctrl.db").display()),
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(p) => format!("sqlite://{}", under(base, Path::new(p)).display()),
                None => url,
            },
        });
    }

    /// Overrides from the environment (`CTRL_STATE_DIR`, `CTRL_LISTEN`, …), as DESIGN.md lists.
    ///
    /// The caller passes a lookup so that this stays free of process state.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = get("CTRL_STATE_DIR") {
            let old_db = format!("sqlite://{}", self.server.state_dir.join("ctrl.db").display());
            let old_backups = self.server.state_dir.join("backups");
            self.server.state_dir = PathBuf::from(v);
            if self.backups.dir.as_deref() == Some(old_backups.as_path()) {
                self.backups.dir = Some(self.server.state_dir.join("backups"));
            }
            if self.storage.url.as_deref() == Some(old_db.as_str()) {
                self.storage.url =
                    Some(format!("sqlite://{}", self.server.state_dir.join("ctrl.db").display()));
            }
        }
        if let Some(v) = get("CTRL_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = get("CTRL_DATABASE_URL") {
            self.storage.url = Some(v);
        }
        if let Some(v) = get("CTRL_CORS_ORIGINS") {
            self.server.cors_origins =
                v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
            for o in &self.server.cors_origins {
                validate::check_origin(o).map_err(|e| format!("CTRL_CORS_ORIGINS: {e}"))?;
            }
        }
        if let Some(v) = get("CTRL_WS_INTERVAL") {
            self.server.ws_interval = Dur(parse_duration(&v).map_err(|e| format!("CTRL_WS_INTERVAL: {e}"))?);
        }
        if let Some(v) = get("CTRL_PORT_SCAN_START") {
            self.monitor.port_range[0] =
                v.parse().map_err(|_| format!("CTRL_PORT_SCAN_START: '{v}' is not a port"))?;
        }
        if let Some(v) = get("CTRL_PORT_SCAN_END") {
            self.monitor.port_range[1] =
                v.parse().map_err(|_| format!("CTRL_PORT_SCAN_END: '{v}' is not a port"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
