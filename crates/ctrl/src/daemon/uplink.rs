//! What a host reports to its hub: every service state change, and a summary of
//! each host sample (numbers and service counts), as they happen.

use ctrl_core::Status;
use ctrl_host::Monitor;
use ctrl_hub::Uplink;
use ctrl_supervisor::Supervisor;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

/// Feeds `uplink` until the supervisor's bus closes.
pub fn feed(uplink: Uplink, sup: Supervisor, host: Monitor) {
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
