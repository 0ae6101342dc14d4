//! The API servers: TCP (token required) and the unix socket (trusted), with
//! the host monitor they read from and a graceful stop.

use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Extension;
use ctrl_api::{Parts, Settings, Trusted};
use ctrl_core::config::{MonitorConfig, ServerConfig};
use ctrl_host::Monitor;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Daemon;

/// How long in-flight requests get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Binds the API's TCP address and writes the bound address to `state_dir/http.addr`
/// (useful with port 0).
pub async fn bind(listen: &str, state_dir: &Path) -> anyhow::Result<TcpListener> {
    let addr: SocketAddr =
        listen.parse().with_context(|| format!("[server] listen = '{listen}' is not an IP:PORT address"))?;
    let l = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = l.local_addr()?;
    std::fs::write(state_dir.join("http.addr"), format!("{bound}\n"))?;
    Ok(l)
}

/// Reads `[server.tls]`'s certificate and key (PEM), naming the files on failure.
pub fn tls(config: &ServerConfig) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    let Some(tls) = &config.tls else { return Ok(None) };
    let loaded = super::https::config(&tls.cert, &tls.key).with_context(|| {
        format!(
            "[server.tls]: cannot load the certificate {} and key {}",
            tls.cert.display(),
            tls.key.display()
        )
    })?;
    Ok(Some(loaded))
}

/// The running servers.
pub struct Server {
    /// The TCP address the API answers on.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    api: ctrl_api::AppState,
}

impl Server {
    /// Starts the monitor, the stats feed and both servers.
    pub fn start(
        daemon: &Daemon,
        (server, monitor): (ServerConfig, MonitorConfig),
        host: Monitor,
        tcp: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        unix: UnixListener,
    ) -> anyhow::Result<Server> {
        let sup = daemon.sup.clone();
        let (shutdown, rx) = watch::channel(false);
        let reload_daemon = daemon.clone();
        let parts = Parts {
            sup,
            jobs: daemon.jobs.clone(),
            alerts: daemon.alerts.clone(),
            monitor: host,
            knowledge: ctrl_kb::KbState(daemon.knowledge.clone()),
            llm: ctrl_llm::LlmState(daemon.llm.clone()),
            agent: ctrl_agent::AgentState(daemon.agent.clone()),
            vnc: daemon.vnc.clone(),
            hub: daemon.hub.clone(),
            loopback: daemon.loopback.clone(),
            access: daemon.access.clone(),
            reload: Arc::new(move || {
                let d = reload_daemon.clone();
                Box::pin(async move { d.reload().await })
            }),
            settings: Settings {
                ws_interval: server.ws_interval.0,
                port_range: monitor.port_range,
                process_limit: monitor.process_limit,
                cors_origins: server.cors_origins,
                tls: tls.is_some(),
            },
            shutdown: rx.clone(),
        };
        let (router, api) = ctrl_api::app(parts);
        let addr = tcp.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        // Connect info gives handlers the client's address (audit log, login limits).
        let app = router.clone().into_make_service_with_connect_info::<SocketAddr>();
        let tcp_task = match tls {
            None => {
                // Streams write small pieces one after another: with Nagle's algorithm
                // each could wait for the client's delayed ACK (40 ms).
                let tcp = tcp.tap_io(|s| {
                    let _ = s.set_nodelay(true);
                });
                let serve = axum::serve(tcp, app).with_graceful_shutdown(until(rx.clone()));
                tokio::spawn(async move {
                    if let Err(e) = serve.await {
                        tracing::error!(error = %e, "the HTTP API stopped");
                    }
                })
            }
            Some(cfg) => tokio::spawn(super::https::serve(tcp, cfg, router.clone(), rx.clone(), DRAIN)),
        };
        let unix_task = tokio::spawn({
            let serve = axum::serve(unix, router.layer(Extension(Trusted))).with_graceful_shutdown(until(rx));
            async move {
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "the control socket stopped");
                }
            }
        });
        Ok(Server { addr, shutdown, tasks: vec![tcp_task, unix_task], api })
    }

    /// Ends every stream, lets in-flight requests finish (bounded), then stops.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.api.sockets_closed(DRAIN).await;
        for mut t in self.tasks {
            if tokio::time::timeout(DRAIN, &mut t).await.is_err() {
                t.abort();
            }
        }
    }
}
