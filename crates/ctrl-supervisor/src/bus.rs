//! The in-process event bus: every transition is published to live subscribers
//! and handed to the store writer, which persists it in batches.

use ctrl_core::ServiceEvent;
use ctrl_store::{ServiceRecord, Store};
use tokio::sync::{broadcast, mpsc, oneshot};

enum StoreMsg {
    Record(ServiceRecord),
    Flush(oneshot::Sender<()>),
}

/// Fan-out of service events. Cloning shares the same bus.
#[derive(Clone)]
pub struct EventBus {
    live: broadcast::Sender<ServiceEvent>,
    store: mpsc::UnboundedSender<StoreMsg>,
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
        tokio::spawn(write_events(store, rx));
        EventBus { live, store: tx }
    }

    /// Publishes one transition.
    pub fn publish(&self, record: ServiceRecord) {
        let _ = self.live.send(record.event.clone());
        let _ = self.store.send(StoreMsg::Record(record));
    }

    /// Live transitions from now on. A subscriber that falls more than 1024
    /// events behind gets `Lagged` and skips ahead; it never slows the bus.
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.live.subscribe()
    }

    /// Waits until everything published so far is in the store.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.store.send(StoreMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn write_events(store: Store, mut rx: mpsc::UnboundedReceiver<StoreMsg>) {
    let mut batch = Vec::new();
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                StoreMsg::Record(r) => batch.push(r),
                StoreMsg::Flush(w) => waiters.push(w),
            }
            next = if batch.len() < 512 { rx.try_recv().ok() } else { None };
        }
        if !batch.is_empty()
            && let Err(e) = store.record(&batch).await
        {
            tracing::warn!(error = %e, lost = batch.len(), "could not persist service events");
        }
        batch.clear();
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}
