//! [`Supervisor`]: the one control layer. The CLI's socket and the HTTP API call
//! these methods; nothing else reaches a service's task.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctrl_core::config::{Config, dependency_order};
use ctrl_core::service::Input;
use ctrl_core::{ServiceEvent, Status};
use ctrl_proto::{LogLine, LogStream, ServiceInfo};
use ctrl_store::Store;
use tokio::sync::{broadcast, oneshot, watch};

use crate::actor::{ActorMsg, Registry, ServiceHandle, Shared, spawn_actor};
use crate::bus::EventBus;
use crate::error::ControlError;
use crate::logs::{Chunk, last_lines_of, logs_dir};
use crate::snapshot::Snapshot;

/// The most lines one log request returns.
pub const MAX_LOG_LINES: usize = 100_000;

/// Handle to the running supervisor; cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub shared: Shared,
    pub store: Store,
    pub state_dir: PathBuf,
    pub config: Mutex<Config>,
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Set once shutdown began: starts, restarts and reloads are refused.
    pub closing: AtomicBool,
}

impl Supervisor {
    /// Creates a task per configured service; nothing runs until [`Supervisor::boot`].
    ///
    /// Two steps so that callers can subscribe to the bus before the first transition.
    pub async fn new(config: Config, store: Store) -> Result<Supervisor, ControlError> {
        let bus = EventBus::new(store.clone());
        let registry: Registry = Arc::new(RwLock::new(BTreeMap::new()));
        let sup = Supervisor {
            inner: Arc::new(Inner {
                shared: Shared { bus, registry },
                store,
                state_dir: config.server.state_dir.clone(),
                config: Mutex::new(config.clone()),
                reload_lock: tokio::sync::Mutex::new(()),
                closing: AtomicBool::new(false),
            }),
        };
        std::fs::create_dir_all(sup.inner.state_dir.join("logs"))
            .map_err(|e| ControlError::Logs("all services".into(), e))?;
        let names: Vec<String> = config.services.keys().cloned().collect();
        sup.add_services(&config, &names).await?;
        Ok(sup)
    }

    /// Deals with processes left by a previous daemon (`on_orphan`), then starts
    /// the autostart services; each waits for its own dependencies.
    pub async fn boot(&self) -> Result<(), ControlError> {
        let config = self.config();
        // Hubs sharing a database run no services: processes recorded there are
        // another daemon's, perhaps on another machine, and never theirs to stop.
        let rows = match config.storage.shared {
            true => Vec::new(),
            false => self.inner.store.service_rows().await?,
        };
        let adopted = crate::orphans::handle(self, &rows, &config).await;
        for (name, spec) in &config.services {
            if spec.autostart && !adopted.contains(name) {
                let _ = self.send(name, Input::Start { reason: "autostart".into(), trial: false }).await;
            }
        }
        Ok(())
    }

    /// Declares `names` in the store and starts a task for each (not the services).
    pub(crate) async fn add_services(&self, config: &Config, names: &[String]) -> Result<(), ControlError> {
        let created = self.declare(config, names).await?;
        self.spawn_actors(config, names, &created);
        Ok(())
    }

    /// Writes the services' rows; returns when each was first seen.
    pub(crate) async fn declare(
        &self,
        config: &Config,
        names: &[String],
    ) -> Result<BTreeMap<String, DateTime<Utc>>, ControlError> {
        let declared: Vec<_> = names
            .iter()
            .filter_map(|n| config.services.get(n).map(|s| (n.clone(), s.port, s.command.display())))
            .collect();
        self.inner.store.declare_services(&declared).await?;
        Ok(self.inner.store.service_rows().await?.into_iter().map(|r| (r.name, r.created_at)).collect())
    }

    /// Starts a task for each of `names` (infallible, so a reload never half-applies).
    pub(crate) fn spawn_actors(
        &self,
        config: &Config,
        names: &[String],
        created: &BTreeMap<String, DateTime<Utc>>,
    ) {
        let mut reg = self.inner.shared.registry.write().unwrap_or_else(|p| p.into_inner());
        for name in names {
            let Some(spec) = config.services.get(name) else { continue };
            let created_at = created.get(name).copied().unwrap_or_else(Utc::now);
            let spec = Arc::new(spec.clone());
            let handle =
                spawn_actor(name, spec, created_at, &self.inner.state_dir, self.inner.shared.clone());
            reg.insert(name.clone(), handle);
        }
    }

    /// Refuses new work once the daemon is shutting down.
    pub(crate) fn ensure_open(&self) -> Result<(), ControlError> {
        if self.inner.closing.load(Ordering::SeqCst) { Err(ControlError::ShuttingDown) } else { Ok(()) }
    }

    /// The event bus, for live subscribers.
    pub fn bus(&self) -> &EventBus {
        &self.inner.shared.bus
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The config in force.
    pub fn config(&self) -> Config {
        self.inner.config.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every service, by name.
    pub fn services(&self) -> Vec<ServiceInfo> {
        let reg = self.registry();
        reg.iter().map(|(n, h)| info(n, h)).collect()
    }

    /// One service.
    pub fn service(&self, name: &str) -> Result<ServiceInfo, ControlError> {
        self.with(name, |h| info(name, h))
    }

    /// Starts a service, and first any dependency of it that is simply stopped.
    pub async fn start_service(&self, name: &str) -> Result<ServiceInfo, ControlError> {
        let wait = self.default_wait(name)?;
        Ok(self.start_and_wait(name, Some(wait)).await?.into_info())
    }

    /// Stops a service and waits until its whole process group is gone.
    pub async fn stop_service(&self, name: &str) -> Result<ServiceInfo, ControlError> {
        self.send(name, Input::Stop).await?;
        self.wait_settled(name).await;
        self.service(name)
    }

    /// Restarts a service (a start when it is not running) and waits for the new
    /// start's outcome, as long as its start window (at most 30 s).
    pub async fn restart_service(&self, name: &str) -> Result<ServiceInfo, ControlError> {
        let wait = self.default_wait(name)?;
        Ok(self.restart_and_wait(name, Some(wait)).await?.into_info())
    }

    /// Starts every service that is not running.
    pub async fn start_all(&self) -> Vec<ServiceInfo> {
        for name in self.names().into_iter().filter(|_| self.ensure_open().is_ok()) {
            let _ =
                self.send(&name, Input::Start { reason: "started by request".into(), trial: false }).await;
        }
        self.services()
    }

    /// Stops every service, dependents before what they depend on.
    pub async fn stop_all(&self) -> Vec<ServiceInfo> {
        let layers = dependency_order(&self.config().services);
        for layer in layers.iter().rev() {
            for name in layer {
                let _ = self.send(name, Input::Stop).await;
            }
            for name in layer {
                self.wait_settled(name).await;
            }
        }
        self.services()
    }

    /// Restarts every service: a stop of all in reverse order, then a start of all.
    pub async fn restart_all(&self) -> Vec<ServiceInfo> {
        self.stop_all().await;
        self.start_all().await
    }

    /// The last `lines` lines of a service's output, oldest first.
    pub async fn logs(
        &self,
        name: &str,
        lines: usize,
        stream: LogStream,
    ) -> Result<Vec<LogLine>, ControlError> {
        self.service(name)?;
        let lines = lines.min(MAX_LOG_LINES);
        let dir = self.inner.state_dir.clone();
        let owned = name.to_owned();
        let read = move || last_lines_of(&logs_dir(&dir), &owned, lines, stream);
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| ControlError::Logs(name.into(), std::io::Error::other(e)))?
            .map_err(|e| ControlError::Logs(name.into(), e))
    }

    /// Live output of a service from now on.
    pub fn follow_logs(&self, name: &str) -> Result<broadcast::Receiver<Arc<Chunk>>, ControlError> {
        self.with(name, |h| h.follow.subscribe())
    }

    /// A service's recent transitions, oldest first.
    pub async fn events(&self, name: &str, limit: u32) -> Result<Vec<ServiceEvent>, ControlError> {
        self.service(name)?;
        self.bus().flush().await;
        Ok(self.inner.store.events(name, limit).await?)
    }

    /// Stops everything in reverse dependency order, ends every task and
    /// writes the event log one last time. Used on SIGINT/SIGTERM. From here on starts,
    /// restarts and reloads are refused, and a reload in progress finishes first.
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        let _no_reload = self.inner.reload_lock.lock().await;
        self.stop_all().await;
        for name in self.names() {
            self.quit_in_place(&name).await;
        }
        let handles: Vec<ServiceHandle> = {
            let mut reg = self.inner.shared.registry.write().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *reg).into_values().collect()
        };
        for h in handles {
            h.task.abort();
        }
        self.bus().close().await;
    }

    /// Asks a service's task to stop the service and end; bounded by its stop budget.
    async fn quit_in_place(&self, name: &str) {
        let Ok(tx) = self.with(name, |h| h.tx.clone()) else { return };
        let (reply, rx) = oneshot::channel();
        if tx.send(ActorMsg::Quit { reply }).await.is_ok()
            && tokio::time::timeout(self.stop_budget(name), rx).await.is_err()
        {
            tracing::error!(service = %name, "the service's task did not finish stopping in time");
        }
    }

    /// The services by name, for reading.
    fn registry(&self) -> RwLockReadGuard<'_, BTreeMap<String, ServiceHandle>> {
        self.inner.shared.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to the handle of `name`, or says there is no such service.
    pub(crate) fn with<T>(&self, name: &str, f: impl FnOnce(&ServiceHandle) -> T) -> Result<T, ControlError> {
        self.registry().get(name).map(f).ok_or_else(|| ControlError::UnknownService(name.into()))
    }

    /// Cuts every stop short: every live service's group gets SIGKILL now, in no
    /// particular order (the second Ctrl-C).
    pub async fn hurry(&self) {
        for name in self.names() {
            let _ = self.send(&name, Input::Stop).await;
            let _ = self.send(&name, Input::StopTimedOut).await;
        }
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.registry().keys().cloned().collect()
    }

    pub(crate) fn watcher(&self, name: &str) -> Result<watch::Receiver<Snapshot>, ControlError> {
        self.with(name, |h| h.state.clone())
    }

    /// Sends a request to a service's task and returns its answer.
    pub(crate) async fn send(&self, name: &str, input: Input) -> Result<(), ControlError> {
        let tx = self.with(name, |h| h.tx.clone())?;
        let (reply, rx) = oneshot::channel();
        tx.send(ActorMsg::Control { input, reply }).await.map_err(|_| ControlError::ShuttingDown)?;
        rx.await
            .map_err(|_| ControlError::ShuttingDown)?
            .map_err(|refusal| ControlError::Refused { name: name.into(), refusal })
    }

    pub(crate) async fn send_raw(&self, name: &str, msg: ActorMsg) {
        if let Ok(tx) = self.with(name, |h| h.tx.clone()) {
            let _ = tx.send(msg).await;
        }
    }

    /// Waits until the service is no longer live (bounded by its stop timeout and a margin).
    pub(crate) async fn wait_settled(&self, name: &str) {
        if let Ok(rx) = self.watcher(name) {
            wait_until(
                rx,
                |s| !s.view.status.is_live() || s.view.status == Status::Starting && s.view.pid.is_none(),
                self.stop_budget(name),
            )
            .await;
        }
    }

    pub(crate) fn stop_budget(&self, name: &str) -> Duration {
        self.with(name, |h| h.spec.stop_timeout.0).unwrap_or_default() + Duration::from_secs(5)
    }

    /// Transitive dependencies of `name` that are plain `stopped`.
    pub(crate) fn stopped_dependencies(&self, name: &str) -> Result<Vec<String>, ControlError> {
        let reg = self.registry();
        if !reg.contains_key(name) {
            return Err(ControlError::UnknownService(name.into()));
        }
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_owned()];
        while let Some(n) = todo.pop() {
            for dep in
                reg.get(&n).map(|h| h.spec.depends_on.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()
            {
                if seen.insert(dep.clone()) {
                    todo.push(dep);
                }
            }
        }
        Ok(seen
            .into_iter()
            .filter(|d| reg.get(d).is_some_and(|h| h.state.borrow().view.status == Status::Stopped))
            .collect())
    }
}

/// Ends a service's task after stopping it (bounded: a stuck task is aborted).
pub(crate) async fn quit(h: ServiceHandle) {
    let budget = h.spec.stop_timeout.0 + Duration::from_secs(10);
    let (reply, rx) = oneshot::channel();
    if h.tx.send(ActorMsg::Quit { reply }).await.is_ok() && tokio::time::timeout(budget, rx).await.is_err() {
        tracing::error!("a service's task did not finish stopping in time; abandoning it");
    }
    h.task.abort();
    let _ = h.task.await;
}

pub(crate) async fn wait_until(
    mut rx: watch::Receiver<Snapshot>,
    done: impl Fn(&Snapshot) -> bool,
    limit: Duration,
) {
    let _ = tokio::time::timeout(limit, rx.wait_for(|s| done(s))).await;
}

fn info(name: &str, h: &ServiceHandle) -> ServiceInfo {
    let s = h.state.borrow();
    ServiceInfo {
        name: name.to_owned(),
        status: s.view.status,
        pid: s.view.pid,
        port: h.spec.port,
        command: h.spec.command.display(),
        restarts: s.view.restarts,
        uptime_s: s.view.up_since.map(|t| t.elapsed().as_secs()),
        health: s.view.health,
        exit_code: s.view.exit_code,
        signal: s.view.signal.clone(),
        reason: s.view.reason.clone(),
        cpu_percent: None,
        memory_bytes: None,
        created_at: h.created_at,
        updated_at: s.updated_at,
    }
}
