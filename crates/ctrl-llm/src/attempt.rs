//! Trying upstreams in order until one answers.
//!
//! Before the client has a byte, a connect error, a timeout, a 429, a 5xx, a
//! refused gateway key, a cut or malformed answer all move the call to the
//! next upstream; each try is kept as an [`Attempt`] for the interaction log.
//! A 4xx about the request itself is the client's to see, as the upstream said it.

use std::time::{Duration, Instant};

use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use bytes::{Bytes, BytesMut};
use ctrl_proto::Attempt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;

use crate::call::Call;
use crate::error::OpenAiError;
use crate::sse::{Event, Splitter};
use crate::stream::{Kind, kind_of};
use crate::tally::in_band_error;
use crate::upstream::{Upstream, retry_after};
use crate::{Gateway, Setup};

/// A whole answer is cut at this size (a model's answer is far smaller).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// Of an error answer, this much is read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What an upstream gave.
pub enum Got {
    /// A whole JSON answer.
    Whole {
        /// Its status (2xx).
        status: StatusCode,
        /// Its bytes.
        body: Bytes,
        /// Parsed.
        json: Value,
    },
    /// A stream whose first event came.
    Stream {
        /// The rest of the body.
        body: Incoming,
        /// Bytes read past the first events.
        splitter: Splitter,
        /// Events read so far (comments, then the first data event).
        first: Vec<Event>,
    },
    /// A 4xx about the request, passed on as it is.
    Refused {
        /// Its status.
        status: StatusCode,
        /// Its body.
        body: Bytes,
    },
}

/// An upstream's answer and where it came from.
pub struct Answered {
    /// The upstream's name.
    pub upstream: String,
    /// What it gave.
    pub got: Got,
    /// When the first try began (failed tries are the upstreams' time, not the gateway's).
    pub tried_since: Instant,
}

/// One failed try.
struct Fail {
    status: Option<u16>,
    error: String,
    rate_limited: bool,
    retry_after: Option<Duration>,
    timed_out: bool,
}

impl Fail {
    fn new(error: impl Into<String>) -> Fail {
        Fail { status: None, error: error.into(), rate_limited: false, retry_after: None, timed_out: false }
    }
    fn timeout(error: impl Into<String>) -> Fail {
        Fail { timed_out: true, ..Fail::new(error) }
    }
}

/// An error and its causes on one line (hyper's own says only "client error (Connect)").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

/// Tries every usable upstream serving the call's model, in order.
pub async fn first_answer(
    gw: &Gateway,
    setup: &Setup,
    call: &Call,
    serving: &[usize],
    attempts: &mut Vec<Attempt>,
) -> Result<Answered, OpenAiError> {
    let now = Instant::now();
    let tried_since = now;
    let ups = &setup.upstreams;
    let mut usable: Vec<usize> = serving.iter().copied().filter(|&i| ups[i].health().usable(now)).collect();
    if usable.is_empty() {
        // Nothing rested enough: the one resting after failures whose rest ends first
        // may be back, and is tried (one, so that a call does not wait out every
        // upstream's timeout); one that asked to wait (a 429) is left alone.
        usable = serving
            .iter()
            .copied()
            .filter(|&i| ups[i].health().last_resort(now))
            .min_by_key(|&i| ups[i].health().resting_until)
            .into_iter()
            .collect();
    }
    if usable.is_empty() {
        let until = serving.iter().filter_map(|&i| ups[i].health().resting_until).min();
        let wait = until.map(|t| t.saturating_duration_since(now));
        let secs = wait.map_or(1, |d| d.as_secs().max(1));
        return Err(OpenAiError::rate_limited(
            format!("every upstream of '{}' asked to wait (429); try again in {secs} s", call.model),
            wait,
        ));
    }
    let mut fails = Vec::new();
    for i in usable {
        let u = &ups[i];
        let sent = Instant::now();
        match try_one(gw, setup, call, u, sent).await {
            Ok(got) => {
                u.health().succeeded(sent.elapsed().as_secs_f64() * 1000.0);
                attempts.push(Attempt {
                    upstream: u.name.clone(),
                    status: Some(match &got {
                        Got::Whole { status, .. } | Got::Refused { status, .. } => status.as_u16(),
                        Got::Stream { .. } => 200,
                    }),
                    error: None,
                    ms: sent.elapsed().as_secs_f64() * 1000.0,
                });
                return Ok(Answered { upstream: u.name.clone(), got, tried_since });
            }
            Err(f) => {
                let at = Instant::now();
                if f.rate_limited {
                    u.health().rate_limited(f.retry_after, at);
                } else {
                    u.health().failed(&f.error, at);
                }
                tracing::debug!(upstream = %u.name, error = %f.error, "upstream failed; trying the next");
                attempts.push(Attempt {
                    upstream: u.name.clone(),
                    status: f.status,
                    error: Some(f.error.clone()),
                    ms: sent.elapsed().as_secs_f64() * 1000.0,
                });
                fails.push(f);
            }
        }
    }
    let summary = attempts
        .iter()
        .map(|a| format!("{}: {}", a.upstream, a.error.as_deref().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join("; ");
    if fails.iter().all(|f| f.rate_limited) {
        let wait = fails.iter().filter_map(|f| f.retry_after).min();
        return Err(OpenAiError::rate_limited(format!("every upstream is rate limited ({summary})"), wait));
    }
    let status =
        if fails.iter().all(|f| f.timed_out) { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
    Err(OpenAiError::upstream(status, format!("no upstream could answer ({summary})"), None))
}

/// One try at one upstream, up to its first byte (a stream) or its whole answer.
async fn try_one(gw: &Gateway, setup: &Setup, call: &Call, u: &Upstream, sent: Instant) -> Result<Got, Fail> {
    let req = u
        .request(Method::POST, call.endpoint.path())
        .map_err(Fail::new)?
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, if call.stream { "text/event-stream" } else { "application/json" })
        .body(Full::new(call.upstream_body.clone()))
        .map_err(|e| Fail::new(e.to_string()))?;
    let deadline = tokio::time::Instant::from_std(sent + setup.timeout);
    let res = match tokio::time::timeout_at(deadline, gw.client().request(req)).await {
        Err(_) => return Err(Fail::timeout(format!("no answer within {:?}", setup.timeout))),
        Ok(Err(e)) => return Err(Fail::new(chain(&e))),
        Ok(Ok(res)) => res,
    };
    let status = res.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let wait = retry_after(res.headers().get(axum::http::header::RETRY_AFTER));
        return Err(Fail {
            status: Some(429),
            rate_limited: true,
            retry_after: wait,
            ..Fail::new("429 Too Many Requests")
        });
    }
    if status.is_server_error() || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let body = read_body(res.into_body(), MAX_ERROR_BODY, setup.idle_timeout).await.unwrap_or_default();
        let what = if status.is_server_error() { "" } else { " (the gateway's key for it was refused)" };
        return Err(Fail {
            status: Some(status.as_u16()),
            ..Fail::new(format!(
                "{status}{what}{}",
                message_of(&body).map(|m| format!(": {m}")).unwrap_or_default()
            ))
        });
    }
    if !status.is_success() {
        let body = read_body(res.into_body(), MAX_ERROR_BODY, setup.idle_timeout).await.unwrap_or_default();
        return Ok(Got::Refused { status, body });
    }
    let mut body = res.into_body();
    if !call.stream {
        let bytes = read_body(body, MAX_ANSWER, setup.idle_timeout).await?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| Fail {
            status: Some(status.as_u16()),
            ..Fail::new(format!("malformed answer: {e}"))
        })?;
        // Some servers answer a failure as a 200 with only an error in it.
        if json.get("choices").is_none()
            && json.get("data").is_none()
            && let Some(m) = in_band_error(&json)
        {
            return Err(Fail {
                status: Some(status.as_u16()),
                ..Fail::new(format!("an error in a 200: {m}"))
            });
        }
        return Ok(Got::Whole { status, body: bytes, json });
    }
    // A stream: its first data event must come, well-formed, before the client gets a byte.
    let mut splitter = Splitter::default();
    let mut first = Vec::new();
    loop {
        while let Some(ev) = splitter.next_event().map_err(|e| Fail::new(e.to_string()))? {
            match kind_of(&ev) {
                Kind::Comment => {
                    first.push(ev);
                    continue;
                }
                Kind::Malformed(m) => return Err(Fail::new(format!("malformed first chunk: {m}"))),
                Kind::UpstreamError(m) => return Err(Fail::new(format!("error in the stream: {m}"))),
                Kind::Done | Kind::Chunk(_) => {}
            }
            first.push(ev);
            return Ok(Got::Stream { body, splitter, first });
        }
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(Fail::timeout(format!("no first chunk within {:?}", setup.timeout))),
            Ok(None) => return Err(Fail::new("the stream ended before its first chunk")),
            Ok(Some(Err(e))) => return Err(Fail::new(format!("the stream broke: {}", chain(&e)))),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    splitter.push(&data);
                }
            }
        }
    }
}

/// A body read whole, each chunk within `idle`, at most `limit` bytes.
async fn read_body(mut body: Incoming, limit: usize, idle: Duration) -> Result<Bytes, Fail> {
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Fail::timeout(format!("the answer stalled for {idle:?}"))),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) => return Err(Fail::new(format!("the answer was cut: {}", chain(&e)))),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(Fail::new(format!("the answer is over {limit} bytes")));
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// The message of an OpenAI-shaped error body, or the start of its text.
fn message_of(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    if let Some(m) = serde_json::from_slice::<Value>(body).ok().and_then(|v| in_band_error(&v)) {
        return Some(m);
    }
    let text = String::from_utf8_lossy(body);
    Some(text.chars().take(200).collect())
}
