//! The books of one call: its usage (answered calls only) and its interaction row,
//! written once whatever way the call ends, with nothing an upstream said kept when
//! prompts are not logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ctrl_proto::Attempt;
use ctrl_store::{NewInteraction, UsageDelta};

use crate::cache::Entry;
use crate::call::estimate_tokens;
use crate::error::OpenAiError;
use crate::proxy::{Asked, Caller};
use crate::tally::{Tally, Tokens};
use crate::{Gateway, Setup};

/// A logged request or answer is cut at this size (the log is for reading, and its
/// queue's memory is bounded).
const MAX_LOGGED: usize = 256 * 1024;
/// What the books need to know of one call, gathered as it goes.
pub(crate) struct Books {
    pub(crate) gw: Gateway,
    /// The setup the call started with (its prices and logging).
    pub(crate) setup: Arc<Setup>,
    caller: Caller,
    at: DateTime<Utc>,
    /// When the call came in.
    pub(crate) t0: Instant,
    endpoint: &'static str,
    model: String,
    stream: bool,
    prompt_chars: usize,
    request: Option<String>,
    /// Every upstream tried, as the tries go.
    pub(crate) attempts: Vec<Attempt>,
    closed: bool,
}

/// How a call ended, for its interaction row.
pub(crate) struct Ending {
    pub(crate) status: u16,
    pub(crate) upstream: Option<String>,
    pub(crate) tokens: Tokens,
    pub(crate) response: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) ttfb: Option<Duration>,
    pub(crate) cached: bool,
}

impl Books {
    /// Writes usage (answered calls) and the interaction row; returns the cost.
    pub(crate) fn close(mut self, e: Ending) -> f64 {
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
    pub(crate) fn failed(mut self, err: &OpenAiError) {
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

pub(crate) fn overhead(total: Duration, upstream: Duration) {
    metrics::histogram!(crate::OVERHEAD_METRIC).record(total.saturating_sub(upstream).as_secs_f64());
}

impl Books {
    /// The books of a call as it comes in, on the setup it is checked against.
    pub(crate) fn open(gw: &Gateway, setup: &Arc<Setup>, a: &Asked) -> Books {
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

    /// The answer as the log keeps it, when prompts and answers are logged.
    pub(crate) fn answer_text(&self, tally: &Tally) -> Option<String> {
        self.setup.log_interactions.then(|| logged_text(tally.summary().to_string().as_bytes()))
    }

    /// The row of a call answered from the cache.
    pub(crate) fn close_cached(self, e: &Entry) {
        let ttfb = Some(self.t0.elapsed());
        self.close(Ending {
            status: 200,
            upstream: Some(e.upstream.clone()),
            tokens: e.tokens,
            response: e.logged.clone(),
            error: None,
            ttfb,
            cached: true,
        });
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
