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

pub use routes::routes;

/// Runs a store call as its own task, bounded in time, and waits for it. A turn, a
/// stream or a socket's read of the store may be dropped halfway (an interrupt, a
/// client leaving), and a sqlx SQLite query dropped halfway leaves the pool's one
/// connection unusable, hanging the whole store: a task finishes regardless.
pub(crate) async fn uncut<T: Send + 'static>(
    call: impl std::future::Future<Output = Result<T, ctrl_store::StoreError>> + Send + 'static,
) -> Result<T, ctrl_store::StoreError> {
    tokio::spawn(ctrl_store::retry::bounded(call)).await.unwrap_or_else(|e| {
        Err(ctrl_store::StoreError::Unavailable(format!("a store call's task ended: {e}")))
    })
}

/// What every session's task shares.
pub struct Shared {
    store: Store,
    access: Access,
    loopback: ctrl_web::Loopback,
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
    /// Running sessions' tasks, and deleted sessions. An async lock: starting a task
    /// reads the store, and two requests must not start two tasks for one session.
    sessions: tokio::sync::Mutex<Registry>,
    /// Set at shutdown: no task starts after it.
    closed: std::sync::atomic::AtomicBool,
}

/// Which sessions have a task, and which were deleted (none may start again).
#[derive(Default)]
struct Registry {
    running: HashMap<i64, Arc<session::Handle>>,
    deleted: std::collections::HashSet<i64>,
}

/// How long `close` waits for the sessions' last events to be stored at shutdown.
const CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

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
            loopback: ctrl_web::Loopback::default(),
            config: RwLock::new(Arc::new(config.clone())),
        };
        Ok(Agents(Arc::new(Inner {
            shared: Arc::new(shared),
            sessions: Default::default(),
            closed: Default::default(),
        })))
    }

    /// The handle through which tools and model calls reach the daemon's API.
    pub fn loopback(&self) -> &ctrl_web::Loopback {
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
        let gone = || Failure::new(ErrorCode::NotFound, format!("no session {}", session.id));
        let mut sessions = self.0.sessions.lock().await;
        if sessions.deleted.contains(&session.id) {
            return Err(gone());
        }
        if let Some(h) = sessions.running.get(&session.id).cloned() {
            if !h.is_closed() {
                return Ok(h);
            }
            // It stopped, idle and unwatched: its last events are stored before a new one reads them.
            h.finished().await;
            sessions.running.remove(&session.id);
        }
        if self.0.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Failure::new(ErrorCode::Unavailable, "the daemon is shutting down"));
        }
        // Read again under the lock: the caller's copy may be older than the last task's events.
        let fresh = self.store().agent_session(session.id).await?.ok_or_else(gone)?;
        let h = Arc::new(session::spawn(self.0.shared.clone(), &fresh).await?);
        sessions.running.insert(session.id, h.clone());
        Ok(h)
    }

    /// Stops a session's task for good, once its events are stored (before the session is deleted).
    async fn forget(&self, id: i64) {
        let h = {
            let mut sessions = self.0.sessions.lock().await;
            sessions.deleted.insert(id);
            sessions.running.remove(&id)
        };
        if let Some(h) = h {
            h.close().await;
        }
    }

    /// Stops every session (their turns are interrupted) and lets the API go; waits at
    /// most [`CLOSE_LIMIT`] for their last events to be stored (the database may be down).
    pub async fn close(&self) {
        self.0.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let all: Vec<_> = self.0.sessions.lock().await.running.drain().map(|(_, h)| h).collect();
        let closed = futures_util::future::join_all(all.iter().map(|h| h.close()));
        if tokio::time::timeout(CLOSE_LIMIT, closed).await.is_err() {
            tracing::warn!(
                "agent sessions' last events were not all stored within {}s",
                CLOSE_LIMIT.as_secs()
            );
        }
        self.0.shared.loopback.clear();
    }
}
