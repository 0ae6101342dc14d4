//! The in-process event bus: every transition is published to live subscribers
//! and handed to the store writer, which persists it in batches and keeps it
//! through a database outage.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use ctrl_core::ServiceEvent;
use ctrl_store::{ServiceRecord, Store, StoreError};
use tokio::sync::{broadcast, mpsc, oneshot};

enum StoreMsg {
    Record(ServiceRecord),
    Flush(oneshot::Sender<()>),
    Retry,
}

/// Fan-out of service events. Cloning shares the same bus.
#[derive(Clone)]
pub struct EventBus {
    live: broadcast::Sender<ServiceEvent>,
    store: mpsc::UnboundedSender<StoreMsg>,
    stats: Arc<StoreStats>,
}

impl EventBus {
    /// A bus whose events are persisted into `store` by a background task.
    ///
    /// The store channel is unbounded so that publishing never waits on disk and
    /// no transition is dropped; the writer batches, so it keeps far ahead of the
    /// rate at which services can change state.
    pub fn new(store: Store) -> EventBus {
        let (live, _) = broadcast::channel(1024);
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(StoreStats::default());
        tokio::spawn(write_events(store, rx, stats.clone()));
        EventBus { live, store: tx, stats }
    }

    /// Publishes one transition.
    pub fn publish(&self, record: ServiceRecord) {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        let _ = self.live.send(record.event.clone());
        let _ = self.store.send(StoreMsg::Record(record));
    }

    /// Live transitions from now on. A subscriber that falls more than 1024
    /// events behind gets `Lagged` and skips ahead; it never slows the bus.
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.live.subscribe()
    }

    /// How persisting goes: events waiting for the database, events dropped.
    pub fn store_stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Waits until everything published so far is in the store (or waits for
    /// the database to come back).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.store.send(StoreMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Events kept while the database is down, beyond which the oldest are dropped
/// (and counted): about 10 MB, minutes of a crash loop across every service.
const BUFFER: usize = 50_000;

/// Most events in one transaction.
const BATCH: usize = 512;

/// The writer's counts, read by `/metrics`.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Every transition published since the daemon started.
    pub published: AtomicU64,
    /// Events that waited for the database and were dropped because the buffer was full,
    /// or that the database refused.
    pub dropped: AtomicU64,
    /// Events waiting to be written.
    pub pending: AtomicUsize,
}

/// Persists events in batches. While the database is unavailable they wait in a
/// bounded buffer and the batch is retried with backoff; supervision never waits.
async fn write_events(store: Store, mut rx: mpsc::UnboundedReceiver<StoreMsg>, stats: Arc<StoreStats>) {
    let mut pending: VecDeque<ServiceRecord> = VecDeque::new();
    let mut waiters = Vec::new();
    let mut retry = RETRY_FIRST;
    loop {
        // Wait for news, or for the time to retry what is pending.
        let msg = if pending.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(retry, rx.recv()).await {
                Ok(msg) => msg,
                Err(_) => Some(StoreMsg::Retry),
            }
        };
        let Some(first) = msg else {
            if !pending.is_empty() {
                tracing::error!(
                    lost = pending.len(),
                    "the daemon stops with service events the database never took"
                );
                stats.dropped.fetch_add(pending.len() as u64, Ordering::Relaxed);
            }
            return;
        };
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                StoreMsg::Record(r) => pending.push_back(r),
                StoreMsg::Flush(w) => waiters.push(w),
                StoreMsg::Retry => {}
            }
            next = rx.try_recv().ok();
        }
        if pending.len() > BUFFER {
            let over = pending.len() - BUFFER;
            pending.drain(..over);
            stats.dropped.fetch_add(over as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped = over,
                "the database is down and the event buffer is full: oldest events dropped"
            );
        }
        while !pending.is_empty() {
            let n = pending.len().min(BATCH);
            let batch: Vec<ServiceRecord> = pending.iter().take(n).cloned().collect();
            match write(&store, &batch).await {
                Ok(()) => {
                    pending.drain(..n);
                    retry = RETRY_FIRST;
                }
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(error = %e, waiting = pending.len(), "database unavailable: events wait");
                    retry = (retry * 2).min(RETRY_MAX);
                    break;
                }
                // The database refused the batch: one event it cannot take must not
                // cost the others, so each is tried alone and only a refused one is dropped.
                Err(e) => {
                    tracing::warn!(error = %e, "a batch of service events was refused: writing them one by one");
                    let mut down = false;
                    for record in batch {
                        match write(&store, std::slice::from_ref(&record)).await {
                            Ok(()) => {}
                            Err(e) if e.is_unavailable() => {
                                down = true;
                                break;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, service = %record.event.service, "a service event was refused");
                                stats.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        pending.pop_front();
                    }
                    if down {
                        retry = (retry * 2).min(RETRY_MAX);
                        break;
                    }
                }
            }
        }
        stats.pending.store(pending.len(), Ordering::Relaxed);
        // A flush answers once what was published before it is written, or
        // waiting (the database is down): it must not hang a shutdown.
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// One transaction of events, bounded in time: a connection that hangs (a
/// half-open socket) counts as an outage and is retried, never waited on for ever.
async fn write(store: &Store, batch: &[ServiceRecord]) -> Result<(), StoreError> {
    match tokio::time::timeout(WRITE_TIMEOUT, store.record(batch)).await {
        Ok(done) => done,
        Err(_) => Err(StoreError::Unavailable(format!("no answer within {} s", WRITE_TIMEOUT.as_secs()))),
    }
}

const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
