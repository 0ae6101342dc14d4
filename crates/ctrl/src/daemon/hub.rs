//! The daemon's two sides of the hub: what a host reports to its hub (every
//! service state change, every alert, a summary of each host sample), and what
//! the hub's own alerts hear of its hosts (offline, online, their alerts).

use ctrl_alerts::Alerts;
use ctrl_core::Status;
use ctrl_host::Monitor;
use ctrl_hub::{HostNews, HubState, Uplink};
use ctrl_proto::AlertInfo;
use ctrl_supervisor::Supervisor;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

/// Feeds `uplink` until the supervisor's bus closes.
pub fn feed(uplink: Uplink, sup: Supervisor, host: Monitor, alerts: &Alerts) {
    let mut raised = alerts.subscribe();
    let to = uplink.clone();
    tokio::spawn(async move {
        loop {
            match raised.recv().await {
                Ok(a) => {
                    let at = a.at;
                    if let Ok(v) = serde_json::to_value(&a) {
                        to.report("alert", v, at);
                    }
                }
                Err(RecvError::Lagged(n)) => tracing::warn!("{n} alerts were not reported to the hub"),
                Err(RecvError::Closed) => return,
            }
        }
    });
    let mut events = sup.bus().subscribe();
    let to = uplink.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    let at = e.at;
                    if let Ok(v) = serde_json::to_value(&e) {
                        to.report("service", v, at);
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("{n} service events were not reported to the hub")
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
    let mut samples = host.subscribe();
    tokio::spawn(async move {
        while samples.changed().await.is_ok() {
            let snap = samples.borrow_and_update().clone();
            let s = &snap.stats;
            let disk = s.disks.iter().map(|d| d.percent).fold(0f32, f32::max);
            let services = sup.services();
            let running =
                services.iter().filter(|v| matches!(v.status, Status::Running | Status::Ready)).count();
            let failed =
                services.iter().filter(|v| matches!(v.status, Status::Fatal | Status::Backoff)).count();
            let data = json!({
                "stats": {"cpu_percent": s.cpu.percent, "memory_percent": s.memory.percent, "disk_percent": disk},
                "services": {"total": services.len(), "running": running, "failed": failed},
            });
            uplink.report("sample", data, s.timestamp);
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
                    // one ended, and the host not removed.
                    let (hub, name) = (hub.clone(), host.clone());
                    let Some(links) = hub.links_of(&host) else { continue };
                    alerts.host_offline(&host, &why, move || {
                        hub.link(&name).is_none() && hub.links_of(&name) == Some(links)
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
