//! The one sampler thread and the handle everyone else reads from.
//!
//! Sampling walks /proc, so it runs on its own OS thread, once per interval,
//! and publishes an immutable snapshot through a watch channel: requests and
//! streams read the latest snapshot and never touch /proc themselves. The
//! stats answer is serialised once per sample, not once per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ctrl_proto::{Envelope, History, Metric, ProcessInfo, Stats};
use tokio::sync::watch;

use crate::history::{HistoryRing, Point};
use crate::sampler::{ProcessTable, Sampler};

/// The second sample comes this soon after the first, so CPU use soon has a real base.
const FIRST_SAMPLE_AFTER: Duration = Duration::from_millis(250);

/// One published sample.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The host's numbers.
    pub stats: Stats,
    /// `{"success":true,"data":<stats>}`, ready to send.
    pub stats_json: Bytes,
    /// Every process, with the service that owns it.
    pub processes: Vec<ProcessInfo>,
    /// Per service: CPU % and resident bytes of its process tree.
    pub per_service: HashMap<String, (f32, u64)>,
}

impl Snapshot {
    fn new(stats: Stats, table: ProcessTable) -> Snapshot {
        let stats_json = serde_json::to_vec(&Envelope::ok(&stats)).map(Bytes::from).unwrap_or_default();
        Snapshot { stats, stats_json, processes: table.processes, per_service: table.per_service }
    }
}

/// Reads the host monitor; cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    latest: watch::Receiver<Arc<Snapshot>>,
    history: Arc<Mutex<HistoryRing>>,
    interval: Duration,
}

impl Monitor {
    /// Starts the sampler thread. `services` answers "main pid -> service name"
    /// at each sample. The thread ends once every handle and subscriber is gone.
    pub fn start<F>(interval: Duration, services: F) -> Monitor
    where
        F: Fn() -> HashMap<u32, String> + Send + 'static,
    {
        let interval = interval.max(Duration::from_millis(100));
        // A first sample right away, so that nobody ever reads an empty one.
        let mut sampler = Sampler::new();
        let (stats, table) = sampler.sample(&services());
        let (tx, rx) = watch::channel(Arc::new(Snapshot::new(stats, table)));
        let history = Arc::new(Mutex::new(HistoryRing::new(interval)));
        let ring = history.clone();
        let spawned = std::thread::Builder::new().name("ctrl-sampler".into()).spawn(move || {
            let mut next = Instant::now() + FIRST_SAMPLE_AFTER.min(interval);
            loop {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                if tx.is_closed() {
                    return;
                }
                // A panic in one sample (a sysinfo or NVML surprise) must not freeze the stats.
                let taken =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sampler.sample(&services())));
                let Ok((stats, table)) = taken else {
                    tracing::error!("a host sample failed; trying again at the next interval");
                    next = Instant::now() + interval;
                    continue;
                };
                ring.lock().unwrap_or_else(|p| p.into_inner()).push(Point::of(&stats));
                tx.send_replace(Arc::new(Snapshot::new(stats, table)));
                // Keep the cadence; after a stall, start again from now rather than catch up.
                next += interval;
                if next < Instant::now() {
                    next = Instant::now() + interval;
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the host sampler thread; host stats stay empty");
        }
        Monitor { latest: rx, history, interval }
    }

    /// The latest sample.
    pub fn latest(&self) -> Arc<Snapshot> {
        self.latest.borrow().clone()
    }

    /// A receiver that wakes at every new sample.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.latest.clone()
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A charted series over the last `range`.
    pub fn history(&self, metric: Metric, range: Duration) -> History {
        let now = chrono::Utc::now().timestamp();
        self.history.lock().unwrap_or_else(|p| p.into_inner()).series(metric, range, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_arrive_at_the_interval_and_feed_the_history() {
        let m = Monitor::start(Duration::from_millis(200), HashMap::new);
        let mut rx = m.subscribe();
        let t0 = Instant::now();
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.unwrap().unwrap();
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(400), "three samples 200 ms apart took {took:?}");
        let latest = m.latest();
        assert!(latest.stats.memory.total_bytes > 0);
        let parsed: serde_json::Value = serde_json::from_slice(&latest.stats_json).unwrap();
        assert_eq!(parsed["success"], true);
        assert_eq!(parsed["data"]["memory"]["total_bytes"], latest.stats.memory.total_bytes);
        assert!(m.history(Metric::Memory, Duration::from_secs(60)).points.len() >= 3);
    }
}
