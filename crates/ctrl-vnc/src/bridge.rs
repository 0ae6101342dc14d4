//! Bytes both ways between a WebSocket and a TCP stream.
//!
//! Each direction is its own loop, so a full buffer one way never stops the
//! other. Each waits for its write before it reads again: that is the
//! backpressure (at most one read's worth in flight per direction). Either side
//! closing ends both.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A ping keeps idle connections (and proxies) open, and finds dead peers.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Bytes read from the server at once: one WebSocket message at most.
const READ_SIZE: usize = 256 * 1024;
/// A peer that takes nothing for this long is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How a connection ended.
pub struct Ended {
    /// Bytes from the browser to the server.
    pub up: u64,
    /// Bytes from the server to the browser.
    pub down: u64,
    /// Why.
    pub why: String,
}

/// Carries bytes until either side closes.
pub async fn run(socket: &mut WebSocket, tcp: TcpStream) -> Ended {
    let (mut tcp_rx, mut tcp_tx) = tcp.into_split();
    let (mut ws_tx, mut ws_rx) = StreamExt::split(&mut *socket);
    let (mut up, mut down) = (0u64, 0u64);
    let to_server = async {
        while let Some(msg) = ws_rx.next().await {
            let data = match msg {
                Ok(Message::Binary(b)) => b,
                Ok(Message::Text(t)) => Bytes::from(t),
                Ok(Message::Close(_)) => return "the browser closed".to_owned(),
                Ok(_) => continue,
                Err(e) => return format!("the browser's connection failed: {e}"),
            };
            if let Err(e) = tcp_tx.write_all(&data).await {
                return format!("the server's connection failed: {e}");
            }
            up += data.len() as u64;
        }
        "the browser went away".to_owned()
    };
    let to_browser = async {
        // Read into a buffer whose filled part is handed to the message as it is (no copy).
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            buf.reserve(READ_SIZE);
            let msg = tokio::select! {
                read = tcp_rx.read_buf(&mut buf) => match read {
                    Ok(0) => return "the server closed".to_owned(),
                    Ok(n) => {
                        down += n as u64;
                        Message::Binary(buf.split().freeze())
                    }
                    Err(e) => return format!("the server's connection failed: {e}"),
                },
                _ = ping.tick() => Message::Ping(Bytes::new()),
            };
            match tokio::time::timeout(SEND_TIMEOUT, ws_tx.send(msg)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return format!("the browser's connection failed: {e}"),
                Err(_) => return "the browser took nothing for 30 s".to_owned(),
            }
        }
    };
    let why = tokio::select! {
        why = to_server => why,
        why = to_browser => why,
    };
    Ended { up, down, why }
}
