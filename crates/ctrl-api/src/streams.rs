//! Live streams: host samples, service changes and log lines, over WebSocket
//! and server-sent events.
//!
//! Each stream is a feed of ready-to-send JSON texts; the WebSocket and SSE
//! handlers only carry a feed to the client. Host samples come from one shared
//! broadcast, serialised once per tick, so a thousand clients cost a thousand
//! cheap clones, not a thousand serialisations. A client that reads too slowly
//! falls behind its bounded broadcast queue and skips ahead (services get a
//! fresh snapshot); one that stops reading for `SEND_TIMEOUT` is dropped.
//! Every stream ends when the daemon shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ctrl_proto::{LogLine, LogStream, ServiceChange, ServiceUpdate};
use ctrl_supervisor::logs::{Chunk, LineSplitter};
use ctrl_web::Failure;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::routes::services::{one, with_usage};
use crate::state::{AppState, SocketGuard};

/// WebSocket pings keep idle connections (and proxies) alive.
const HEARTBEAT: Duration = Duration::from_secs(20);
/// A client that accepts nothing for this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Samples queued per client before it skips ahead.
pub const STATS_QUEUE: usize = 4;

/// One message of a feed: the SSE event name and the JSON text.
type Item = (&'static str, Utf8Bytes);

/// Sends samples into the shared feed, one per `ws_interval`, until shutdown.
///
/// Driven by the sampler: a sample goes out as soon as it is taken (so clients
/// get fresh numbers, not ones up to an interval old), skipping samples until
/// `ws_interval` has passed since the last one sent.
pub async fn publish_stats(st: AppState) {
    let mut samples = st.monitor.subscribe();
    let mut shutdown = st.shutdown.clone();
    // Sample times jitter a little; half a sample interval of slack keeps the cadence.
    let every = st.settings.ws_interval.saturating_sub(st.monitor.interval() / 2);
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            changed = samples.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let now = tokio::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < every) {
            continue;
        }
        last = Some(now);
        if st.stats_feed.receiver_count() > 0 {
            let _ = st.stats_feed.send(stats_text(&st));
        }
    }
}

fn stats_text(st: &AppState) -> Utf8Bytes {
    Utf8Bytes::try_from(st.monitor.latest().stats_json.clone()).unwrap_or_default()
}

/// The latest sample now, then every published one; lagging skips ahead.
fn stats_feed(st: &AppState) -> impl Stream<Item = Item> + Send + 'static {
    // Subscribe first: a sample published meanwhile is then the same text as the
    // first one, and is skipped rather than sent twice.
    let rx = st.stats_feed.subscribe();
    let first = stats_text(st);
    let rest = stream::unfold((rx, first.clone()), |(mut rx, last)| async move {
        loop {
            match rx.recv().await {
                Ok(text) if text == last => continue,
                Ok(text) => return Some((("stats", text.clone()), (rx, text))),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    until_shutdown(st, stream::once(async move { ("stats", first) }).chain(rest))
}

/// A snapshot now, then every transition; a client that fell behind gets a new snapshot.
fn services_feed(st: &AppState) -> impl Stream<Item = Item> + Send + 'static {
    // Subscribe before the snapshot so no transition falls between the two.
    let rx = st.sup.bus().subscribe();
    let first = snapshot(st);
    let owned = st.clone();
    let rest = stream::unfold((rx, owned), |(mut rx, st)| async move {
        let item = match rx.recv().await {
            // A service a reload just removed (or one stopping at shutdown) may be gone
            // from the registry: a snapshot then says what there is now.
            Ok(event) => match st.sup.service(&event.service) {
                Ok(service) => {
                    let service = one(&st, service);
                    ("event", text(&ServiceUpdate::Event(Box::new(ServiceChange { event, service }))))
                }
                Err(_) => snapshot(&st),
            },
            Err(RecvError::Lagged(_)) => snapshot(&st),
            Err(RecvError::Closed) => return None,
        };
        Some((item, (rx, st)))
    });
    until_shutdown(st, stream::once(async move { first }).chain(rest))
}

fn snapshot(st: &AppState) -> Item {
    ("snapshot", text(&ServiceUpdate::Snapshot(with_usage(st, st.sup.services()))))
}

fn text<T: serde::Serialize>(v: &T) -> Utf8Bytes {
    serde_json::to_string(v).map(Utf8Bytes::from).unwrap_or_default()
}

fn until_shutdown<S: Stream<Item = Item> + Send + 'static>(
    st: &AppState,
    s: S,
) -> impl Stream<Item = Item> + Send + 'static {
    let mut shutdown = st.shutdown.clone();
    s.take_until(async move {
        let _ = shutdown.wait_for(|v| *v).await;
    })
}

/// WS `/api/system/ws`: a stats sample every `ws_interval`.
#[utoipa::path(get, path = "/api/system/ws", tag = "system",
    responses((status = 101, description = "WebSocket: one `stats` envelope per ws_interval"),
        (status = 400, body = ctrl_proto::ErrorEnvelope)))]
pub async fn system_ws(
    State(st): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let feed = stats_feed(&st);
    upgrade(ws, SocketGuard::new(&st), st.shutdown.clone(), feed)
}

/// SSE `/api/system/stream`: a `stats` event every `ws_interval`.
#[utoipa::path(get, path = "/api/system/stream", tag = "system",
    responses((status = 200, description = "text/event-stream of `stats` events",
        content((ctrl_proto::SseEvent = "text/event-stream")))))]
pub async fn system_sse(State(st): State<AppState>) -> Response {
    sse(stats_feed(&st))
}

/// WS `/api/services/ws`: a snapshot on connect, then every state change.
#[utoipa::path(get, path = "/api/services/ws", tag = "services",
    responses((status = 101, description = "WebSocket of ServiceUpdate messages"),
        (status = 400, body = ctrl_proto::ErrorEnvelope)))]
pub async fn services_ws(
    State(st): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let feed = services_feed(&st);
    upgrade(ws, SocketGuard::new(&st), st.shutdown.clone(), feed)
}

/// SSE `/api/services/stream`: `snapshot` then `event` events.
#[utoipa::path(get, path = "/api/services/stream", tag = "services",
    responses((status = 200, description = "text/event-stream of ServiceUpdate messages",
        content((ctrl_proto::SseEvent = "text/event-stream")))))]
pub async fn services_sse(State(st): State<AppState>) -> Response {
    sse(services_feed(&st))
}

fn upgrade<S: Stream<Item = Item> + Send + 'static>(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    guard: SocketGuard,
    shutdown: tokio::sync::watch::Receiver<bool>,
    feed: S,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return Failure::bad_request(format!("this path takes a WebSocket: {}", e.body_text()))
                .into_response();
        }
    };
    // Browsers that sent the token as a subprotocol need one echoed back.
    // Clients only send small control frames: small buffers keep a thousand
    // connections in a few MiB instead of 128 KiB each.
    ws.protocols(["ctrl"])
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            pump(socket, feed, shutdown).await;
            drop(guard);
        })
        .into_response()
}

async fn pump<S: Stream<Item = Item> + Send + 'static>(
    mut socket: WebSocket,
    feed: S,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut feed = std::pin::pin!(feed);
    let mut ping = tokio::time::interval(HEARTBEAT);
    ping.tick().await;
    let mut heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            item = feed.next() => {
                let Some((_, text)) = item else { break };
                if !send(&mut socket, Message::Text(text)).await {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => heard = tokio::time::Instant::now(),
            },
            _ = ping.tick() => {
                // A peer that answered none of the last two pings is gone.
                if heard.elapsed() > 2 * HEARTBEAT || !send(&mut socket, Message::Ping(Default::default())).await {
                    return;
                }
            }
        }
    }
    let reason = if *shutdown.borrow() { "the daemon is shutting down" } else { "the stream ended" };
    let bye = CloseFrame { code: 1001, reason: Utf8Bytes::from_static(reason) };
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(bye)))).await;
}

/// Sends one message; false when the client is gone or accepted nothing for `SEND_TIMEOUT`.
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

fn sse<S: Stream<Item = Item> + Send + 'static>(feed: S) -> Response {
    let events =
        feed.map(|(name, text)| Ok::<_, Infallible>(Event::default().event(name).data(text.as_str())));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// SSE of a service's output: the last `lines` lines, then every new line.
pub async fn follow_logs(
    st: AppState,
    name: &str,
    lines: usize,
    which: LogStream,
) -> Result<Response, Failure> {
    // Subscribe first so that nothing written between the read and the follow is lost.
    let rx = st.sup.follow_logs(name)?;
    let backlog = st.sup.logs(name, lines, which).await?;
    Ok(sse(until_shutdown(&st, log_feed(backlog, Some(rx), which))))
}

/// The backlog, then the lines of every chunk that follows, until the chunks end.
fn log_feed(
    backlog: Vec<LogLine>,
    rx: Option<broadcast::Receiver<Arc<Chunk>>>,
    which: LogStream,
) -> impl Stream<Item = Item> + Send + 'static {
    // Chunks are announced before they are written: those the backlog already
    // holds (not later than its last line) are skipped.
    let seen = backlog.iter().rev().find_map(|l| l.ts.clone());
    let first = stream::iter(backlog.into_iter().map(|l| ("log", text(&l))));
    let rest = stream::unfold((rx, LineSplitter::default()), move |(rx, mut split)| {
        let seen = seen.clone();
        async move {
            let mut rx = rx?;
            loop {
                // One line per item: a big chunk is not turned into thousands of texts at once.
                while let Some(l) = split.next_line() {
                    if wanted(&l, which) {
                        return Some((("log", text(&l)), (Some(rx), split)));
                    }
                }
                match rx.recv().await {
                    Ok(chunk) if seen.as_deref().is_some_and(|s| chunk.ts.as_str() <= s) => continue,
                    Ok(chunk) => split.feed(chunk),
                    Err(RecvError::Lagged(n)) => {
                        return Some((("log", text(&lag_note(n))), (Some(rx), split)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    first.chain(rest)
}

/// A job's output as `log` items, its changes while it runs (progress) as `job`
/// items, and the ended job as the last `job` item.
async fn job_feed(
    st: &AppState,
    id: i64,
    lines: usize,
    which: LogStream,
) -> Result<impl Stream<Item = Item> + Send + 'static, Failure> {
    // Changes first: the job's end cannot then slip between the two subscriptions.
    let changes = st.jobs.subscribe();
    let rx = st.jobs.follow(id);
    let live = rx.is_some();
    let backlog = st.jobs.logs(id, lines, which).await?;
    let changes = stream::unfold((changes, live), move |(mut changes, go)| async move {
        if !go {
            return None;
        }
        loop {
            match changes.recv().await {
                Ok(job) if job.id == id && job.status.is_final() => return None,
                Ok(job) if job.id == id => return Some((("job", text(&job)), (changes, true))),
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let jobs = st.jobs.clone();
    let end = stream::once(async move {
        match jobs.job(id).await {
            Ok(job) => ("job", text(&job)),
            Err(_) => ("job", Utf8Bytes::from_static("null")),
        }
    });
    Ok(until_shutdown(st, stream::select(log_feed(backlog, rx, which), changes).chain(end)))
}

/// SSE of a job's output: the last `lines` lines, every new line, then a `job` event.
pub async fn follow_job(st: AppState, id: i64, lines: usize, which: LogStream) -> Result<Response, Failure> {
    Ok(sse(job_feed(&st, id, lines, which).await?))
}

/// WS `/api/jobs/{id}/ws`: the job's output as `{"type":"log"}` messages, then `{"type":"job"}` when it ends.
#[utoipa::path(get, path = "/api/jobs/{id}/ws", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 101, description = "WebSocket of JobUpdate messages"),
        (status = 400, body = ctrl_proto::ErrorEnvelope), (status = 404, body = ctrl_proto::ErrorEnvelope)))]
pub async fn job_ws(
    State(st): State<AppState>,
    ctrl_web::Path(id): ctrl_web::Path<i64>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    let feed = job_feed(&st, id, 1000, LogStream::All).await?.map(|(kind, t)| (kind, typed(kind, &t)));
    Ok(upgrade(ws, SocketGuard::new(&st), st.shutdown.clone(), feed))
}

/// Wraps a feed's JSON text as `{"type": kind, "data": …}` for WebSocket clients.
fn typed(kind: &str, data: &str) -> Utf8Bytes {
    Utf8Bytes::from(format!("{{\"type\":\"{kind}\",\"data\":{data}}}"))
}

/// Every job change: queued, running, progress, ended.
fn jobs_feed(st: &AppState) -> impl Stream<Item = Item> + Send + 'static {
    let rx = st.jobs.subscribe();
    let feed = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(job) => return Some((("job", text(&job)), rx)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    until_shutdown(st, feed)
}

/// WS `/api/jobs/ws`: every job change as a `JobInfo`.
#[utoipa::path(get, path = "/api/jobs/ws", tag = "jobs",
    responses((status = 101, description = "WebSocket of JobInfo messages"),
        (status = 400, body = ctrl_proto::ErrorEnvelope)))]
pub async fn jobs_ws(
    State(st): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let feed = jobs_feed(&st);
    upgrade(ws, SocketGuard::new(&st), st.shutdown.clone(), feed)
}

/// SSE `/api/jobs/stream`: `job` events.
#[utoipa::path(get, path = "/api/jobs/stream", tag = "jobs",
    responses((status = 200, description = "text/event-stream of `job` events",
        content((ctrl_proto::SseEvent = "text/event-stream")))))]
pub async fn jobs_sse(State(st): State<AppState>) -> Response {
    sse(jobs_feed(&st))
}

fn wanted(l: &LogLine, which: LogStream) -> bool {
    match which {
        LogStream::All => true,
        LogStream::Stdout => l.stream == "stdout",
        LogStream::Stderr => l.stream == "stderr",
    }
}

fn lag_note(skipped: u64) -> LogLine {
    LogLine {
        ts: None,
        stream: "stderr".into(),
        line: format!("[ctrl: {skipped} chunks skipped; the reader was too slow]"),
    }
}

/// A fresh shared stats feed.
pub fn stats_channel() -> broadcast::Sender<Utf8Bytes> {
    broadcast::channel(STATS_QUEUE).0
}
