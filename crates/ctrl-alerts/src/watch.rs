//! The three listeners: service transitions, job ends, host samples.

use std::time::Duration;

use ctrl_core::alert::{Threshold, trouble_of};
use ctrl_core::config::AlertKind;
use ctrl_core::service::Status;
use ctrl_core::{Health, JobStatus};
use ctrl_host::Monitor;
use ctrl_jobs::Jobs;
use ctrl_supervisor::Supervisor;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::Alerts;

/// Starts listening; everything ends when `shutdown` turns true.
pub fn start(
    alerts: &Alerts,
    sup: Supervisor,
    jobs: Jobs,
    monitor: Monitor,
    shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(services(alerts.clone(), sup, shutdown.clone()));
    tokio::spawn(job_ends(alerts.clone(), jobs, shutdown.clone()));
    tokio::spawn(host(alerts.clone(), monitor, shutdown));
}

/// The next message, skipping over a lag; `None` at the end or at shutdown.
async fn next<T: Clone>(rx: &mut broadcast::Receiver<T>, shutdown: &mut watch::Receiver<bool>) -> Option<T> {
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Ok(m) => return Some(m),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            },
            _ = shutdown.wait_for(|s| *s) => return None,
        }
    }
}

async fn services(alerts: Alerts, sup: Supervisor, mut shutdown: watch::Receiver<bool>) {
    let mut rx = sup.bus().subscribe();
    while let Some(event) = next(&mut rx, &mut shutdown).await {
        let config = alerts.config();
        let covers =
            |r: &ctrl_core::config::RuleSpec| r.services.as_ref().is_none_or(|s| s.contains(&event.service));
        let trouble = trouble_of(&event);
        if let Some(kind) = trouble {
            let detail = event.reason.clone().unwrap_or_else(|| format!("now {}", event.to));
            for (name, _) in config.rules.iter().filter(|(_, r)| r.on.contains(&kind) && covers(r)) {
                alerts.trouble(name, kind, &event.service, &detail).await;
            }
        }
        if trouble.is_none() && matches!(event.to, Status::Running | Status::Ready) {
            // Recovered once it has run steadily, and not unhealthy, for the rule's recover_after.
            for (name, r) in config.rules.iter().filter(|(_, r)| covers(r)) {
                if !alerts.is_firing(name, &event.service) {
                    continue;
                }
                let (alerts, sup, name, service, pid) =
                    (alerts.clone(), sup.clone(), name.clone(), event.service.clone(), event.pid);
                let kind = r.on.first().copied().unwrap_or(AlertKind::Crash);
                let after = r.recover_after.0;
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let steady = sup.service(&service).is_ok_and(|s| {
                        matches!(s.status, Status::Running | Status::Ready)
                            && s.health != Health::Unhealthy
                            && (pid.is_none() || s.pid == pid)
                    });
                    if steady {
                        let detail =
                            format!("running again (steady for {})", humantime::format_duration(after));
                        alerts.fine(&name, kind, &service, &detail).await;
                    }
                });
            }
        }
    }
}

async fn job_ends(alerts: Alerts, jobs: Jobs, mut shutdown: watch::Receiver<bool>) {
    let mut rx = jobs.subscribe();
    while let Some(job) = next(&mut rx, &mut shutdown).await {
        let Some(action) = job.action.clone() else { continue };
        let kind = match job.status {
            JobStatus::Failed => Some(AlertKind::JobFailed),
            JobStatus::TimedOut => Some(AlertKind::JobTimedOut),
            JobStatus::Succeeded => None,
            _ => continue,
        };
        let config = alerts.config();
        for (name, r) in &config.rules {
            let watches_jobs =
                r.on.iter().any(|k| matches!(k, AlertKind::JobFailed | AlertKind::JobTimedOut));
            if !watches_jobs || !r.actions.as_ref().is_none_or(|a| a.contains(&action)) {
                continue;
            }
            match kind {
                Some(k) if r.on.contains(&k) => {
                    let how = job.error.clone().or_else(|| job.exit_code.map(|c| format!("exit code {c}")));
                    let detail = format!("job {} {}", job.id, how.unwrap_or_else(|| job.status.to_string()));
                    alerts.trouble(name, k, &action, &detail).await;
                }
                Some(_) => {}
                None => {
                    let k = r.on.iter().copied().find(|k| !k.is_metric()).unwrap_or(AlertKind::JobFailed);
                    alerts.fine(name, k, &action, &format!("job {} succeeded", job.id)).await;
                }
            }
        }
    }
}

async fn host(alerts: Alerts, monitor: Monitor, mut shutdown: watch::Receiver<bool>) {
    let mut rx = monitor.subscribe();
    loop {
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let snap = rx.borrow_and_update().clone();
        let stats = &snap.stats;
        let now = stats.timestamp;
        let config = alerts.config();
        for (name, r) in &config.rules {
            let (Some(kind), Some(above)) = (r.on.first().copied().filter(|k| k.is_metric()), r.above) else {
                continue;
            };
            let values: Vec<(String, f64)> = match kind {
                AlertKind::Cpu => vec![("cpu".into(), f64::from(stats.cpu.percent))],
                AlertKind::Memory => vec![("memory".into(), f64::from(stats.memory.percent))],
                _ => stats
                    .disks
                    .iter()
                    .filter(|d| r.mount.as_ref().is_none_or(|m| *m == d.mount))
                    .map(|d| (d.mount.clone(), f64::from(d.percent)))
                    .collect(),
            };
            let hold = r.hold.map(|d| d.0).unwrap_or(Duration::from_secs(60));
            for (subject, value) in values {
                let verdict = {
                    let mut all = alerts.0.thresholds.lock().unwrap_or_else(|p| p.into_inner());
                    all.entry((name.clone(), subject.clone()))
                        .or_insert_with(|| Threshold::new(above, r.clear_below, hold))
                        .observe(value, now)
                };
                let line = format!("{value:.0}% (line {above:.0}% for {})", humantime::format_duration(hold));
                match verdict {
                    Some(true) => {
                        alerts
                            .raise(
                                name,
                                kind,
                                &subject,
                                true,
                                format!("[FIRING] {subject}: {} - {line}", crate::words(kind)),
                            )
                            .await
                    }
                    Some(false) => {
                        alerts
                            .raise(
                                name,
                                kind,
                                &subject,
                                false,
                                format!("[RESOLVED] {subject}: back to {value:.0}%"),
                            )
                            .await
                    }
                    None => {}
                }
            }
        }
    }
}
