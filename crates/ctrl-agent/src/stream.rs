//! A session's events to a client: SSE (`id:` is the seq; `Last-Event-ID` or
//! `?after=` resumes) and a WebSocket that also takes messages.
//!
//! Both carry [`events::feed`]: everything after the client's last seq, then live.
//! A replay is written in batches and flushed once, not one flush per event.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ctrl_proto::{ErrorCode, ErrorEnvelope};
use ctrl_web::{Caller, Failure, Path, Principal, Query};
use futures_util::{FutureExt, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::events::{self, Live};
use crate::routes::{find, queue};
use crate::{AgentState, Agents};

/// WebSocket pings keep idle connections (and proxies) alive.
const HEARTBEAT: Duration = Duration::from_secs(20);
/// A client that accepts nothing for this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events written before one flush.
const BATCH: usize = 256;

/// Where to resume.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct After {
    /// The last seq the client has (default 0: everything). Past the last event: live ones only.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// SSE of a session's events: each `event:` is the type, `id:` the seq, `data:` the event.
#[utoipa::path(get, path = "/api/sessions/{id}/events", tag = "sessions",
    params(("id" = i64, Path, description = "Session id"), After,
        ("Last-Event-ID" = Option<i64>, Header, description = "The last seq received (wins over `after`)")),
    responses((status = 200, description = "text/event-stream of session events",
        content((ctrl_proto::SessionEvent = "text/event-stream"))), (status = 404, body = ErrorEnvelope)))]
pub async fn events_sse(
    State(st): State<AgentState>,
    c: Caller,
    Path(id): Path<i64>,
    Query(q): Query<After>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let agents = st.get()?;
    let s = find(agents, &c.principal, id).await?;
    let last_event =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let after = last_event.or(q.after).unwrap_or(0);
    let handle = agents.handle(&s).await?;
    let feed = events::feed(agents.store().clone(), id, &handle.channel, after).map(|e| {
        Ok::<_, Infallible>(
            Event::default().id(e.seq.to_string()).event(e.kind.as_str()).data(e.text.as_str()),
        )
    });
    Ok(Sse::new(feed).keep_alive(KeepAlive::default()).into_response())
}

/// WS of a session's events; the client may send `{"type": "message", "content": …}`.
#[utoipa::path(get, path = "/ws/{id}", tag = "sessions",
    params(("id" = i64, Path, description = "Session id"), After),
    responses((status = 101, description = "WebSocket of session events"), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn events_ws(
    State(st): State<AgentState>,
    c: Caller,
    Path(id): Path<i64>,
    Query(q): Query<After>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    let agents = st.get()?.clone();
    // It takes messages: a login's cookie counts only from the dashboard's own pages.
    if c.principal.csrf.is_some() && !ctrl_web::same_origin(&headers) {
        return Err(Failure::new(ErrorCode::Forbidden, "a WebSocket from another origin"));
    }
    let s = find(&agents, &c.principal, id).await?;
    let ws =
        ws.map_err(|e| Failure::bad_request(format!("this path takes a WebSocket: {}", e.body_text())))?;
    let handle = agents.handle(&s).await?;
    let feed = events::feed(agents.store().clone(), id, &handle.channel, q.after.unwrap_or(0));
    let principal = c.principal;
    // Browsers that sent the token as a subprotocol need one echoed back.
    Ok(ws
        .protocols(["ctrl"])
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| pump(socket, feed, agents, s.id, principal))
        .into_response())
}

async fn pump(
    mut socket: WebSocket,
    feed: impl Stream<Item = Live> + Send + 'static,
    agents: Agents,
    id: i64,
    principal: Principal,
) {
    let mut feed = std::pin::pin!(feed);
    let mut ping = tokio::time::interval(HEARTBEAT);
    ping.tick().await;
    let mut heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            item = feed.next() => {
                let Some(first) = item else { break };
                // What is ready now goes out in one flush.
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match feed.next().now_or_never() {
                        Some(Some(e)) => batch.push(e),
                        _ => break,
                    }
                }
                if !send_all(&mut socket, batch).await {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(t))) => {
                    heard = tokio::time::Instant::now();
                    if let Err(msg) = take(&agents, id, &principal, &t).await {
                        // Said to this client only: not an event of the session.
                        let error = json!({"type": "error", "data": {"message": msg}}).to_string();
                        if !send(&mut socket, Message::Text(error.into())).await {
                            return;
                        }
                    }
                }
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
    let bye = CloseFrame { code: 1001, reason: Utf8Bytes::from_static("the session's events ended") };
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(bye)))).await;
}

/// Sends one message; false when the client is gone or accepted nothing for `SEND_TIMEOUT`.
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await, Ok(Ok(())))
}

/// Writes events without flushing each, then flushes; false when the client is gone or stuck.
async fn send_all(socket: &mut WebSocket, batch: Vec<Live>) -> bool {
    let write = async {
        for e in batch {
            socket.feed(Message::Text(e.text)).await?;
        }
        socket.flush().await
    };
    matches!(tokio::time::timeout(SEND_TIMEOUT, write).await, Ok(Ok(())))
}

/// A client's message over the socket: `{"type": "message", "content": "…"}`.
async fn take(agents: &Agents, id: i64, principal: &Principal, text: &str) -> Result<(), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match (v["type"].as_str(), v["content"].as_str()) {
        (Some("message"), Some(content)) => {
            // The session may have been deleted since the socket opened.
            let s = find(agents, principal, id).await.map_err(|f| f.0.error)?;
            queue(agents, principal, &s, content.to_owned()).await.map(drop).map_err(|f| f.0.error)
        }
        _ => Err("send {\"type\": \"message\", \"content\": \"…\"}".into()),
    }
}
