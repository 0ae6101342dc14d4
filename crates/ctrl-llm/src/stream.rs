//! A streamed call: one task per stream passes the upstream's events on as they come.
//!
//! An event is the unit the gateway can check: a malformed one is replaced by an
//! in-band error, and the usage chunk the client did not ask for is dropped. After the
//! client has its first byte, a failure ends the stream with an in-band
//! `data: {"error": …}` and no `[DONE]`, so SDKs raise instead of returning a cut
//! answer as complete.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::Gateway;
use crate::attempt::{Answered, Got, first_answer};
use crate::books::{Books, Ending, overhead};
use crate::cache::Answer;
use crate::call::Call;
use crate::error::OpenAiError;
use crate::keys::Hold;
use crate::proxy::{
    Asked, Prepared, cache_header, cacheable, json_answer, prepare, refused_by_upstream, shape_mismatch,
};
use crate::sse::{Event, Splitter};
use crate::tally::{Tally, in_band_error};

/// Events waiting for a slow client at most (then the upstream is read no faster).
const STREAM_BUFFER: usize = 64;

/// Set by a stream's task when it ended with `[DONE]` or an error event; otherwise the
/// client's body ends in an error (the connection is cut), so that a client which could
/// not be sent the error event (it stopped reading) does not take a cut answer for whole.
type Clean = Arc<std::sync::atomic::AtomicBool>;

/// The body a stream's task fills.
fn channel_body(rx: mpsc::Receiver<Bytes>, clean: Clean) -> Body {
    Body::from_stream(futures_util::stream::unfold(Some((rx, clean)), |state| async move {
        let (mut rx, clean) = state?;
        match rx.recv().await {
            Some(b) => Some((Ok(b), Some((rx, clean)))),
            None if clean.load(std::sync::atomic::Ordering::Acquire) => None,
            None => Some((Err(std::io::Error::other("the stream broke")), None)),
        }
    }))
}

fn event_stream(body: Body, hit: bool) -> Response {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let (name, value) = cache_header(hit);
    h.insert(name, value);
    res
}

/// A streamed call.
pub(crate) async fn stream(gw: Gateway, a: Asked) -> Response {
    let (mut b, setup, serving, hold) = match prepare(&gw, &a) {
        Err(e) => return e.into_response(),
        Ok(Prepared::Hit(b, e)) => {
            b.close_cached(&e);
            return event_stream(Body::from(e.answer.bytes().clone()), true);
        }
        Ok(Prepared::Send(b, setup, serving, hold)) => (b, setup, serving, hold),
    };
    let answered = match first_answer(&gw, &setup, &a.call, &serving, &mut b.attempts).await {
        Ok(x) => x,
        Err(e) => {
            b.failed(&e);
            return e.into_response();
        }
    };
    let Answered { upstream, got, tried_since } = answered;
    match got {
        Got::Stream { body, splitter, first } => {
            let (tx, rx) = mpsc::channel(STREAM_BUFFER);
            let clean: Clean = Arc::new(false.into());
            let pump = Pump {
                idle: setup.idle_timeout,
                clean: clean.clone(),
                use_cache: cacheable(&gw, &a),
                upstream,
                gw,
                books: b,
                hold,
                call: a.call,
                body,
                splitter,
                pending: first.into(),
                tried_since,
                tx,
            };
            tokio::spawn(pump.run());
            event_stream(channel_body(rx, clean), false)
        }
        Got::Refused { status, body } => {
            refused_by_upstream(b, upstream, status, &body, a.t0);
            json_answer(status, body, false)
        }
        Got::Whole { .. } => {
            let e = shape_mismatch();
            b.failed(&e);
            e.into_response()
        }
    }
}

/// What one event of a stream is to the gateway.
pub(crate) enum Kind {
    Done,
    Comment,
    Chunk(Value),
    UpstreamError(String),
    Malformed(String),
}

pub(crate) fn kind_of(ev: &Event) -> Kind {
    if ev.data.is_empty() {
        return Kind::Comment;
    }
    if ev.is_done() {
        return Kind::Done;
    }
    match serde_json::from_str::<Value>(&ev.data) {
        Err(e) => Kind::Malformed(e.to_string()),
        Ok(v) => match in_band_error(&v) {
            Some(m) => Kind::UpstreamError(m),
            None => Kind::Chunk(v),
        },
    }
}

/// The usage chunk of a stream: no choices, only usage.
fn usage_only(v: &Value) -> bool {
    v.get("usage").is_some_and(|u| !u.is_null())
        && v.get("choices").is_none_or(|c| c.is_null() || c.as_array().is_some_and(Vec::is_empty))
}

/// The task that passes one stream on.
struct Pump {
    gw: Gateway,
    books: Books,
    hold: Hold,
    call: Call,
    upstream: String,
    body: Incoming,
    splitter: Splitter,
    pending: VecDeque<Event>,
    /// When the first try at an upstream began (the upstream's time starts there).
    tried_since: Instant,
    use_cache: bool,
    tx: mpsc::Sender<Bytes>,
    /// Between two chunks, and for a client to take one.
    idle: Duration,
    /// Set when the stream ended with `[DONE]` or an error event.
    clean: Clean,
}

/// How a stream ended.
enum End {
    /// `[DONE]` passed on.
    Done,
    /// Something broke and the client got an error event (its SDK raises on it).
    Told(String),
    /// Something broke and the client could not be told (it left, or stopped reading):
    /// its connection is cut, so it cannot take what it got for a whole answer.
    Broke(String),
}

const CLIENT_GONE: &str = "the client went away";

impl Pump {
    /// Passes bytes to the client; false when it is gone or has read nothing for
    /// `idle_timeout` (a client that stops reading must not hold the upstream forever).
    async fn forward(&self, bytes: Bytes) -> bool {
        match self.tx.try_send(bytes) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            // Only a client that is behind costs a timer.
            Err(mpsc::error::TrySendError::Full(bytes)) => {
                self.tx.send_timeout(bytes, self.idle).await.is_ok()
            }
        }
    }

    /// Ends the stream with an in-band error (no `[DONE]`: SDKs then raise).
    async fn fail(&self, message: String, code: &'static str) -> End {
        if self.forward(OpenAiError::event(&message, code)).await {
            End::Told(message)
        } else {
            End::Broke(message)
        }
    }

    async fn run(mut self) {
        let idle = self.idle;
        let cache_limit = self.gw.0.cache.largest();
        let mut tally = Tally::default();
        let mut kept: Option<BytesMut> = self.use_cache.then(BytesMut::new);
        let mut ttfb = None;
        let mut last_frame = Instant::now();
        let mut eof = false;
        let end = loop {
            // The events of one read from the upstream go on together (one write to the
            // client, not one per event), and at once: nothing waits for more.
            let mut out = BytesMut::new();
            let mut outcome = None;
            let mut failure = None;
            loop {
                let ev = match self.pending.pop_front() {
                    Some(ev) => ev,
                    None => match self.splitter.next_event() {
                        Ok(Some(ev)) => ev,
                        Ok(None) => break,
                        Err(e) => {
                            failure = Some((e.to_string(), "stream_broken"));
                            break;
                        }
                    },
                };
                let forward = match kind_of(&ev) {
                    Kind::Done => {
                        outcome = Some(End::Done);
                        true
                    }
                    Kind::Comment => true,
                    Kind::Chunk(v) => {
                        tally.add_chunk(&v);
                        self.call.wants_usage || !usage_only(&v)
                    }
                    Kind::UpstreamError(m) => {
                        outcome = Some(End::Told(format!("the upstream sent an error: {m}")));
                        true
                    }
                    Kind::Malformed(e) => {
                        failure =
                            Some((format!("the upstream sent a malformed chunk: {e}"), "malformed_chunk"));
                        break;
                    }
                };
                if forward {
                    out.extend_from_slice(&ev.raw);
                }
                if outcome.is_some() {
                    break;
                }
            }
            if !out.is_empty() {
                if let Some(k) = &mut kept {
                    k.extend_from_slice(&out);
                    if k.len() > cache_limit {
                        kept = None;
                    }
                }
                if !self.forward(out.freeze()).await {
                    break End::Broke(CLIENT_GONE.into());
                }
                ttfb.get_or_insert_with(|| self.books.t0.elapsed());
            }
            if let Some((message, code)) = failure {
                break self.fail(message, code).await;
            }
            if let Some(end) = outcome {
                break end;
            }
            if eof {
                // Some servers close right after the last chunk without `[DONE]`: a
                // stream that said why it finished is complete, and is ended properly.
                if tally.finish_reason.is_some() && self.call.choices == 1 {
                    let done = Bytes::from_static(b"data: [DONE]\n\n");
                    if let Some(k) = &mut kept {
                        k.extend_from_slice(&done);
                    }
                    if !self.forward(done).await {
                        break End::Broke(CLIENT_GONE.into());
                    }
                    break End::Done;
                }
                let why = format!("upstream '{}' ended the stream before it finished", self.upstream);
                break self.fail(why, "stream_broken").await;
            }
            let frame = tokio::select! {
                biased;
                _ = self.tx.closed() => break End::Broke(CLIENT_GONE.into()),
                f = tokio::time::timeout(idle, self.body.frame()) => f,
            };
            match frame {
                Err(_) => {
                    let why = format!("no chunk from upstream '{}' for {idle:?}", self.upstream);
                    break self.fail(why, "stream_broken").await;
                }
                Ok(None) => {
                    // What is left may be a last event without its blank line.
                    if !self.splitter.rest().is_empty() {
                        self.splitter.push(b"\n\n");
                    }
                    eof = true;
                }
                Ok(Some(Err(e))) => {
                    let why = format!("the stream from upstream '{}' broke: {e}", self.upstream);
                    break self.fail(why, "stream_broken").await;
                }
                Ok(Some(Ok(f))) => {
                    last_frame = Instant::now();
                    if let Ok(data) = f.into_data() {
                        self.splitter.push(&data);
                    }
                }
            }
        };
        let clean = matches!(end, End::Done);
        let total = self.books.t0.elapsed();
        // The client's answer ends here, whatever is left to do.
        self.clean.store(!matches!(end, End::Broke(_)), std::sync::atomic::Ordering::Release);
        drop(self.tx);
        if clean && !eof {
            // Read to the end of the body (normally at hand), so the connection is reused.
            let rest = async { while let Some(Ok(_)) = self.body.frame().await {} };
            let _ = tokio::time::timeout(Duration::from_millis(50), rest).await;
        }
        // Dropping the body closes the connection if it is not at its end: an upstream
        // still writing stops.
        drop(self.body);
        let error = match end {
            End::Done => None,
            End::Told(m) | End::Broke(m) => Some(m),
        };
        if error.as_deref() == Some(CLIENT_GONE) {
            tracing::debug!(upstream = %self.upstream, "the client left a stream; the upstream request is cancelled");
        }
        let tokens = tally.tokens(self.call.prompt_chars);
        let logged = self.books.answer_text(&tally);
        let cost = self.books.close(Ending {
            status: 200,
            upstream: Some(self.upstream.clone()),
            tokens,
            response: logged.clone(),
            error,
            ttfb,
            cached: false,
        });
        self.hold.settle(cost, Utc::now());
        if clean {
            overhead(total, last_frame.saturating_duration_since(self.tried_since));
            if let Some(stream) = kept {
                let answer = Answer::Stream(stream.freeze());
                self.gw.0.cache.put(
                    self.call.cache_key,
                    answer,
                    self.upstream,
                    tokens,
                    logged,
                    Instant::now(),
                );
            }
        }
    }
}
