//! Usage and the interaction log, written off the request path.
//!
//! Usage is summed in memory per day, service, model and key and written once a
//! second: its size is bounded by those groups, so no call's usage is dropped.
//! Interaction rows go through a queue bounded in rows and bytes to a writer that
//! inserts them in batches; when it is full a row is dropped and counted
//! (`ctrl_llm_log_dropped_total`), so a slow disk never slows a call nor grows memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use ctrl_store::{NewInteraction, Store, UsageDelta};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Rows waiting for the writer at most.
pub const QUEUE: usize = 8192;
/// Bytes of prompts and answers waiting for the writer at most.
pub const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Rows per insert at most.
const BATCH: usize = 512;
/// How often usage is written.
const USAGE_EVERY: Duration = Duration::from_secs(1);
/// How often old interactions are deleted (the first time a minute after the start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Rows deleted per statement (prompts and answers may be large).
const PRUNE_STEP: u64 = 500;

/// The groups of `api_usage`.
type UsageKey = (String, String, String, Option<i64>);

/// The gateway's books.
pub struct Ledger {
    usage: Mutex<HashMap<UsageKey, UsageDelta>>,
    rows: mpsc::Sender<NewInteraction>,
    queued_bytes: AtomicUsize,
    stop: watch::Sender<bool>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Ledger {
    /// Starts the writer; interactions older than `retention` are deleted every hour.
    pub fn start(store: Store, retention: Duration) -> std::sync::Arc<Ledger> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stop, stopped) = watch::channel(false);
        let ledger = std::sync::Arc::new(Ledger {
            usage: Mutex::new(HashMap::new()),
            rows: tx,
            queued_bytes: AtomicUsize::new(0),
            stop,
            writer: Mutex::new(None),
        });
        tokio::spawn(prune(store.clone(), retention, stopped.clone()));
        let task = tokio::spawn(write(ledger.clone(), store, rx, stopped));
        *ledger.writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        ledger
    }

    /// Adds one call's usage to its group.
    pub fn add_usage(&self, d: UsageDelta) {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        let key = (d.date.clone(), d.service.clone(), d.model.clone(), d.key_id);
        match usage.get_mut(&key) {
            Some(u) => merge(u, &d),
            None => {
                usage.insert(key, d);
            }
        }
    }

    /// Queues one interaction row, or counts it as dropped when the queue is full.
    pub fn log(&self, row: NewInteraction) {
        let size = size_of(&row);
        let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if before + size > QUEUE_BYTES || self.rows.try_send(row).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            metrics::counter!("ctrl_llm_log_dropped_total").increment(1);
        }
    }

    /// Writes what is pending and stops the writer.
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let task = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    fn take_usage(&self) -> Vec<UsageDelta> {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        usage.drain().map(|(_, d)| d).collect()
    }

    /// Usage whose write failed goes back, to be written with the next.
    fn put_back(&self, deltas: Vec<UsageDelta>) {
        for d in deltas {
            self.add_usage(d);
        }
    }
}

/// What a queued row holds in memory, about.
fn size_of(row: &NewInteraction) -> usize {
    let text = |t: &Option<String>| t.as_ref().map_or(0, String::len);
    256 + text(&row.request) + text(&row.response) + text(&row.error) + row.model.len()
}

fn merge(u: &mut UsageDelta, d: &UsageDelta) {
    u.calls = u.calls.saturating_add(d.calls);
    u.cached = u.cached.saturating_add(d.cached);
    u.prompt_tokens = u.prompt_tokens.saturating_add(d.prompt_tokens);
    u.completion_tokens = u.completion_tokens.saturating_add(d.completion_tokens);
    u.cost += d.cost;
    u.estimated = u.estimated.saturating_add(d.estimated);
}

async fn flush_usage(ledger: &Ledger, store: &Store) {
    let deltas = ledger.take_usage();
    if deltas.is_empty() {
        return;
    }
    if let Err(e) = store.llm_usage_add(&deltas).await {
        tracing::warn!(error = %e, "cannot write LLM usage; it is kept for the next try");
        ledger.put_back(deltas);
    }
}

async fn write_rows(ledger: &Ledger, store: &Store, rows: &mut Vec<NewInteraction>) {
    if rows.is_empty() {
        return;
    }
    // Counted until written: the batch in the database's hands is memory too.
    let bytes: usize = rows.iter().map(size_of).sum();
    if let Err(e) = store.llm_interactions_add(rows).await {
        tracing::warn!(error = %e, rows = rows.len(), "cannot write the LLM interaction log; rows dropped");
        metrics::counter!("ctrl_llm_log_dropped_total").increment(rows.len() as u64);
    }
    rows.clear();
    ledger.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
}

async fn write(
    ledger: std::sync::Arc<Ledger>,
    store: Store,
    mut rx: mpsc::Receiver<NewInteraction>,
    mut stop: watch::Receiver<bool>,
) {
    let mut usage_tick = tokio::time::interval(USAGE_EVERY);
    let mut rows = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut rows, BATCH) => {
                if n == 0 {
                    break;
                }
                write_rows(&ledger, &store, &mut rows).await;
            }
            _ = usage_tick.tick() => flush_usage(&ledger, &store).await,
            _ = stop.changed() => break,
        }
    }
    // What was queued before the stop is written too.
    while let Ok(row) = rx.try_recv() {
        rows.push(row);
        if rows.len() == BATCH {
            write_rows(&ledger, &store, &mut rows).await;
        }
    }
    write_rows(&ledger, &store, &mut rows).await;
    flush_usage(&ledger, &store).await;
}

/// Deletes interactions older than `retention`, hourly, in small steps (each its own
/// statement, so the writer and the rest of the daemon are never held up long).
async fn prune(store: Store, retention: Duration, mut stop: watch::Receiver<bool>) {
    let first = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(first, PRUNE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let Ok(keep) = chrono::Duration::from_std(retention) else { continue };
        let Some(before) = Utc::now().checked_sub_signed(keep) else { continue };
        let mut deleted = 0;
        loop {
            match store.llm_interactions_prune(before, PRUNE_STEP).await {
                Ok(n) => {
                    deleted += n;
                    if n < PRUNE_STEP || *stop.borrow() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot delete old LLM interactions");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(rows = deleted, "old LLM interactions deleted");
        }
    }
}
