//! The scheduler loop: sleeps until the earliest next run, fires what is due,
//! applies the missed-run policy to times that passed while the daemon was
//! down, and stores every next time. The clock is injected, so tests drive it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ctrl_core::job::{Due, Schedule};
use tokio::sync::watch;

use crate::jobs::Jobs;

/// Where the scheduler gets the time from.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
    /// Resolves at (or soon after) `t`.
    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let wait = (t - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// The longest sleep between looks at the store (wall-clock jumps are noticed within it).
const MAX_SLEEP: chrono::Duration = chrono::Duration::seconds(60);

/// Runs until `shutdown` turns true.
pub async fn run(jobs: Jobs, clock: Arc<dyn Clock>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let wake_at = match tick(&jobs, clock.as_ref()).await {
            Ok(next) => next.map_or(clock.now() + MAX_SLEEP, |n| n.min(clock.now() + MAX_SLEEP)),
            Err(e) => {
                tracing::error!(error = %e, "the scheduler cannot read its schedules; trying again shortly");
                clock.now() + chrono::Duration::seconds(5)
            }
        };
        tokio::select! {
            _ = clock.sleep_until(wake_at) => {}
            _ = jobs.0.wake.notified() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Fires every due schedule; returns the earliest next time.
pub async fn tick(jobs: &Jobs, clock: &dyn Clock) -> Result<Option<DateTime<Utc>>, crate::JobError> {
    let now = clock.now();
    let mut earliest: Option<DateTime<Utc>> = None;
    for row in jobs.store().schedules().await? {
        if !row.enabled {
            continue;
        }
        let Ok(schedule) = Schedule::parse(&row.cron, &row.timezone) else {
            tracing::warn!(schedule = %row.name, "schedule has an invalid time; skipped");
            continue;
        };
        let Some(next) = row.next_run_at.or_else(|| schedule.next_after(now)) else { continue };
        let name = &row.name;
        let next = match schedule.due(next, now, row.missed) {
            Due::Wait => {
                if row.next_run_at.is_none() {
                    jobs.store().schedule_fired(name, None, Some(next)).await?;
                }
                Some(next)
            }
            Due::Run { next, .. } if row.last_job_id.is_some_and(|id| jobs.is_live(id)) => {
                // No pile-up: a schedule faster than its action skips while its last run goes on.
                tracing::info!(schedule = %name, "skipped a run: the previous one is still going");
                jobs.store().schedule_fired(name, None, next).await?;
                next
            }
            Due::Run { at, late, next } => {
                let by = format!("schedule:{name}");
                match jobs.submit_unattended(&row.action, &row.params, &by).await {
                    Ok(job) => {
                        if late {
                            tracing::info!(schedule = %name, missed = %at, job = job.id, "ran a missed schedule once");
                        }
                        jobs.store().schedule_fired(name, Some((now, job.id)), next).await?;
                    }
                    Err(e) => {
                        tracing::error!(schedule = %name, error = %e, "a schedule could not start its job");
                        jobs.store().schedule_fired(name, None, next).await?;
                    }
                }
                next
            }
            Due::Skip { missed, next } => {
                tracing::info!(schedule = %name, missed = %missed, "skipped runs missed while the daemon was down");
                jobs.store().schedule_fired(name, None, next).await?;
                next
            }
        };
        earliest = match (earliest, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(earliest)
}
