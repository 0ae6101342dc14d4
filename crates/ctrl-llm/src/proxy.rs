//! One call through the gateway: the key's checks, the cache, the budget, and the
//! upstreams; a whole answer here, a stream in `stream.rs`, the books in `books.rs`.

use std::sync::Arc;
use std::time::Instant;

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;

use crate::attempt::{Got, first_answer};
use crate::books::{Books, Ending, overhead};
use crate::cache::{Answer, Entry};
use crate::call::{Call, estimate_tokens};
use crate::error::OpenAiError;
use crate::keys::{Hold, Key};
use crate::tally::{Tally, Tokens};
use crate::{Gateway, Setup};

/// Who is calling.
#[derive(Clone)]
pub struct Caller {
    /// The service usage is counted under: a key's name, or the user or token.
    pub service: Arc<str>,
    /// The LLM key, when the call came with one.
    pub key: Option<Arc<Key>>,
}

pub(crate) fn cache_header(hit: bool) -> (&'static str, HeaderValue) {
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
        return crate::stream::stream(gw, asked).await;
    }
    match whole(gw, asked).await {
        Ok(w) => json_answer(w.status, w.body, w.cached),
        Err(e) => e.into_response(),
    }
}

/// A JSON body as the client gets it, saying whether it came from the cache.
pub(crate) fn json_answer(status: StatusCode, body: Bytes, cached: bool) -> Response {
    let mut res =
        (status, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    let (name, value) = cache_header(cached);
    res.headers_mut().insert(name, value);
    res
}

/// A call past its checks: answered from the cache, or to be sent (with the setup it
/// was checked against, the upstreams that serve it, and its reservation).
pub(crate) enum Prepared {
    /// Answered from the cache.
    Hit(Books, Arc<Entry>),
    /// To go upstream.
    Send(Books, Arc<Setup>, Vec<usize>, Hold),
}

/// The checks, the cache (a hit has the request's shape: the key covers `stream`) and
/// the budget, in that order; a refusal is in the books.
pub(crate) fn prepare(gw: &Gateway, a: &Asked) -> Result<Prepared, OpenAiError> {
    let setup = gw.setup();
    let b = Books::open(gw, &setup, a);
    let refused = |b: Books, e: OpenAiError| {
        b.failed(&e);
        Err(e)
    };
    let serving = match admit(&setup, &a.caller, &a.call) {
        Ok(s) => s,
        Err(e) => return refused(b, e),
    };
    if cacheable(gw, a)
        && let Some(e) = gw.0.cache.get(&a.call.cache_key, Instant::now())
        && e.answer.is_stream() == a.call.stream
    {
        return Ok(Prepared::Hit(b, e));
    }
    match reserve(&setup, &a.caller, &a.call) {
        Ok(hold) => Ok(Prepared::Send(b, setup, serving, hold)),
        Err(e) => refused(b, e),
    }
}

/// Whether an answer may be kept for the next same call.
pub(crate) fn cacheable(gw: &Gateway, a: &Asked) -> bool {
    a.call.cacheable && !a.skip_cache && gw.0.cache.enabled()
}

/// An upstream's 4xx about the request, in the books and passed on.
pub(crate) fn refused_by_upstream(b: Books, upstream: String, status: StatusCode, body: &Bytes, t0: Instant) {
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

/// A call whose answer is one JSON body (also the seed's `/chat`).
pub async fn whole(gw: Gateway, a: Asked) -> Result<Whole, OpenAiError> {
    let (mut b, setup, serving, hold) = match prepare(&gw, &a)? {
        Prepared::Hit(b, e) => {
            b.close_cached(&e);
            return Ok(Whole { status: StatusCode::OK, body: e.answer.bytes().clone(), cached: true });
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
            let logged = b.answer_text(&tally);
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
pub(crate) fn shape_mismatch() -> OpenAiError {
    OpenAiError::upstream(
        StatusCode::BAD_GATEWAY,
        "the upstream answered with a stream where none was asked for, or without one where one was".into(),
        None,
    )
}
