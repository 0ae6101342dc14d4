//! The daemon's wiring: store, supervisor, host monitor, the API on TCP and on
//! the unix socket, console, signals.

mod console;
mod http;
mod https;
mod hub;

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{Context, bail};
use ctrl_core::Config;
use ctrl_proto::ApiError;
use ctrl_store::{Store, StoreOptions};
use ctrl_supervisor::{ReloadReport, Supervisor};
use nix::fcntl::{Flock, FlockArg};
use tokio::signal::unix::{SignalKind, signal};

use crate::locate;

/// Structured logs of the daemon itself on stderr, filtered by `CTRL_LOG`
/// (`info`, `warn,ctrl_supervisor=debug`, …: per-target levels, no regexes).
pub fn init_tracing() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let default = || "warn,ctrl=info,ctrl_supervisor=info".parse::<Targets>().unwrap_or_default();
    let filter = match std::env::var("CTRL_LOG") {
        Ok(v) => v.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("ctrl: CTRL_LOG='{v}' is not a filter ({e}); using the default");
            default()
        }),
        Err(_) => default(),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    tracing_subscriber::registry().with(fmt).with(filter).init();
}

/// What the socket server and signal handlers need.
#[derive(Clone)]
pub struct Daemon {
    /// The control layer.
    pub sup: Supervisor,
    /// The job runner and scheduler.
    pub jobs: ctrl_jobs::Jobs,
    /// The alert engine.
    pub alerts: ctrl_alerts::Alerts,
    /// The knowledge base, when configured.
    pub knowledge: Option<ctrl_kb::Knowledge>,
    /// The LLM gateway, when configured.
    pub llm: Option<ctrl_llm::Gateway>,
    /// Agent sessions, when configured.
    pub agent: Option<ctrl_agent::Agents>,
    /// The VNC bridge's targets.
    pub vnc: ctrl_vnc::VncState,
    /// Users, sessions, tokens, roles and the audit log.
    pub access: ctrl_access::Access,
    /// The hosts behind this daemon as a hub.
    pub hub: ctrl_hub::HubState,
    /// The daemon's own router, for requests made on someone's behalf.
    pub loopback: ctrl_web::Loopback,
    /// The file to re-read on reload (none: built-in defaults).
    pub config_path: Option<PathBuf>,
}

impl Daemon {
    /// The config's folder is an internal path: clients see only the file's name.
    fn without_paths(&self, msg: String) -> String {
        let Some(path) = &self.config_path else { return msg };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        msg.replace(&*abs.to_string_lossy(), &name).replace(&*path.to_string_lossy(), &name)
    }

    /// Re-reads the config file and applies the difference.
    pub async fn reload(&self) -> Result<ReloadReport, ApiError> {
        let machine = locate::ThisMachine { assume_root: false };
        let (new, _) = locate::load_config_on(self.config_path.as_deref(), Some(&machine)).map_err(|e| {
            tracing::warn!("reload refused: {e:#}");
            ApiError::new(ctrl_proto::ErrorCode::Validation, self.without_paths(format!("{e:#}")))
        })?;
        // The database and how it is claimed hold for the daemon's life: a hub
        // sharing its database must not become a daemon with services by a reload.
        if new.storage != self.sup.config().storage {
            return Err(ApiError::new(
                ctrl_proto::ErrorCode::Validation,
                "[storage] changed: restart ctrl to use another database or to share it",
            ));
        }
        let report = self.sup.reload(new.clone()).await.map_err(ApiError::from)?;
        self.jobs.set_config(&new);
        self.jobs.sync_schedules(&new).await.map_err(ApiError::from)?;
        self.alerts.set_config(&new.alerts);
        match (&self.llm, &new.llm) {
            (Some(gw), Some(llm)) => {
                if let Err(e) = gw.reload(llm) {
                    tracing::warn!("[llm] not reloaded: {e}");
                }
            }
            (None, Some(_)) => tracing::warn!("[llm] was added: restart ctrl to start the LLM gateway"),
            (Some(_), None) => tracing::warn!("[llm] was removed: the LLM gateway runs until ctrl restarts"),
            (None, None) => {}
        }
        match (&self.agent, &new.agent) {
            (Some(agents), Some(a)) => agents.reload(a),
            (None, Some(_)) => tracing::warn!("[agent] was added: restart ctrl to start agent sessions"),
            (Some(_), None) => tracing::warn!("[agent] was removed: agent sessions run until ctrl restarts"),
            (None, None) => {}
        }
        self.vnc.reload(&new.vnc);
        tracing::info!(?report, "config reloaded");
        Ok(report)
    }
}

/// Runs until SIGINT/SIGTERM, then stops every service in reverse dependency order.
pub async fn run(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let state_dir = config.server.state_dir.clone();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&state_dir)
        .with_context(|| format!("cannot create the state dir {}", state_dir.display()))?;
    let _lock = lock_state_dir(&state_dir)?;
    // Supervision reads processes in /proc (a container's PID 1 included).
    if std::fs::metadata("/proc/self/stat").is_err() {
        anyhow::bail!(
            "/proc is not mounted: ctrl needs it to watch processes (a container mounts it; with unshare, add --mount-proc)"
        );
    }
    ctrl_supervisor::reaper::start().context("cannot watch for exited processes")?;
    let url = config.storage.url.clone().unwrap_or_default();
    let defaults = StoreOptions::default();
    let options = StoreOptions {
        max_connections: config.storage.max_connections.unwrap_or(defaults.max_connections),
        migrate: false,
        ..defaults
    };
    let store = Store::open_with(&url, &options).await?;
    // Claimed for as long as the daemon runs (no second daemon, no `ctrl db copy`
    // meanwhile), and migrated only once claimed: never under another daemon.
    let hold = match config.storage.shared {
        true => store.hold_shared().await?,
        false => store.hold().await?,
    };
    store.migrate().await?;
    tracing::info!(database = store.label(), "store open");
    let sock_path = locate::socket_path(&state_dir)?;
    let _ = std::fs::remove_file(&sock_path);
    // No moment in which the trusted socket is open to others: it is born 0600.
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let unix = tokio::net::UnixListener::bind(&sock_path);
    nix::sys::stat::umask(umask);
    let unix = unix.with_context(|| format!("cannot listen on {}", sock_path.display()))?;
    std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o600))?;
    let tcp = http::bind(&config.server.listen, &state_dir).await?;
    let tls = http::tls(&config.server)?;
    let token = ctrl_access::Token::load_or_create(&state_dir)
        .with_context(|| format!("cannot write the API token in {}", state_dir.display()))?;
    let server_settings = (config.server.clone(), config.monitor.clone());

    // The first-start token is an admin token like any other (revocable: a revoked
    // hash stays in the store, so it is not brought back at the next start).
    store.add_token("initial", &token.hash(), ctrl_core::Role::Admin, None, None).await?;
    let count = config.services.len();
    let jobs_config = config.clone();
    let hub_config = config.hub.clone();
    let config_shared = config.storage.shared;
    let sup = Supervisor::new(config, store.clone()).await?;
    let jobs = ctrl_jobs::Jobs::new(&jobs_config, store.clone(), sup.clone()).await?;
    jobs.sync_schedules(&jobs_config).await?;
    let knowledge = match &jobs_config.knowledge {
        Some(k) => Some(
            ctrl_kb::Knowledge::start(k, &state_dir, store.clone(), jobs.clone())
                .await
                .context("cannot start the knowledge base")?,
        ),
        None => None,
    };
    let llm = match &jobs_config.llm {
        Some(l) => {
            Some(ctrl_llm::Gateway::start(l, store.clone()).await.context("cannot start the LLM gateway")?)
        }
        None => None,
    };
    let access = ctrl_access::Access::new(store.clone(), tls.is_some());
    let agent = match &jobs_config.agent {
        Some(a) => Some(
            ctrl_agent::Agents::start(a, store.clone(), access.clone())
                .await
                .context("cannot start agent sessions")?,
        ),
        None => None,
    };
    let (background_stop, background_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(ctrl_jobs::scheduler::run(
        jobs.clone(),
        std::sync::Arc::new(ctrl_jobs::SystemClock),
        background_rx.clone(),
    ));
    let pids = sup.clone();
    let host = ctrl_host::Monitor::start(jobs_config.monitor.sample_interval.0, move || {
        let mains = pids.services().into_iter().filter_map(|s| Some((s.pid?, s.name)));
        // A service's daemonised processes (strays) count in it, with their trees.
        let strays = ctrl_host::children::strays().into_iter().filter(|s| !s.zombie);
        mains.chain(strays.filter_map(|s| Some((s.pid, s.service?)))).collect()
    });
    let alerts = ctrl_alerts::Alerts::new(&jobs_config.alerts, store.clone());
    ctrl_alerts::start(&alerts, sup.clone(), jobs.clone(), host.clone(), background_rx);
    let console = tokio::spawn(console::print_transitions(sup.clone(), sup.bus().subscribe()));
    // Signals are caught from before the first service starts: one that comes while
    // the daemon is still starting up waits here instead of killing it with its
    // services left running.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    // The hub hears of every service event, the first starts included.
    let shared = match config_shared {
        true => Some(hub::advert(&server_settings.0, tcp.local_addr()?)?),
        false => None,
    };
    let hub = ctrl_hub::HubState::new(store.clone(), access.clone(), shared)?;
    hub.start().await;
    hub::alert_on_hosts(hub.clone(), alerts.clone());
    let loopback = ctrl_web::Loopback::default();
    let uplink = match &hub_config {
        Some(h) => {
            let u = ctrl_hub::Uplink::start(h, &state_dir, loopback.clone())
                .context("cannot start the link to the hub")?;
            hub::feed(u.clone(), sup.clone(), host.clone(), &alerts);
            Some(u)
        }
        None => None,
    };
    sup.boot().await?;
    let daemon = Daemon {
        sup: sup.clone(),
        jobs: jobs.clone(),
        alerts,
        knowledge,
        llm: llm.clone(),
        agent: agent.clone(),
        vnc: ctrl_vnc::VncState::new(&jobs_config.vnc),
        access,
        hub: hub.clone(),
        loopback: loopback.clone(),
        config_path,
    };
    let https = tls.is_some();
    let server = http::Server::start(&daemon, server_settings, host, tcp, tls, unix)?;
    // What only start-up needed goes back to the system.
    ctrl_supervisor::memory::give_back_heap();
    tracing::info!(services = count, state_dir = %state_dir.display(), socket = %sock_path.display(),
        api = %server.addr, "ctrl is up");
    first_admin_link(&daemon.access, server.addr, https).await;

    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if let Err(e) = daemon.reload().await {
                    tracing::error!("reload refused: {}", e.error);
                }
            }
        }
    }
    // Turns stop first: no tool acts while services stop.
    if let Some(agents) = &agent {
        agents.close().await;
    }
    let _ = background_stop.send(true);
    let _ = scheduler.await;
    jobs.shutdown().await;
    tracing::info!("stopping every service (signal again to kill them at once)");
    // The socket stays up while stopping (status and stop still answer; starts are refused).
    let shutdown = sup.shutdown();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = async { tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} } } => {
                tracing::warn!("another signal: sending SIGKILL to every service");
                sup.hurry().await;
            }
        }
    }
    // The hub hears of the last services' stops before the link goes.
    if let Some(u) = &uplink {
        u.close().await;
    }
    hub.close().await;
    server.stop().await;
    loopback.clear();
    if let Some(gw) = &llm {
        gw.close().await;
    }
    console.abort();
    // The last events are written before the claim is given up.
    store.close().await;
    hold.release().await;
    let _ = std::fs::remove_file(&sock_path);
    tracing::info!("all services stopped; bye");
    Ok(())
}

/// One daemon per state dir: an exclusive lock held for the daemon's life.
fn lock_state_dir(dir: &std::path::Path) -> anyhow::Result<Flock<std::fs::File>> {
    let path = dir.join("ctrl.lock");
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err(_) => bail!("another ctrl daemon is already running for {}", dir.display()),
    }
}

/// While no user exists, a person at the terminal gets a one-time link that makes
/// the first admin (elsewhere, such as under a service manager, nothing is shown:
/// the link is a credential, and logs are kept).
async fn first_admin_link(access: &ctrl_access::Access, addr: std::net::SocketAddr, https: bool) {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return;
    }
    match access.first_admin_link().await {
        Ok(Some(token)) => {
            let host = match addr.ip() {
                ip if ip.is_unspecified() => std::net::SocketAddr::new([127, 0, 0, 1].into(), addr.port()),
                _ => addr,
            };
            let scheme = if https { "https" } else { "http" };
            println!(
                "\nNo user yet. Open this link within 15 minutes to create the first admin (it works once):\n\n    \
                 {scheme}://{host}/login#once={token}\n"
            );
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot tell whether a user exists"),
    }
}
