//! Processes left alive by a daemon that died (SIGKILL, OOM, power cut of the
//! daemon only): recognised by pid plus start time, then killed or adopted.

use std::collections::BTreeSet;
use std::time::Duration;

use ctrl_core::config::{Config, OnOrphan, StopSignal};
use ctrl_store::ServiceRow;
use nix::sys::signal::Signal;

use crate::actor::ActorMsg;
use crate::control::Supervisor;
use crate::group::{os_signal, reap_group};

/// Deals with every live process recorded by the previous daemon; returns the
/// services that were adopted (they must not be autostarted).
pub(crate) async fn handle(sup: &Supervisor, rows: &[ServiceRow], config: &Config) -> BTreeSet<String> {
    let mut adopted = BTreeSet::new();
    let mut kills = Vec::new();
    for row in rows {
        let (Some(pid), Some(start)) = (row.pid, row.pid_start) else { continue };
        // Pin the process first (a pidfd cannot follow a reused pid), then check it is ours.
        let Ok(fd) = crate::group::pidfd(pid) else { continue };
        let Some(id) = ctrl_host::process_identity(pid) else { continue };
        if id.start_ticks != start {
            continue; // the pid was reused by something else
        }
        let spec = config.services.get(&row.name);
        // Only a group leader we started owns its group; otherwise signal the pid alone.
        let group = if id.pgid == pid { pid } else { 0 };
        match spec.map(|s| s.on_orphan) {
            Some(OnOrphan::Adopt) if group != 0 => {
                tracing::info!(service = %row.name, pid, "adopting a process of the previous daemon");
                sup.send_raw(&row.name, ActorMsg::Adopt { pid, start_ticks: start, pidfd: fd }).await;
                adopted.insert(row.name.clone());
            }
            _ => {
                tracing::info!(service = %row.name, pid, "stopping a process left by the previous daemon");
                let sig = os_signal(spec.map(|s| s.stop_signal).unwrap_or(StopSignal::Term));
                let grace = spec.map(|s| s.stop_timeout.0).unwrap_or(Duration::from_secs(10));
                let name = row.name.clone();
                kills.push(async move {
                    if group != 0 {
                        reap_group(group, sig, grace).await;
                    } else {
                        let p = nix::unistd::Pid::from_raw(pid as i32);
                        let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
                    }
                    name
                });
            }
        }
    }
    for kill in kills {
        let name = kill.await;
        if let Err(e) = sup.store().clear_process(&name).await {
            tracing::warn!(service = %name, error = %e, "cannot record the orphan as gone");
        }
    }
    adopted
}
