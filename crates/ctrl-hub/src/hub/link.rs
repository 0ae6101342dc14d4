//! One host's link, on the hub: one task reads it (answers, body bytes, reports),
//! one writes it (requests, credits, acks, pings). Requests wait on their answer
//! through the pending table; reports are stored in order and acknowledged.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use ctrl_store::NewHostEvent;
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::HubState;
use crate::wire::{self, Kind, Report, ToHost, ToHub};

/// Frames waiting to be written (requests, credits, acks).
const OUTBOX: usize = 1024;

/// The head of a host's answer.
#[derive(Debug)]
pub struct Head {
    /// The HTTP status.
    pub status: u16,
    /// Its headers.
    pub headers: Vec<(String, String)>,
}

/// A request for a host's API, on behalf of a hub user.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The HTTP method.
    pub method: String,
    /// Path and query on the host.
    pub path: String,
    /// Headers passed on.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<String>,
    /// The hub user.
    pub actor: String,
    /// Whose things are theirs on the hub (`ctrl_web::Principal::owner`).
    pub owner: String,
    /// Their role on the hub.
    pub role: ctrl_core::Role,
}

/// A piece of a host's answer body.
#[derive(Debug)]
enum Chunk {
    Data(Bytes),
    End,
    Abort(String),
}

/// A request waiting for its answer.
struct Pending {
    head: Option<oneshot::Sender<Head>>,
    body: mpsc::UnboundedSender<Chunk>,
    /// Body bytes received and not yet taken by the client: at most a window.
    queued: Arc<AtomicUsize>,
}

/// The link to one host.
pub struct Link {
    /// The host.
    pub name: String,
    /// Where its link comes from.
    pub address: Option<String>,
    /// Its `ctrl` version.
    pub version: String,
    out: mpsc::Sender<Message>,
    pending: Mutex<HashMap<u32, Pending>>,
    next_id: AtomicU32,
    /// Set to the reason when someone closes the link.
    closing: watch::Sender<Option<String>>,
    /// True once the link's task ended.
    done: watch::Sender<bool>,
    /// The host came back on a new link before this one ended: its end is no outage.
    replaced: AtomicBool,
    /// When the link was welcomed.
    since: std::time::Instant,
}

impl Link {
    /// A link to `name`, and the queue its writer drains.
    pub(super) fn new(
        name: String,
        address: Option<String>,
        version: String,
    ) -> (Arc<Link>, mpsc::Receiver<Message>) {
        let (out, rx) = mpsc::channel(OUTBOX);
        let link = Link {
            name,
            address,
            version,
            out,
            pending: Mutex::default(),
            next_id: AtomicU32::new(1),
            closing: watch::channel(None).0,
            done: watch::channel(false).0,
            replaced: AtomicBool::new(false),
            since: std::time::Instant::now(),
        };
        (Arc::new(link), rx)
    }

    /// Sends a request; its answer's head and body. Fails when the link is down.
    pub async fn request(self: &Arc<Link>, ask: Ask) -> Result<(Head, BodyStream), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Ask { method, path, headers, body, actor, owner, role } = ask;
        let request = ToHost::Request { id, method, path, headers, body, actor, owner: Some(owner), role };
        let (head_tx, head_rx) = oneshot::channel();
        // Unbounded in chunks, bounded in bytes: the host sends at most a window
        // ahead of what the client took, and one that sends more is cut off.
        let (body_tx, body_rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        self.pending_table()
            .insert(id, Pending { head: Some(head_tx), body: body_tx, queued: queued.clone() });
        let mut guard = BodyStream { link: self.clone(), id, rx: body_rx, queued, finished: false };
        let text = serde_json::to_string(&request).map_err(|e| e.to_string())?;
        if self.out.send(Message::Text(text.into())).await.is_err() {
            return Err(self.gone());
        }
        let mut done = self.done.subscribe();
        tokio::select! {
            head = head_rx => match head {
                Ok(h) => Ok((h, guard)),
                Err(_) => {
                    guard.finished = true;
                    Err(self.gone())
                }
            },
            _ = crate::until(&mut done, |d| *d) => {
                guard.finished = true;
                Err(self.gone())
            }
        }
    }

    /// Why the link is gone, for the client.
    fn gone(&self) -> String {
        let why = self.closing.borrow().clone();
        match why {
            Some(w) => format!("the link to host '{}' closed ({w})", self.name),
            None => format!("the link to host '{}' broke off", self.name),
        }
    }

    fn pending_table(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a control message; from a `Drop` it cannot wait, so a full queue
    /// hands it to a task.
    fn control(&self, msg: &ToHost) {
        let Ok(text) = serde_json::to_string(msg) else { return };
        if let Err(mpsc::error::TrySendError::Full(m)) = self.out.try_send(Message::Text(text.into())) {
            let out = self.out.clone();
            tokio::spawn(async move {
                let _ = out.send(m).await;
            });
        }
    }

    /// Asks the link to close; its task ends soon after.
    pub fn close(&self, why: &str) {
        self.closing.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(why.to_owned());
                true
            } else {
                false
            }
        });
    }

    /// Closes the link for `why` and waits (at most 2 s) until its task ended,
    /// its reports stored.
    pub async fn close_and_wait(&self, why: &str) {
        self.close(why);
        let mut done = self.done.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(2), done.wait_for(|d| *d)).await;
    }

    /// Marks the link as replaced by a newer one from the same host.
    pub(super) fn replaced(&self) {
        self.replaced.store(true, Ordering::Relaxed);
    }

    /// How long the link has been up.
    pub(super) fn age(&self) -> Duration {
        self.since.elapsed()
    }

    /// Whether the link's task ended.
    pub fn is_done(&self) -> bool {
        *self.done.borrow()
    }
}

/// A host's answer body as it arrives; taking a chunk grants the host room for
/// another, and dropping the stream before its end tells the host to stop.
pub struct BodyStream {
    link: Arc<Link>,
    id: u32,
    rx: mpsc::UnboundedReceiver<Chunk>,
    queued: Arc<AtomicUsize>,
    finished: bool,
}

impl Stream for BodyStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Chunk::Data(b))) => {
                self.queued.fetch_sub(b.len(), Ordering::Relaxed);
                let bytes = u32::try_from(b.len()).unwrap_or(u32::MAX);
                self.link.control(&ToHost::Credit { id: self.id, bytes });
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Chunk::End)) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Chunk::Abort(why))) => {
                self.finished = true;
                Poll::Ready(Some(Err(std::io::Error::other(why))))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Some(Err(std::io::Error::other(self.link.gone()))))
            }
        }
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        let was_pending = self.link.pending_table().remove(&self.id).is_some();
        if was_pending && !self.link.is_done() {
            self.link.control(&ToHost::Cancel { id: self.id });
        }
    }
}

/// Runs the link until it closes, breaks or goes quiet for three pings.
pub(super) async fn run(
    hub: HubState,
    link: Arc<Link>,
    socket: WebSocket,
    mut out_rx: mpsc::Receiver<Message>,
    ping: Duration,
) {
    let (mut sink, mut stream) = socket.split();
    let mut closing = link.closing.subscribe();
    let writer = {
        let mut closing = link.closing.subscribe();
        let link = link.clone();
        // A write that takes three pings means the host is gone (a half-open
        // connection): the link closes rather than wait for the kernel to give up.
        let limit = ping * 3;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ping);
            tick.tick().await;
            loop {
                let wrote = tokio::select! {
                    m = out_rx.recv() => match m {
                        Some(m) => tokio::time::timeout(limit, sink.send(m)).await,
                        None => return,
                    },
                    _ = tick.tick() => tokio::time::timeout(limit, sink.send(Message::Ping(Bytes::new()))).await,
                    _ = crate::until(&mut closing, Option::is_some) => {
                        let reason = closing.borrow().clone().unwrap_or_default();
                        let bye = CloseFrame { code: 1000, reason: crate::short(&reason).into() };
                        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(bye)))).await;
                        return;
                    }
                };
                if !matches!(wrote, Ok(Ok(()))) {
                    link.close("cannot write to the host");
                    return;
                }
            }
        })
    };
    let (store_tx, store_rx) = mpsc::channel(64);
    let keeper = tokio::spawn(store_reports(hub.clone(), link.clone(), store_rx));
    let why = loop {
        let next = tokio::select! {
            n = tokio::time::timeout(ping * 3, stream.next()) => n,
            _ = crate::until(&mut closing, Option::is_some) => break "closed by the hub".to_owned(),
        };
        let msg = match next {
            Err(_) => break format!("no word from the host for {} s", (ping * 3).as_secs()),
            Ok(None) => break "the host closed the connection".into(),
            Ok(Some(Err(e))) => break format!("the connection broke: {e}"),
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(t) => match serde_json::from_str::<ToHub>(&t) {
                Ok(ToHub::Response { id, status, headers }) => {
                    let head = link.pending_table().get_mut(&id).and_then(|p| p.head.take());
                    if let Some(h) = head {
                        let _ = h.send(Head { status, headers });
                    }
                }
                Ok(ToHub::Reports { boot, items }) => {
                    // Never wait here (answers share this reader): a store that falls
                    // behind ends the link, and the host sends again from the mark.
                    if store_tx.try_send((boot, items)).is_err() {
                        break "the hub could not store the host's reports fast enough".into();
                    }
                }
                Ok(ToHub::Hello { .. }) => {}
                Ok(ToHub::Unknown) => {
                    tracing::debug!(host = %link.name, "skipped a message of a newer version");
                }
                Err(e) => tracing::warn!(host = %link.name, "a message the hub cannot read: {e}"),
            },
            Message::Binary(b) => body_frame(&link, b),
            Message::Close(_) => break "the host closed the link".into(),
            Message::Ping(_) | Message::Pong(_) => {}
        }
    };
    link.close(&why);
    drop(store_tx);
    let _ = keeper.await;
    let stop_writer = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), writer).await.is_err() {
        stop_writer.abort();
    }
    link.pending_table().clear();
    let _ = link.done.send(true);
    let current = hub.unlink(&link);
    // A replaced link's end is no outage; a removed host's is nobody's news.
    if current && !link.replaced.load(Ordering::Relaxed) && hub.links_of(&link.name).is_some() {
        hub.mark(&link.name, None);
        tracing::info!(host = %link.name, "host offline: {why}");
        // A hub that stops leaves the lease to lapse: the hub that runs next
        // finds the hosts that came back to nobody, and says so.
        if !hub.stopping() {
            if let Err(e) = hub.store.host_unlinked(&link.name, &hub.id).await {
                tracing::warn!(host = %link.name, "cannot record the end of the link: {e}");
            }
            hub.went_offline(link.name.clone(), why);
        }
    }
}

/// A binary frame: body bytes for a pending request.
fn body_frame(link: &Link, b: Bytes) {
    let Some((id, kind, data)) = wire::parse_frame(b) else {
        tracing::warn!(host = %link.name, "a binary frame the hub cannot read");
        return;
    };
    let mut table = link.pending_table();
    let Some(p) = table.get(&id) else { return };
    let chunk = match kind {
        Kind::Data => {
            let queued = p.queued.fetch_add(data.len(), Ordering::Relaxed) + data.len();
            if data.len() > wire::CHUNK || queued > (wire::WINDOW as usize) + wire::CHUNK {
                // Past its window: that answer is cut off.
                table.remove(&id);
                drop(table);
                tracing::warn!(host = %link.name, "an answer sent past its window was cut off");
                link.control(&ToHost::Cancel { id });
                return;
            }
            Chunk::Data(data)
        }
        Kind::End => Chunk::End,
        Kind::Abort => Chunk::Abort(String::from_utf8_lossy(&data).into_owned()),
    };
    let last = !matches!(chunk, Chunk::Data(_));
    // The client left (the receiver is gone): its stream's drop sent the cancel.
    let _ = p.body.send(chunk);
    if last {
        table.remove(&id);
    }
}

/// Takes a link's reports in order: samples into the host's numbers, events into
/// the store; then acknowledges them. What could not be stored is not
/// acknowledged: the host sends it again on its next link.
async fn store_reports(hub: HubState, link: Arc<Link>, mut rx: mpsc::Receiver<(String, Vec<Report>)>) {
    while let Some((boot, items)) = rx.recv().await {
        let Some(last) = items.last().map(|r| r.seq) else { continue };
        // Only the link the hub holds now moves the mark (a late batch of a
        // replaced one must not lower it).
        let current = hub.link(&link.name).is_some_and(|l| Arc::ptr_eq(&l, &link));
        // Reports sent again after a reconnect are stored once (the store skips
        // them) and announced once: only those past the mark are news.
        let before = hub.mark_of(&link.name, &boot).unwrap_or(0);
        let mut events = Vec::new();
        let mut alerts = Vec::new();
        for r in items {
            if r.kind == "alert" && r.seq > before {
                alerts.push(r.data.clone());
            }
            if r.kind == "sample" {
                hub.take_sample(&link.name, &r.data, r.at);
            } else {
                events.push(NewHostEvent { seq: r.seq, kind: r.kind, data: r.data.to_string(), at: r.at });
            }
        }
        if !events.is_empty() {
            // Through a database outage for as long as the link lives; what is not
            // stored then is not acknowledged, and comes again on the next link.
            let mark = current.then_some(last);
            let write = || hub.store.host_events_add(&link.name, &boot, &events, mark);
            let live = |_| !link.is_done() && link.closing.borrow().is_none();
            if let Err(e) = ctrl_store::retry::through_outage_while(write, live).await {
                tracing::warn!(host = %link.name, "cannot store the host's events: {e}");
                return;
            }
            // The history is bounded: every thousand events, the oldest past the limit go.
            if hub.stored(&link.name, events.len())
                && let Err(e) = hub.store.host_events_prune(&link.name, super::KEEP_EVENTS).await
            {
                tracing::warn!(host = %link.name, "cannot prune the host's events: {e}");
            }
        }
        if current {
            hub.mark(&link.name, Some((boot, last)));
        }
        link.control(&ToHost::Ack { seq: last });
        // A removed host's last reports are nobody's news.
        if hub.links_of(&link.name).is_none() {
            continue;
        }
        for a in alerts {
            let _ = hub.news.send(super::HostNews::Alert(link.name.clone(), a));
        }
    }
}
