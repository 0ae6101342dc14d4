//! The audit log through a database outage: an entry is written at once, or,
//! while the database is unavailable, waits in a bounded backlog that a task
//! writes in order when the database is back. Who did what is not lost to a
//! restarting server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ctrl_proto::AuditEntry;
use ctrl_store::Store;
use tokio::sync::mpsc;

/// Entries kept while the database is down; beyond, new ones are dropped (logged).
const BACKLOG: usize = 10_000;

/// The backlog: a queue to its writer task, and how many entries wait in it.
pub(crate) struct Backlog {
    store: Store,
    tx: mpsc::Sender<AuditEntry>,
    waiting: Arc<AtomicUsize>,
}

impl Backlog {
    /// Starts the writer task.
    pub(crate) fn start(store: Store) -> Backlog {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let waiting = Arc::new(AtomicUsize::new(0));
        tokio::spawn(drain(store.clone(), rx, waiting.clone()));
        Backlog { store, tx, waiting }
    }

    /// Writes `entry` now, or queues it behind the ones already waiting (so the
    /// log keeps its order) or when the database is unavailable.
    pub(crate) async fn write(&self, entry: AuditEntry) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            match self.store.audit(&entry).await {
                Ok(()) => return,
                Err(e) if e.is_unavailable() => {}
                Err(e) => {
                    tracing::error!(error = %e, action = %entry.action, "cannot write the audit log");
                    return;
                }
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.tx.try_send(entry) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(error = %e, "the audit backlog is full: an entry is lost");
        }
    }
}

/// Writes queued entries in order, waiting out the outage with backoff.
async fn drain(store: Store, mut rx: mpsc::Receiver<AuditEntry>, waiting: Arc<AtomicUsize>) {
    while let Some(entry) = rx.recv().await {
        if let Err(e) = ctrl_store::retry::through_outage(None, || store.audit(&entry)).await {
            tracing::error!(error = %e, action = %entry.action, "cannot write the audit log");
        }
        waiting.fetch_sub(1, Ordering::SeqCst);
    }
}
