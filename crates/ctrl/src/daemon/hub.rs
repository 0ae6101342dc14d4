//! The daemon's two sides of the hub: what a host reports to its hub (every
//! service state change, every alert, a summary of each host sample), and what
//! the hub's own alerts hear of its hosts (offline, online, their alerts).

use std::net::SocketAddr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use ctrl_alerts::Alerts;
use ctrl_core::config::ServerConfig;
use ctrl_core::{ServiceEvent, Status};
use ctrl_host::Monitor;
use ctrl_hub::{Advert, HostNews, HubState, Uplink};
use ctrl_proto::{AlertInfo, HostSummary, ServiceCounts};
use ctrl_supervisor::Supervisor;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Feeds `uplink` until the supervisor's bus closes.
pub fn feed(uplink: Uplink, sup: Supervisor, host: Monitor, alerts: &Alerts) {
    forward(alerts.subscribe(), uplink.clone(), "alert", |a: &AlertInfo| a.at);
    forward(sup.bus().subscribe(), uplink.clone(), "service", |e: &ServiceEvent| e.at);
    let mut samples = host.subscribe();
    tokio::spawn(async move {
        while samples.changed().await.is_ok() {
            let snap = samples.borrow_and_update().clone();
            let s = &snap.stats;
            let services = sup.services();
            let count = |f: fn(Status) -> bool| services.iter().filter(|v| f(v.status)).count() as u32;
            let sample = Sample {
                stats: HostSummary {
                    cpu_percent: s.cpu.percent,
                    memory_percent: s.memory.percent,
                    disk_percent: s.disks.iter().map(|d| d.percent).fold(0f32, f32::max),
                },
                services: ServiceCounts {
                    total: services.len() as u32,
                    running: count(|st| matches!(st, Status::Running | Status::Ready)),
                    failed: count(|st| matches!(st, Status::Fatal | Status::Backoff)),
                },
            };
            if let Ok(data) = serde_json::to_value(&sample) {
                uplink.report("sample", data, s.timestamp);
            }
        }
    });
}

/// What a host's sample tells its hub.
#[derive(serde::Serialize)]
struct Sample {
    stats: HostSummary,
    services: ServiceCounts,
}

/// Reports everything `rx` carries as `kind`, until its sender goes.
fn forward<T>(mut rx: broadcast::Receiver<T>, uplink: Uplink, kind: &'static str, at: fn(&T) -> DateTime<Utc>)
where
    T: serde::Serialize + Clone + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(item) => {
                    if let Ok(v) = serde_json::to_value(&item) {
                        uplink.report(kind, v, at(&item));
                    }
                }
                Err(RecvError::Lagged(n)) => tracing::warn!("{n} {kind} reports were not sent to the hub"),
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Raises the hub's alerts for its hosts: offline (after the rule's `for`, if
/// still offline then), online again, and every alert a host reports.
pub fn alert_on_hosts(hub: HubState, alerts: Alerts) {
    let mut news = hub.news();
    tokio::spawn(async move {
        loop {
            match news.recv().await {
                Ok(HostNews::Offline(host, why)) => {
                    // Still offline when the rule's `for` is up: no link since this
                    // one ended, here or at another hub on the database, and the
                    // host not removed.
                    let (hub, name) = (hub.clone(), host.clone());
                    let links = hub.links_of(&host).unwrap_or(0);
                    alerts.host_offline(&host, &why, move || {
                        let (hub, name) = (hub.clone(), name.clone());
                        async move {
                            hub.link(&name).is_none()
                                && hub.links_of(&name).unwrap_or(0) == links
                                && hub.offline_everywhere(&name).await
                        }
                    });
                }
                Ok(HostNews::Online(host)) => alerts.host_online(&host).await,
                Ok(HostNews::Alert(host, data)) => match serde_json::from_value::<AlertInfo>(data) {
                    Ok(a) => alerts.host_alert(&host, &a).await,
                    Err(e) => tracing::warn!(host = %host, "an alert from the host the hub cannot read: {e}"),
                },
                Err(RecvError::Lagged(n)) => tracing::warn!("{n} host events were not seen by the alerts"),
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Where the other hubs on a shared database reach this one: `[server] advertise`,
/// else the address it listens on (the hostname for an unspecified one), with
/// its certificate's fingerprint for them to pin.
pub fn advert(server: &ServerConfig, bound: SocketAddr) -> anyhow::Result<Advert> {
    let scheme = if server.tls.is_some() { "https" } else { "http" };
    let address = match &server.advertise {
        Some(a) => a.trim_end_matches('/').to_owned(),
        None if bound.ip().is_unspecified() => {
            format!("{scheme}://{}:{}", ctrl_hub::hostname(), bound.port())
        }
        None => format!("{scheme}://{bound}"),
    };
    let cert_sha256 = match &server.tls {
        Some(tls) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let first = CertificateDer::pem_file_iter(&tls.cert)
                .ok()
                .and_then(|mut certs| certs.next())
                .and_then(Result::ok)
                .with_context(|| format!("[server.tls] cert: no certificate in {}", tls.cert.display()))?;
            Some(ctrl_hub::tofu::fingerprint(first.as_ref()))
        }
        None => None,
    };
    Ok(Advert { address, cert_sha256 })
}
