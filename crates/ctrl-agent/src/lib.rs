//! Agent sessions: a model, reached through the daemon's LLM gateway, operates
//! the machine through ctrl's own tools, each run with the role of the person
//! who asked and audited.
//!
//! One task per session owns its conversation ([`session`]): messages queue in
//! order and run one turn at a time; an interrupt or a deadline stops a turn
//! within the second and leaves the history valid. Every event is numbered,
//! stored, then sent ([`events`]), so `WS /ws/{id}?after=SEQ` and the SSE route
//! replay what a client missed and go live with nothing lost or repeated.

mod events;
mod history;
mod loopback;
mod model;
mod routes;
mod session;
mod stream;
mod tools;
mod turn;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ctrl_access::Access;
use ctrl_core::config::AgentConfig;
use ctrl_proto::{AgentSession, ErrorCode};
use ctrl_store::Store;
use ctrl_web::Failure;

pub use loopback::Loopback;
pub use routes::routes;

/// What every session's task shares.
pub struct Shared {
    store: Store,
    access: Access,
    loopback: Loopback,
    config: RwLock<Arc<AgentConfig>>,
}

impl Shared {
    /// The settings now (a turn keeps the ones it started with).
    pub fn config(&self) -> Arc<AgentConfig> {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The agent feature: its sessions' tasks, started when first needed.
#[derive(Clone)]
pub struct Agents(Arc<Inner>);

/// What [`Agents`] holds.
pub struct Inner {
    shared: Arc<Shared>,
    /// Running sessions' tasks by id. An async lock: starting a task reads the
    /// store, and two requests must not start two tasks for one session.
    sessions: tokio::sync::Mutex<HashMap<i64, Arc<session::Handle>>>,
    /// Set at shutdown: no task starts after it.
    closed: std::sync::atomic::AtomicBool,
}

/// The agent feature as a router's state: absent when `[agent]` is not configured.
#[derive(Clone, Default)]
pub struct AgentState(pub Option<Agents>);

impl AgentState {
    fn get(&self) -> Result<&Agents, Failure> {
        self.0.as_ref().ok_or_else(|| {
            Failure::new(ErrorCode::NotFound, "no agent sessions here: add an [agent] section to ctrl.toml")
        })
    }
}

impl Agents {
    /// Starts the feature: sessions the last daemon left running are marked interrupted.
    pub async fn start(
        config: &AgentConfig,
        store: Store,
        access: Access,
    ) -> Result<Agents, ctrl_store::StoreError> {
        let stopped = store.agent_sessions_interrupted().await?;
        if stopped > 0 {
            tracing::info!(
                sessions = stopped,
                "agent sessions left running by the last daemon are marked interrupted"
            );
        }
        let shared = Shared {
            store,
            access,
            loopback: Loopback::default(),
            config: RwLock::new(Arc::new(config.clone())),
        };
        Ok(Agents(Arc::new(Inner {
            shared: Arc::new(shared),
            sessions: Default::default(),
            closed: Default::default(),
        })))
    }

    /// The handle through which tools and model calls reach the daemon's API.
    pub fn loopback(&self) -> &Loopback {
        &self.0.shared.loopback
    }

    /// Applies a changed `[agent]`; turns under way keep the settings they started with.
    pub fn reload(&self, config: &AgentConfig) {
        *self.0.shared.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config.clone());
    }

    /// The settings now.
    pub fn config(&self) -> Arc<AgentConfig> {
        self.0.shared.config()
    }

    fn store(&self) -> &Store {
        &self.0.shared.store
    }

    fn access(&self) -> &Access {
        &self.0.shared.access
    }

    /// The task of a stored session, started if it is not running.
    async fn handle(&self, session: &AgentSession) -> Result<Arc<session::Handle>, Failure> {
        let mut sessions = self.0.sessions.lock().await;
        if let Some(h) = sessions.get(&session.id) {
            return Ok(h.clone());
        }
        if self.0.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Failure::new(ErrorCode::Unavailable, "the daemon is shutting down"));
        }
        let h = Arc::new(session::spawn(self.0.shared.clone(), session).await?);
        sessions.insert(session.id, h.clone());
        Ok(h)
    }

    /// Stops a session's task, once its events are stored (before the session is deleted).
    async fn forget(&self, id: i64) {
        let h = self.0.sessions.lock().await.remove(&id);
        if let Some(h) = h {
            h.close().await;
        }
    }

    /// Stops every session (their turns are interrupted) and lets the API go.
    pub async fn close(&self) {
        self.0.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let all: Vec<_> = self.0.sessions.lock().await.drain().map(|(_, h)| h).collect();
        futures_util::future::join_all(all.iter().map(|h| h.close())).await;
        self.0.shared.loopback.clear();
    }
}
