//! A session's events: numbered by its loop, stored by a writer task, then sent.
//!
//! The loop hands each event to the session's writer and goes on (a slow
//! database or a slow client never holds it up beyond the writer's queue). The
//! writer stores what has queued up in one transaction and only then publishes
//! it, serialised once, to every subscriber. A subscriber subscribes first and
//! then reads the store from its last seq, so every event reaches it from one
//! side or the other; seqs it has already sent are skipped. One that falls behind
//! the broadcast queue reads the store again from where it is.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use chrono::{SecondsFormat, SubsecRound, Utc};
use ctrl_proto::EventType;
use ctrl_store::{Store, StoredEvent};
use futures_util::stream::{self, Stream};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

/// Events queued for the writer before the loop waits for it.
const WRITE_QUEUE: usize = 4096;
/// Events stored per transaction at most.
const WRITE_BATCH: usize = 512;
/// Events a subscriber may fall behind the live broadcast before it reads the store.
const LIVE_QUEUE: usize = 1024;
/// Events read from the store per page of a replay.
const PAGE: u32 = 1000;

/// One event, serialised once for every subscriber.
#[derive(Debug, Clone)]
pub struct Live {
    /// Its seq.
    pub seq: i64,
    /// Its type.
    pub kind: EventType,
    /// The whole event as JSON.
    pub text: Utf8Bytes,
}

/// The side of a session's events that subscribers share.
pub struct Channel {
    live: broadcast::Sender<Live>,
    /// The last seq stored.
    stored: watch::Sender<i64>,
}

impl Channel {
    /// The last seq stored (and so sent, or about to be).
    pub fn last_seq(&self) -> i64 {
        *self.stored.borrow()
    }

    /// Whether anyone follows the events.
    pub fn watched(&self) -> bool {
        self.live.receiver_count() > 0
    }
}

/// The loop's side: numbers events and queues them for the writer.
pub struct EventLog {
    next: i64,
    tx: mpsc::Sender<StoredEvent>,
}

impl EventLog {
    /// Queues the next event.
    pub async fn emit(&mut self, kind: EventType, data: &Value) {
        // Microseconds, as both databases keep them: a replay sends the same text.
        let at = Utc::now().trunc_subsecs(6);
        let event = StoredEvent { seq: self.next, kind, data: data.to_string(), at };
        // Numbered once queued: a turn dropped while waiting for room leaves no gap.
        // (The writer ends only after the log is dropped, so the send fails only then.)
        if self.tx.send(event).await.is_ok() {
            self.next += 1;
        }
    }
}

/// Starts a session's writer; `last_seq` is the seq of its last stored event.
/// The writer ends when the log is dropped, after storing and sending everything.
pub fn start(
    store: Store,
    session_id: i64,
    last_seq: i64,
) -> (EventLog, Arc<Channel>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    let channel =
        Arc::new(Channel { live: broadcast::channel(LIVE_QUEUE).0, stored: watch::channel(last_seq).0 });
    let writer = tokio::spawn(write(store, session_id, rx, channel.clone()));
    (EventLog { next: last_seq + 1, tx }, channel, writer)
}

async fn write(store: Store, session_id: i64, mut rx: mpsc::Receiver<StoredEvent>, channel: Arc<Channel>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let stored =
            ctrl_store::retry::through_outage(None, || store.agent_events_add(session_id, &batch)).await;
        if let Err(e) = stored {
            // Not an outage (those are waited out): sent anyway, so the live view goes on.
            tracing::error!(session = session_id, "cannot store {} events: {e}", batch.len());
        }
        for e in batch.drain(..) {
            channel.stored.send_replace(e.seq);
            let _ = channel.live.send(Live { seq: e.seq, kind: e.kind, text: text(session_id, &e) });
        }
    }
}

/// The event as clients get it: `{seq, session_id, type, data, at}`, its stored
/// data spliced in as it is.
pub fn text(session_id: i64, e: &StoredEvent) -> Utf8Bytes {
    let at = e.at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let data = if e.data.is_empty() { "null" } else { e.data.as_str() };
    Utf8Bytes::from(format!(
        r#"{{"seq":{},"session_id":{session_id},"type":"{}","data":{data},"at":"{at}"}}"#,
        e.seq,
        e.kind.as_str()
    ))
}

/// What a subscriber reads next.
struct Reader {
    store: Store,
    session_id: i64,
    rx: broadcast::Receiver<Live>,
    /// The last seq handed out.
    last: i64,
    /// Read from the store, not yet handed out.
    pending: VecDeque<Live>,
    /// Whether the store may hold events not yet handed out.
    replaying: bool,
}

/// Every event after `after`, then the live ones as they come; an `after` past
/// the last event means live ones only. Ends when the session's loop ends (the
/// session was deleted, the daemon stops) or the store cannot be read.
pub fn feed(
    store: Store,
    session_id: i64,
    channel: &Channel,
    after: i64,
) -> impl Stream<Item = Live> + Send + 'static {
    // Subscribe before reading the store: nothing falls between the two.
    let rx = channel.live.subscribe();
    let last = after.clamp(0, channel.last_seq());
    let reader = Reader { store, session_id, rx, last, pending: VecDeque::new(), replaying: true };
    stream::unfold(reader, |mut r| async move {
        let next = r.next().await?;
        Some((next, r))
    })
}

impl Reader {
    async fn next(&mut self) -> Option<Live> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                self.last = e.seq;
                return Some(e);
            }
            if self.replaying {
                let (store, id, last) = (self.store.clone(), self.session_id, self.last);
                let page = match crate::uncut(async move { store.agent_events(id, last, PAGE).await }).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(session = self.session_id, "cannot read events: {e}");
                        return None;
                    }
                };
                self.replaying = page.len() == PAGE as usize;
                self.pending.extend(page.iter().map(|e| Live {
                    seq: e.seq,
                    kind: e.kind,
                    text: text(self.session_id, e),
                }));
                continue;
            }
            match self.rx.recv().await {
                Ok(e) if e.seq <= self.last => continue,
                Ok(e) if e.seq == self.last + 1 => {
                    self.last = e.seq;
                    return Some(e);
                }
                // A gap: the events between are in the store (stored before sent).
                Ok(_) => self.replaying = true,
                Err(broadcast::error::RecvError::Lagged(_)) => self.replaying = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_its_fields_with_the_data_spliced_in() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00.5Z").unwrap().with_timezone(&Utc);
        let e = StoredEvent { seq: 7, kind: EventType::ToolUse, data: r#"{"id":"c1"}"#.into(), at };
        let v: Value = serde_json::from_str(text(3, &e).as_str()).unwrap();
        let back: ctrl_proto::SessionEvent = serde_json::from_value(v.clone()).unwrap();
        assert_eq!((back.seq, back.session_id, back.kind, back.at), (7, 3, EventType::ToolUse, at));
        assert_eq!(back.data["id"], "c1");
        assert_eq!(v["at"], serde_json::to_value(at).unwrap(), "the same text serde writes");
    }
}
