//! `[server]`, `[storage]` and `[monitor]`: daemon-wide settings.

use std::path::PathBuf;

use serde::Deserialize;

use super::units::Dur;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP API; loopback unless the admin writes otherwise.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Origins allowed by CORS.
    #[serde(default = "default_cors")]
    pub cors_origins: Vec<String>,
    /// Cadence of the live stats stream.
    #[serde(default = "default_ws_interval")]
    pub ws_interval: Dur,
    /// Folder of the database, logs, token and control socket.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Serve HTTPS with this certificate and key (PEM files).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// `scheme://host:port` where other hubs on a shared database reach this one
    /// (default: the listening address, with the hostname for an unspecified one).
    #[serde(default)]
    pub advertise: Option<String>,
}

/// `[server.tls]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_cors() -> Vec<String> {
    vec!["http://localhost:3000".into()]
}
fn default_ws_interval() -> Dur {
    Dur::secs(2)
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            cors_origins: default_cors(),
            ws_interval: default_ws_interval(),
            state_dir: default_state_dir(),
            tls: None,
            advertise: None,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` (default `state_dir/ctrl.db`) or `postgres://…`.
    pub url: Option<String>,
    /// PostgreSQL's pool size: queries at once (default 16; SQLite keeps one connection).
    pub max_connections: Option<u32>,
    /// Several hubs on this PostgreSQL database, behind one address: each runs no
    /// services, actions, schedules, knowledge base, gateway or agent of its own.
    #[serde(default)]
    pub shared: bool,
}

/// `[monitor]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Host sampling cadence.
    #[serde(default = "default_sample")]
    pub sample_interval: Dur,
    /// Ports shown by default in the ports view.
    #[serde(default = "default_port_range")]
    pub port_range: [u16; 2],
    /// Processes listed by default.
    #[serde(default = "default_process_limit")]
    pub process_limit: u32,
}

fn default_sample() -> Dur {
    Dur::secs(1)
}
fn default_port_range() -> [u16; 2] {
    [3000, 9000]
}
fn default_process_limit() -> u32 {
    50
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            sample_interval: default_sample(),
            port_range: default_port_range(),
            process_limit: default_process_limit(),
        }
    }
}

/// `[backups]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsConfig {
    /// The backups root: `<dir>/<target>/<time>.<ext>` (default `state_dir/backups`).
    pub dir: Option<PathBuf>,
}
