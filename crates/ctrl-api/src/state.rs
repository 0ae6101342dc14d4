//! What every handler can reach.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use ctrl_host::Monitor;
use ctrl_proto::{ApiError, ReloadReport};
use ctrl_supervisor::Supervisor;
use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, watch};

use crate::auth::Token;

/// Re-reads the config and applies the difference (the binary knows where the file is).
pub type Reloader = Arc<dyn Fn() -> BoxFuture<'static, Result<ReloadReport, ApiError>> + Send + Sync>;

/// Settings of the API from `[server]` and `[monitor]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cadence of the live stats stream.
    pub ws_interval: Duration,
    /// Default range of the ports view.
    pub port_range: [u16; 2],
    /// Default number of processes listed.
    pub process_limit: u32,
    /// Origins allowed by CORS.
    pub cors_origins: Vec<String>,
}

/// Everything the API needs from the daemon.
pub struct Parts {
    /// The control layer.
    pub sup: Supervisor,
    /// The host monitor.
    pub monitor: Monitor,
    /// The API token.
    pub token: Token,
    /// The reload hook.
    pub reload: Reloader,
    /// API settings.
    pub settings: Settings,
    /// Becomes true when the daemon shuts down: streams close then.
    pub shutdown: watch::Receiver<bool>,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The control layer.
    pub sup: Supervisor,
    /// The host monitor.
    pub monitor: Monitor,
    /// The API token.
    pub token: Token,
    /// The reload hook.
    pub reload: Reloader,
    /// API settings.
    pub settings: Arc<Settings>,
    /// Daemon shutdown signal.
    pub shutdown: watch::Receiver<bool>,
    /// When the API started (uptime of /health).
    pub started: Instant,
    /// The stats sample of every `ws_interval`, serialised once, for every live client.
    pub stats_feed: broadcast::Sender<Utf8Bytes>,
}
