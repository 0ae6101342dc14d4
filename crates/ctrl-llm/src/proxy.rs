//! One call through the gateway: the key's checks, the cache, the budget, the
//! upstreams, and the books.
//!
//! Streams are passed on event by event as they come (an event is the unit the
//! gateway can check: a malformed one is replaced by an in-band error, the usage
//! chunk the client did not ask for is dropped). After the client has its first
//! byte, a failure ends the stream with an in-band `data: {"error": …}` and no
//! `[DONE]`, so SDKs raise instead of returning a cut answer as complete.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use ctrl_proto::Attempt;
use ctrl_store::{NewInteraction, UsageDelta};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::attempt::{Answered, Got, first_answer};
use crate::cache::{Answer, Entry};
use crate::call::{Call, estimate_tokens};
use crate::error::OpenAiError;
use crate::keys::{Hold, Key};
use crate::sse::{Event, Splitter};
use crate::tally::{Tally, Tokens, in_band_error};
use crate::{Gateway, Setup};

/// A logged request or answer is cut at this size (the log is for reading, and its
/// queue's memory is bounded).
const MAX_LOGGED: usize = 256 * 1024;
/// Events waiting for a slow client at most (then the upstream is read no faster).
const STREAM_BUFFER: usize = 64;

/// Who is calling.
#[derive(Clone)]
pub struct Caller {
    /// The service usage is counted under: a key's name, or the user or token.
    pub service: Arc<str>,
    /// The LLM key, when the call came with one.
    pub key: Option<Arc<Key>>,
}

/// What the books need to know of one call, gathered as it goes.
struct Books {
    gw: Gateway,
    /// The setup the call started with (its prices and logging).
    setup: Arc<Setup>,
    caller: Caller,
    at: DateTime<Utc>,
    t0: Instant,
    endpoint: &'static str,
    model: String,
    stream: bool,
    prompt_chars: usize,
    request: Option<String>,
    attempts: Vec<Attempt>,
    closed: bool,
}

/// How a call ended, for its interaction row.
struct Ending {
    status: u16,
    upstream: Option<String>,
    tokens: Tokens,
    response: Option<String>,
    error: Option<String>,
    ttfb: Option<Duration>,
    cached: bool,
}

impl Books {
    /// Writes usage (answered calls) and the interaction row; returns the cost.
    fn close(mut self, e: Ending) -> f64 {
        self.record(e)
    }

    fn record(&mut self, e: Ending) -> f64 {
        if std::mem::replace(&mut self.closed, true) {
            return 0.0;
        }
        // Only an answer costs: refusals, failures and cache hits cost nothing.
        let answered = (200..300).contains(&e.status);
        let cost = if e.cached || !answered {
            0.0
        } else {
            self.setup.price(&self.model).cost(e.tokens.prompt, e.tokens.completion)
        };
        let key_id = self.caller.key.as_ref().map(|k| k.id);
        if answered {
            self.gw.0.ledger.add_usage(UsageDelta {
                date: self.at.date_naive().to_string(),
                service: self.caller.service.to_string(),
                model: self.model.clone(),
                key_id,
                calls: 1,
                cached: u64::from(e.cached),
                prompt_tokens: if e.cached { 0 } else { e.tokens.prompt },
                completion_tokens: if e.cached { 0 } else { e.tokens.completion },
                cost,
                estimated: u64::from(e.tokens.estimated && !e.cached),
            });
            metrics::counter!("ctrl_llm_tokens_total", "kind" => "prompt").increment(e.tokens.prompt);
            metrics::counter!("ctrl_llm_tokens_total", "kind" => "completion").increment(e.tokens.completion);
        }
        let logged = self.setup.log_interactions;
        let mut attempts = std::mem::take(&mut self.attempts);
        let mut error = e.error;
        if !logged {
            // An upstream's message may quote the prompt: only what failed is kept.
            for a in &mut attempts {
                if let Some(err) = &mut a.error {
                    *err = redacted(err);
                }
            }
            error = error.map(|m| redacted(&m));
        }
        self.gw.0.ledger.log(NewInteraction {
            at: self.at,
            endpoint: self.endpoint,
            model: std::mem::take(&mut self.model),
            upstream: e.upstream,
            service: self.caller.service.to_string(),
            key_id,
            stream: self.stream,
            request: if logged { self.request.take() } else { None },
            response: if logged { e.response } else { None },
            status: e.status,
            processing_ms: self.t0.elapsed().as_secs_f64() * 1000.0,
            ttfb_ms: e.ttfb.map(|d| d.as_secs_f64() * 1000.0),
            prompt_tokens: e.tokens.prompt,
            completion_tokens: e.tokens.completion,
            cost,
            cached: e.cached,
            estimated: e.tokens.estimated,
            error,
            attempts,
        });
        let cached = if e.cached { "true" } else { "false" };
        metrics::counter!("ctrl_llm_requests_total", "status" => status_label(e.status), "cached" => cached)
            .increment(1);
        cost
    }

    /// The row of a call that got no answer.
    fn failed(mut self, err: &OpenAiError) {
        self.record(self.no_answer(err.status.as_u16(), err.message.clone()));
    }

    fn no_answer(&self, status: u16, error: String) -> Ending {
        Ending {
            status,
            upstream: None,
            tokens: Tokens { prompt: estimate_tokens(self.prompt_chars), completion: 0, estimated: true },
            response: None,
            error: Some(error),
            ttfb: None,
            cached: false,
        }
    }
}

/// A call dropped before its end (the client went away while it waited for a whole
/// answer) still gets its row.
impl Drop for Books {
    fn drop(&mut self) {
        if !self.closed {
            let e = self.no_answer(499, "the client went away before the answer".into());
            self.record(e);
        }
    }
}

/// A message without what may quote a prompt: the part before the first `: ` or ` (`
/// ("no upstream could answer (lm: 500 …)" keeps "no upstream could answer").
fn redacted(message: &str) -> String {
    let cut = [": ", " ("].iter().filter_map(|sep| message.find(sep)).min().unwrap_or(message.len());
    message[..cut].to_owned()
}

fn status_label(s: u16) -> &'static str {
    match s {
        200..=299 => "2xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn overhead(total: Duration, upstream: Duration) {
    metrics::histogram!(crate::OVERHEAD_METRIC).record(total.saturating_sub(upstream).as_secs_f64());
}

fn cache_header(hit: bool) -> (&'static str, HeaderValue) {
    ("x-ctrl-cache", HeaderValue::from_static(if hit { "hit" } else { "miss" }))
}

/// A whole answer, or what went wrong.
pub struct Whole {
    /// Its status.
    pub status: StatusCode,
    /// Its body.
    pub body: Bytes,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// One call as it came in.
pub struct Asked {
    /// Who.
    pub caller: Caller,
    /// What.
    pub call: Call,
    /// The body as sent (for the interaction log).
    pub body: Bytes,
    /// `x-ctrl-cache: no`.
    pub skip_cache: bool,
    /// When it came in.
    pub t0: Instant,
}

/// Forwards one call and answers the client.
pub async fn forward(gw: Gateway, asked: Asked) -> Response {
    if asked.call.stream {
        return stream(gw, asked).await;
    }
    match whole(gw, asked).await {
        Ok(w) => {
            let mut res = (w.status, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], w.body)
                .into_response();
            let (name, value) = cache_header(w.cached);
            res.headers_mut().insert(name, value);
            res
        }
        Err(e) => e.into_response(),
    }
}

/// A call past its checks: answered from the cache, or to be sent (with the setup it
/// was checked against, the upstreams that serve it, and its reservation).
enum Prepared {
    Hit(Books, Arc<Entry>),
    Send(Books, Arc<Setup>, Vec<usize>, Hold),
}

/// The checks, the cache and the budget, in that order; a refusal is in the books.
fn prepare(gw: &Gateway, a: &Asked) -> Result<Prepared, OpenAiError> {
    let setup = gw.setup();
    let b = books(gw, &setup, a);
    let refused = |b: Books, e: OpenAiError| {
        b.failed(&e);
        Err(e)
    };
    let serving = match admit(&setup, &a.caller, &a.call) {
        Ok(s) => s,
        Err(e) => return refused(b, e),
    };
    // The cache key covers `stream`, so a hit has the request's shape.
    if a.call.cacheable
        && !a.skip_cache
        && let Some(e) = gw.0.cache.get(&a.call.cache_key, Instant::now())
        && matches!(e.answer, Answer::Stream(_)) == a.call.stream
    {
        return Ok(Prepared::Hit(b, e));
    }
    match reserve(&setup, &a.caller, &a.call) {
        Ok(hold) => Ok(Prepared::Send(b, setup, serving, hold)),
        Err(e) => refused(b, e),
    }
}

/// Whether an answer may be kept for the next same call.
fn cacheable(gw: &Gateway, a: &Asked) -> bool {
    a.call.cacheable && !a.skip_cache && gw.0.cache.enabled()
}

/// An upstream's 4xx about the request, in the books and passed on.
fn refused_by_upstream(b: Books, upstream: String, status: StatusCode, body: &Bytes, t0: Instant) {
    // Its message may quote the prompt: kept only where prompts are.
    let error = if b.setup.log_interactions {
        String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned()
    } else {
        format!("the upstream refused the request ({status})")
    };
    b.close(Ending {
        status: status.as_u16(),
        upstream: Some(upstream),
        tokens: Tokens { prompt: 0, completion: 0, estimated: false },
        response: None,
        error: Some(error),
        ttfb: Some(t0.elapsed()),
        cached: false,
    });
}

/// The checks every call passes before any upstream: the key's models, the model's upstreams.
fn admit(setup: &Setup, caller: &Caller, call: &Call) -> Result<Vec<usize>, OpenAiError> {
    let serving = setup.serving(&call.model);
    if serving.is_empty() {
        return Err(OpenAiError::unknown_model(&call.model));
    }
    if let Some(k) = &caller.key
        && !k.allows(&call.model)
    {
        return Err(OpenAiError::forbidden(
            format!(
                "the key '{}' may not use the model '{}' (it may use: {})",
                k.name,
                call.model,
                k.models.join(", ")
            ),
            "model_not_allowed",
        ));
    }
    Ok(serving)
}

/// Reserves the most the call can cost against the key's budget.
fn reserve(setup: &Setup, caller: &Caller, call: &Call) -> Result<Hold, OpenAiError> {
    let Some(key) = &caller.key else { return Ok(Hold::none()) };
    // The whole body counts as prompt (tools, images and templates are tokens too), and
    // every answer asked for may take `max_tokens`.
    let prompt = estimate_tokens(call.upstream_body.len()).max(estimate_tokens(call.prompt_chars));
    let answers = call.max_tokens.unwrap_or(0).saturating_mul(call.choices);
    let most = setup.price(&call.model).cost(prompt, answers);
    key.reserve(most, Utc::now()).map_err(|o| {
        OpenAiError::out_of_budget(format!(
            "the key '{}' has spent its budget: {:.4} of {:.4} this {} ({:.4} reserved by calls in flight, {:.4} asked)",
            key.name,
            o.spent,
            o.budget,
            key.period.as_str(),
            o.reserved,
            o.asked
        ))
    })
}

fn books(gw: &Gateway, setup: &Arc<Setup>, a: &Asked) -> Books {
    let request = setup.log_interactions.then(|| logged_text(&a.body));
    Books {
        gw: gw.clone(),
        setup: setup.clone(),
        caller: a.caller.clone(),
        at: Utc::now(),
        t0: a.t0,
        endpoint: a.call.endpoint.path(),
        model: a.call.model.clone(),
        stream: a.call.stream,
        prompt_chars: a.call.prompt_chars,
        request,
        attempts: Vec::new(),
        closed: false,
    }
}

/// Text for the log: as it is when small, else its start and how long it was.
fn logged_text(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_LOGGED {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..MAX_LOGGED]);
    format!("{}… ({} bytes in all; the rest is not kept)", head.trim_end_matches('\u{FFFD}'), bytes.len())
}

fn cached_ending(e: &Entry) -> Ending {
    Ending {
        status: 200,
        upstream: Some(e.upstream.clone()),
        tokens: e.tokens,
        response: e.logged.clone(),
        error: None,
        ttfb: None,
        cached: true,
    }
}

/// A call whose answer is one JSON body (also the seed's `/chat`).
pub async fn whole(gw: Gateway, a: Asked) -> Result<Whole, OpenAiError> {
    let (mut b, setup, serving, hold) = match prepare(&gw, &a)? {
        Prepared::Hit(b, e) => {
            let Answer::Body(body) = &e.answer else { return Err(shape_mismatch()) };
            let body = body.clone();
            b.close(Ending { ttfb: Some(a.t0.elapsed()), ..cached_ending(&e) });
            return Ok(Whole { status: StatusCode::OK, body, cached: true });
        }
        Prepared::Send(b, setup, serving, hold) => (b, setup, serving, hold),
    };
    let answered = match first_answer(&gw, &setup, &a.call, &serving, &mut b.attempts).await {
        Ok(x) => x,
        Err(e) => {
            b.failed(&e);
            return Err(e);
        }
    };
    let upstream = answered.upstream;
    let upstream_time = answered.tried_since.elapsed();
    match answered.got {
        Got::Whole { status, body, json } => {
            let tally = Tally::of_body(a.call.endpoint, &json);
            let tokens = tally.tokens(a.call.prompt_chars);
            let logged = setup.log_interactions.then(|| logged_text(tally.summary().to_string().as_bytes()));
            let cost = b.close(Ending {
                status: status.as_u16(),
                upstream: Some(upstream.clone()),
                tokens,
                response: logged.clone(),
                error: None,
                ttfb: Some(a.t0.elapsed()),
                cached: false,
            });
            hold.settle(cost, Utc::now());
            if cacheable(&gw, &a) {
                gw.0.cache.put(
                    a.call.cache_key,
                    Answer::Body(body.clone()),
                    upstream,
                    tokens,
                    logged,
                    Instant::now(),
                );
            }
            overhead(a.t0.elapsed(), upstream_time);
            Ok(Whole { status, body, cached: false })
        }
        Got::Refused { status, body } => {
            refused_by_upstream(b, upstream, status, &body, a.t0);
            Ok(Whole { status, body, cached: false })
        }
        Got::Stream { .. } => {
            let e = shape_mismatch();
            b.failed(&e);
            Err(e)
        }
    }
}

/// An answer of the other shape than asked (an upstream that ignored `stream`).
fn shape_mismatch() -> OpenAiError {
    OpenAiError::upstream(
        StatusCode::BAD_GATEWAY,
        "the upstream answered with a stream where none was asked for, or without one where one was".into(),
        None,
    )
}

/// Set by a stream's task when it ended with `[DONE]` or an error event; otherwise the
/// client's body ends in an error (the connection is cut), so that a client which could
/// not be sent the error event (it stopped reading) does not take a cut answer for whole.
type Clean = Arc<std::sync::atomic::AtomicBool>;

fn stream_response(rx: mpsc::Receiver<Bytes>, clean: Clean, hit: bool) -> Response {
    let body = futures_util::stream::unfold(Some((rx, clean)), |state| async move {
        let (mut rx, clean) = state?;
        match rx.recv().await {
            Some(b) => Some((Ok(b), Some((rx, clean)))),
            None if clean.load(std::sync::atomic::Ordering::Acquire) => None,
            None => Some((Err(std::io::Error::other("the stream broke")), None)),
        }
    });
    let mut res = Response::new(Body::from_stream(body));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let (name, value) = cache_header(hit);
    h.insert(name, value);
    res
}

/// A streamed call.
async fn stream(gw: Gateway, a: Asked) -> Response {
    let (mut b, setup, serving, hold) = match prepare(&gw, &a) {
        Err(e) => return e.into_response(),
        Ok(Prepared::Hit(b, e)) => {
            let Answer::Stream(events) = &e.answer else { return shape_mismatch().into_response() };
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(events.clone());
            let clean: Clean = Arc::new(true.into());
            b.close(Ending { ttfb: Some(a.t0.elapsed()), ..cached_ending(&e) });
            return stream_response(rx, clean, true);
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
            stream_response(rx, clean, false)
        }
        Got::Refused { status, body } => {
            refused_by_upstream(b, upstream, status, &body, a.t0);
            (status, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
        }
        Got::Whole { .. } => {
            let e = shape_mismatch();
            b.failed(&e);
            e.into_response()
        }
    }
}

/// What one event of a stream is to the gateway.
enum Kind {
    Done,
    Comment,
    Chunk(Value),
    UpstreamError(String),
    Malformed(String),
}

fn kind_of(ev: &Event) -> Kind {
    if ev.data.is_empty() {
        return Kind::Comment;
    }
    if ev.is_done() {
        return Kind::Done;
    }
    match serde_json::from_str::<Value>(&ev.data) {
        Err(e) => Kind::Malformed(format!("the upstream sent a malformed chunk: {e}")),
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
    /// Set when the stream ended with `[DONE]`.
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
        self.tx.send_timeout(bytes, self.idle).await.is_ok()
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
        let end = 'stream: loop {
            loop {
                let ev = match self.pending.pop_front() {
                    Some(ev) => ev,
                    None => match self.splitter.next_event() {
                        Ok(Some(ev)) => ev,
                        Ok(None) => break,
                        Err(e) => break 'stream self.fail(e.to_string(), "stream_broken").await,
                    },
                };
                let mut outcome = None;
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
                    Kind::Malformed(m) => break 'stream self.fail(m, "malformed_chunk").await,
                };
                if forward {
                    if let Some(k) = &mut kept {
                        k.extend_from_slice(&ev.raw);
                        if k.len() > cache_limit {
                            kept = None;
                        }
                    }
                    if !self.forward(ev.raw).await {
                        break 'stream End::Broke(CLIENT_GONE.into());
                    }
                    ttfb.get_or_insert_with(|| self.books.t0.elapsed());
                }
                if let Some(end) = outcome {
                    break 'stream end;
                }
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
        let logged =
            self.books.setup.log_interactions.then(|| logged_text(tally.summary().to_string().as_bytes()));
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
