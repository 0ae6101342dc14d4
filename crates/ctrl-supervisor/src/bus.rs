//! The in-process event bus: every transition is published to live subscribers
//! and handed to the store writer, which persists it in batches and keeps it
//! through a database outage.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use ctrl_core::ServiceEvent;
use ctrl_store::{ServiceRecord, Store, StoreError, retry};
use tokio::sync::{broadcast, mpsc, oneshot};

enum StoreMsg {
    Record(ServiceRecord),
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
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

    /// Writes what it can one last time, counts the rest as dropped and stops
    /// the writer (the daemon is stopping; nothing is published after this).
    pub async fn close(&self) {
        self.ask(StoreMsg::Close).await;
    }

    /// How persisting goes: events waiting for the database, events dropped.
    pub fn store_stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Waits until everything published so far is in the store, or until the
    /// writer found the database down (a flush never waits out an outage).
    pub async fn flush(&self) {
        self.ask(StoreMsg::Flush).await;
    }

    /// Sends the writer a message with a reply channel and waits for the reply.
    async fn ask(&self, msg: fn(oneshot::Sender<()>) -> StoreMsg) {
        let (tx, rx) = oneshot::channel();
        if self.store.send(msg(tx)).is_ok() {
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
/// bounded buffer and are retried with backoff; supervision never waits.
async fn write_events(store: Store, mut rx: mpsc::UnboundedReceiver<StoreMsg>, stats: Arc<StoreStats>) {
    let mut w = Writer { store, stats, pending: VecDeque::new(), uncertain: None, pause: retry::FIRST_PAUSE };
    let mut waiters = Vec::new();
    loop {
        // Wait for news, or for the time to retry what is pending.
        let msg = if w.pending.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(w.pause, rx.recv()).await {
                Ok(msg) => msg,
                Err(_) => Some(StoreMsg::Retry),
            }
        };
        // Every sender gone: nothing more can come.
        let Some(first) = msg else {
            w.drain().await;
            w.give_up();
            return;
        };
        let mut closing = None;
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                StoreMsg::Record(r) => w.pending.push_back(r),
                StoreMsg::Flush(done) => waiters.push(done),
                StoreMsg::Close(done) => closing = Some(done),
                StoreMsg::Retry => {}
            }
            next = rx.try_recv().ok();
        }
        w.bound();
        w.drain().await;
        // A flush answers once what was published before it is written, or
        // waiting (the database is down): it must not hang a shutdown.
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
        if let Some(done) = closing {
            w.give_up();
            let _ = done.send(());
            return;
        }
    }
}

/// The writer's state: what waits, and the batch whose fate an outage left unknown.
struct Writer {
    store: Store,
    stats: Arc<StoreStats>,
    pending: VecDeque<ServiceRecord>,
    /// A batch (its size, its last event) whose transaction may have committed
    /// before the connection broke: checked before it is written again.
    uncertain: Option<(usize, ServiceEvent)>,
    pause: Duration,
}

impl Writer {
    /// Waits longer before the next try, up to `retry::MAX_PAUSE`.
    fn back_off(&mut self) {
        self.pause = (self.pause * 2).min(retry::MAX_PAUSE);
    }

    /// Drops the oldest events beyond the buffer.
    fn bound(&mut self) {
        if self.pending.len() > BUFFER {
            let over = self.pending.len() - BUFFER;
            self.pending.drain(..over);
            self.uncertain = None;
            self.stats.dropped.fetch_add(over as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped = over,
                "the database is down and the event buffer is full: oldest events dropped"
            );
        }
    }

    /// Writes what is pending until it is all written or the database is down.
    async fn drain(&mut self) {
        while !self.pending.is_empty() {
            if self.settle().await.is_err() {
                break;
            }
            let n = self.pending.len().min(BATCH);
            let batch: Vec<ServiceRecord> = self.pending.iter().take(n).cloned().collect();
            match retry::bounded(self.store.record(&batch)).await {
                Ok(()) => {
                    self.pending.drain(..n);
                    self.pause = retry::FIRST_PAUSE;
                }
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(error = %e, waiting = self.pending.len(), "database unavailable: events wait");
                    self.uncertain = batch.last().map(|r| (n, r.event.clone()));
                    self.back_off();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a batch of service events was refused: writing them one by one");
                    if !self.one_by_one(batch).await {
                        break;
                    }
                }
            }
        }
        self.stats.pending.store(self.pending.len(), Ordering::Relaxed);
    }

    /// Finds out whether a batch cut off by an outage was written after all (its
    /// commit may have reached the database): then it is not written twice.
    async fn settle(&mut self) -> Result<(), StoreError> {
        let Some((n, last)) = self.uncertain.take() else { return Ok(()) };
        match self.store.has_event(&last).await {
            Ok(true) => {
                self.pending.drain(..n.min(self.pending.len()));
                Ok(())
            }
            Err(e) if e.is_unavailable() => {
                self.uncertain = Some((n, last));
                self.back_off();
                Err(e)
            }
            // Not committed, or a question the database refuses: the batch is written
            // again rather than held back for ever.
            Ok(false) | Err(_) => Ok(()),
        }
    }

    /// A refused batch, event by event: one event the database cannot take must
    /// not cost the others. False when the database went down meanwhile.
    async fn one_by_one(&mut self, batch: Vec<ServiceRecord>) -> bool {
        for record in batch {
            match retry::bounded(self.store.record(std::slice::from_ref(&record))).await {
                Ok(()) => {}
                Err(e) if e.is_unavailable() => {
                    self.uncertain = Some((1, record.event));
                    self.back_off();
                    return false;
                }
                Err(e) => {
                    tracing::error!(error = %e, service = %record.event.service, "a service event was refused");
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.pending.pop_front();
        }
        true
    }

    /// The daemon stops: what the database never took is counted as dropped.
    fn give_up(&mut self) {
        if !self.pending.is_empty() {
            tracing::error!(
                lost = self.pending.len(),
                "the daemon stops with service events the database never took"
            );
            self.stats.dropped.fetch_add(self.pending.len() as u64, Ordering::Relaxed);
            self.pending.clear();
        }
        self.stats.pending.store(0, Ordering::Relaxed);
    }
}
