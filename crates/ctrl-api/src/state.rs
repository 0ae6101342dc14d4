//! What every handler can reach.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use ctrl_host::Monitor;
use ctrl_proto::{ApiError, ReloadReport};
use ctrl_supervisor::Supervisor;
use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, watch};

use axum::extract::FromRef;
use ctrl_access::Access;

/// What an unfiltered process list depends on.
pub type ProcessesKey = (chrono::DateTime<chrono::Utc>, u32, crate::routes::system::SortKey);

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
    /// Whether the API is served over TLS (session cookies are then `Secure`).
    pub tls: bool,
}

/// Everything the API needs from the daemon.
pub struct Parts {
    /// The control layer.
    pub sup: Supervisor,
    /// The job runner.
    pub jobs: ctrl_jobs::Jobs,
    /// The alert engine.
    pub alerts: ctrl_alerts::Alerts,
    /// The host monitor.
    pub monitor: Monitor,
    /// The knowledge base, when configured.
    pub knowledge: ctrl_kb::KbState,
    /// The LLM gateway, when configured.
    pub llm: ctrl_llm::LlmState,
    /// Agent sessions, when configured.
    pub agent: ctrl_agent::AgentState,
    /// The VNC bridge's targets.
    pub vnc: ctrl_vnc::VncState,
    /// The hosts behind this daemon as a hub.
    pub hub: ctrl_hub::HubState,
    /// The daemon's own router, for requests made on someone's behalf (a hub's).
    pub loopback: ctrl_web::Loopback,
    /// Users, sessions, tokens, roles and the audit log.
    pub access: Access,
    /// The reload hook.
    pub reload: Reloader,
    /// API settings.
    pub settings: Settings,
    /// Becomes true when the daemon shuts down: streams close then.
    pub shutdown: watch::Receiver<bool>,
}

/// Shared by every handler: one pointer, so that the per-request clones axum
/// makes (extractors, middleware state) cost one atomic increment, not one per field.
#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// What the API shares.
pub struct AppInner {
    /// The control layer.
    pub sup: Supervisor,
    /// The job runner.
    pub jobs: ctrl_jobs::Jobs,
    /// The alert engine.
    pub alerts: ctrl_alerts::Alerts,
    /// The host monitor.
    pub monitor: Monitor,
    /// Users, sessions, tokens, roles and the audit log.
    pub access: Access,
    /// The knowledge base, when configured.
    pub knowledge: ctrl_kb::KbState,
    /// The LLM gateway, when configured.
    pub llm: ctrl_llm::LlmState,
    /// Agent sessions, when configured.
    pub agent: ctrl_agent::AgentState,
    /// The VNC bridge's targets.
    pub vnc: ctrl_vnc::VncState,
    /// The hosts behind this daemon as a hub.
    pub hub: ctrl_hub::HubState,
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
    /// The last unfiltered process list answered: (sample time, limit, order) and the body.
    pub processes_cache: Arc<Mutex<Option<(ProcessesKey, Bytes)>>>,
    /// Open WebSockets: upgraded connections outlive the HTTP server's own
    /// shutdown, so the daemon waits on this count to let them say goodbye.
    pub sockets: Arc<watch::Sender<usize>>,
}

impl AppState {
    /// Waits (at most `limit`) until every WebSocket has sent its close frame.
    pub async fn sockets_closed(&self, limit: Duration) {
        let mut rx = self.sockets.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|n| *n == 0)).await;
    }
}

/// The access feature's own state, for its routes and middleware.
impl FromRef<AppState> for Access {
    fn from_ref(st: &AppState) -> Access {
        st.access.clone()
    }
}

/// Counts one open WebSocket for as long as it lives.
pub struct SocketGuard(Arc<watch::Sender<usize>>);

impl SocketGuard {
    /// Counts a new socket.
    pub fn new(st: &AppState) -> SocketGuard {
        st.sockets.send_modify(|n| *n += 1);
        SocketGuard(st.sockets.clone())
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The knowledge base's own state, for its routes.
impl FromRef<AppState> for ctrl_kb::KbState {
    fn from_ref(st: &AppState) -> ctrl_kb::KbState {
        st.knowledge.clone()
    }
}

/// The LLM gateway's own state, for its routes.
impl FromRef<AppState> for ctrl_llm::LlmState {
    fn from_ref(st: &AppState) -> ctrl_llm::LlmState {
        st.llm.clone()
    }
}

/// Agent sessions' own state, for their routes.
impl FromRef<AppState> for ctrl_agent::AgentState {
    fn from_ref(st: &AppState) -> ctrl_agent::AgentState {
        st.agent.clone()
    }
}

/// The hub's own state, for its routes.
impl FromRef<AppState> for ctrl_hub::HubState {
    fn from_ref(st: &AppState) -> ctrl_hub::HubState {
        st.hub.clone()
    }
}

/// The VNC bridge's own state, for its route.
impl FromRef<AppState> for ctrl_vnc::VncState {
    fn from_ref(st: &AppState) -> ctrl_vnc::VncState {
        st.vnc.clone()
    }
}
