//! Model servers: where a call can go, in order, and how each is doing.
//!
//! An upstream that fails [`FAILS_TO_REST`] times in a row rests for
//! [`REST`]; one that answers 429 rests as long as its `retry-after` says
//! (at most [`MAX_RETRY_AFTER`]). A resting upstream is skipped.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::{HeaderValue, Method, Request, Uri, request};
use ctrl_core::config::{UpstreamSpec, model_matches};
use ctrl_proto::UpstreamInfo;

/// Failures in a row before an upstream rests.
pub const FAILS_TO_REST: u32 = 3;
/// How long it rests then.
pub const REST: Duration = Duration::from_secs(30);
/// The longest `retry-after` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// How an upstream has been doing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    fails_in_row: u32,
    /// Skipped until then.
    pub resting_until: Option<Instant>,
    /// Whether it rests because it asked to (a 429), not because it failed.
    pub asked_to_wait: bool,
    /// Its last failure.
    pub last_error: Option<String>,
    /// Time to first byte, smoothed (ms).
    pub latency_ms: Option<f64>,
    /// Calls sent.
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
}

impl Health {
    /// Whether calls may go to it now.
    pub fn usable(&self, now: Instant) -> bool {
        self.resting_until.is_none_or(|t| now >= t)
    }

    /// Whether it may be tried when nothing else can answer: it rests after failures
    /// (it may be back), not because it asked to wait.
    pub fn last_resort(&self, now: Instant) -> bool {
        self.usable(now) || !self.asked_to_wait
    }

    /// A call got its first byte after `ms`.
    pub fn succeeded(&mut self, ms: f64) {
        self.calls += 1;
        self.fails_in_row = 0;
        self.resting_until = None;
        self.latency_ms = Some(match self.latency_ms {
            Some(l) => l * 0.8 + ms * 0.2,
            None => ms,
        });
    }

    /// A call failed; the third in a row makes it rest.
    pub fn failed(&mut self, error: &str, now: Instant) {
        self.calls += 1;
        self.failures += 1;
        self.fails_in_row += 1;
        self.last_error = Some(error.to_owned());
        if self.fails_in_row >= FAILS_TO_REST {
            self.resting_until = Some(now + REST);
            self.asked_to_wait = false;
        }
    }

    /// It answered 429; it rests as asked.
    pub fn rate_limited(&mut self, retry_after: Option<Duration>, now: Instant) {
        self.calls += 1;
        self.failures += 1;
        self.last_error = Some("429 Too Many Requests".into());
        if let Some(d) = retry_after {
            self.resting_until = Some(now + d.min(MAX_RETRY_AFTER));
            self.asked_to_wait = true;
        }
    }
}

/// One model server.
#[derive(Debug)]
pub struct Upstream {
    /// Its name in `[llm.upstreams]`.
    pub name: String,
    /// Its base URL without a trailing slash.
    pub base: String,
    /// `Bearer <key>` from its `api_key_env`, marked sensitive (never logged).
    pub auth: Option<HeaderValue>,
    /// Model patterns it serves.
    pub models: Vec<String>,
    /// Lower first.
    pub priority: u32,
    health: Mutex<Health>,
}

impl Upstream {
    /// From its config; the API key is read from the environment now.
    pub fn new(name: &str, spec: &UpstreamSpec) -> Result<Upstream, String> {
        let base = spec.url.trim_end_matches('/').to_owned();
        base.parse::<Uri>().map_err(|e| format!("upstream '{name}': '{}' is not a URL: {e}", spec.url))?;
        let auth = match &spec.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.is_empty() => {
                    let mut v = HeaderValue::from_str(&format!("Bearer {k}"))
                        .map_err(|_| format!("upstream '{name}': ${var} holds characters a header cannot"))?;
                    v.set_sensitive(true);
                    Some(v)
                }
                _ => {
                    tracing::warn!(
                        upstream = name,
                        var,
                        "the API key variable is not set; calling without a key"
                    );
                    None
                }
            },
        };
        Ok(Upstream {
            name: name.to_owned(),
            base,
            auth,
            models: spec.models.clone(),
            priority: spec.priority,
            health: Mutex::new(Health::default()),
        })
    }

    /// Its health, to read or change.
    pub fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether it serves `model`.
    pub fn serves(&self, model: &str) -> bool {
        self.models.iter().any(|p| model_matches(p, model))
    }

    /// The URI of one of its routes.
    pub fn uri(&self, path: &str) -> Result<Uri, String> {
        format!("{}/{path}", self.base).parse().map_err(|e| format!("{e}"))
    }

    /// A request to one of its routes, with its key and the daemon's name.
    pub fn request(&self, method: Method, path: &str) -> Result<request::Builder, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(self.uri(path)?)
            .header(USER_AGENT, ctrl_web::client::USER_AGENT);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        Ok(req)
    }

    /// What clients see of it.
    pub fn info(&self, now: Instant) -> UpstreamInfo {
        let h = self.health();
        UpstreamInfo {
            name: self.name.clone(),
            url: self.base.clone(),
            models: self.models.clone(),
            priority: self.priority,
            healthy: h.usable(now) && h.fails_in_row == 0,
            last_error: h.last_error.clone(),
            latency_ms: h.latency_ms,
            calls: h.calls,
            failures: h.failures,
        }
    }
}

/// The seconds of a `retry-after` header, at most [`MAX_RETRY_AFTER`] (its date form is
/// not used by model servers).
pub fn retry_after(v: Option<&HeaderValue>) -> Option<Duration> {
    let s = v?.to_str().ok()?.trim();
    let secs = s.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0)?;
    Duration::try_from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failures_in_a_row_rest_an_upstream_and_a_success_forgives() {
        let t0 = Instant::now();
        let mut h = Health::default();
        h.failed("connection refused", t0);
        h.failed("connection refused", t0);
        assert!(h.usable(t0));
        h.succeeded(10.0);
        h.failed("500", t0);
        h.failed("500", t0);
        assert!(h.usable(t0));
        h.failed("500", t0);
        assert!(!h.usable(t0 + REST - Duration::from_millis(1)));
        assert!(h.usable(t0 + REST));
        assert!(h.last_resort(t0), "failures rest it, yet it may be the only one left");
        assert_eq!((h.calls, h.failures), (6, 5));
        assert_eq!(h.last_error.as_deref(), Some("500"));
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_limit() {
        let t0 = Instant::now();
        let mut h = Health::default();
        h.rate_limited(Some(Duration::from_secs(2)), t0);
        assert!(!h.usable(t0 + Duration::from_secs(1)));
        assert!(!h.last_resort(t0), "it asked to wait");
        assert!(h.usable(t0 + Duration::from_secs(2)));
        h.rate_limited(Some(Duration::from_secs(99_999)), t0);
        assert!(h.usable(t0 + MAX_RETRY_AFTER));
        let mut h = Health::default();
        h.rate_limited(None, t0);
        assert!(h.usable(t0));
    }

    #[test]
    fn latency_is_smoothed() {
        let mut h = Health::default();
        h.succeeded(100.0);
        h.succeeded(200.0);
        assert_eq!(h.latency_ms, Some(120.0));
    }

    #[test]
    fn retry_after_headers() {
        assert_eq!(retry_after(Some(&HeaderValue::from_static("3"))), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("0.5"))), Some(Duration::from_millis(500)));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
        assert_eq!(retry_after(None), None);
        assert_eq!(retry_after(Some(&HeaderValue::from_static("1e20"))), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn models_and_uris() {
        let spec = UpstreamSpec {
            url: "http://127.0.0.1:1234/v1/".into(),
            api_key_env: None,
            models: vec!["deepseek*".into()],
            priority: 2,
        };
        let u = Upstream::new("lm", &spec).unwrap();
        assert!(u.serves("deepseek-r1") && !u.serves("qwen"));
        assert_eq!(
            u.uri("chat/completions").unwrap().to_string(),
            "http://127.0.0.1:1234/v1/chat/completions"
        );
    }
}
