//! The LLM gateway: OpenAI-compatible routes (`/v1/chat/completions`,
//! `/v1/completions`, `/v1/embeddings`, `/v1/models`, and the seed's `/chat` and
//! `/test`) in front of model servers, with streaming passed through event by
//! event, fall-over between upstreams, an exact-match cache, usage and cost per
//! day, service, model and key, an interaction log, and keys with budgets.
//!
//! [`Gateway`] is the running gateway; [`LlmState`] is its router state (absent
//! when `[llm]` is not configured: then nothing of it runs). [`openai_routes`]
//! serve the OpenAI wire format with OpenAI's error shape; [`routes`] are the
//! `/api/llm` routes of the dashboard and CLI, with the API's envelope.

mod api;
mod attempt;
mod books;
pub mod cache;
pub mod call;
mod error;
pub mod keys;
mod ledger;
mod openai;
mod proxy;
pub mod sse;
mod stream;
pub mod tally;
pub mod upstream;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use ctrl_core::config::{LlmConfig, Price};
use ctrl_store::Store;
use ctrl_web::client::Http;

pub use api::routes;
pub use error::{LlmError, OpenAiError};
pub use openai::openai_routes;

/// Name of the overhead histogram (the gateway's own time: total minus upstream time).
pub const OVERHEAD_METRIC: &str = "ctrl_llm_overhead_seconds";
/// Its buckets, in seconds: fine below a millisecond, where the target is.
pub const OVERHEAD_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 1.0];

/// Describes the gateway's metrics and shows its counters at 0 from the start
/// (a scrape then tells "no drops" from "not running"); call once the recorder is in.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        OVERHEAD_METRIC,
        "Time the gateway adds to a call: total minus upstream time."
    );
    metrics::describe_counter!(
        "ctrl_llm_log_dropped_total",
        "Interaction rows dropped: the log's queue was full."
    );
    metrics::describe_counter!("ctrl_llm_requests_total", "Calls through the gateway, by status class.");
    metrics::describe_counter!("ctrl_llm_tokens_total", "Tokens of answered calls, by kind.");
    metrics::counter!("ctrl_llm_log_dropped_total").increment(0);
}

/// What the gateway runs with, from `[llm]`.
pub struct Setup {
    /// Until an upstream's first byte.
    pub timeout: Duration,
    /// Between two chunks of a stream.
    pub idle_timeout: Duration,
    /// Larger bodies get a 413.
    pub max_body: u64,
    /// Whether prompts and answers are logged.
    pub log_interactions: bool,
    /// The model of `/chat` requests that name none.
    pub default_model: Option<String>,
    /// Upstreams by priority, then name.
    pub upstreams: Vec<upstream::Upstream>,
    /// Prices by model.
    pub prices: std::collections::BTreeMap<String, Price>,
}

/// The running gateway: one pointer, cloned per request.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

struct Inner {
    /// Replaced whole by a reload; a call keeps the one it started with.
    setup: RwLock<Arc<Setup>>,
    client: Http,
    cache: cache::Cache,
    keys: keys::KeyBook,
    ledger: Arc<ledger::Ledger>,
    store: Store,
}

impl Gateway {
    /// Starts the gateway: upstreams from `[llm]`, live keys with what they
    /// spent this period, and the writer of usage and interactions.
    pub async fn start(cfg: &LlmConfig, store: Store) -> Result<Gateway, LlmError> {
        let setup = Setup::of(cfg)?;
        let book = keys::KeyBook::default();
        let now = Utc::now();
        for row in store.llm_keys().await? {
            if row.info.revoked_at.is_some() {
                continue;
            }
            let period = keys::Period::parse(&row.info.period).unwrap_or(keys::Period::Day);
            let spent = store.llm_key_spent(row.info.id, &period.start(now).to_string()).await?;
            book.add(row, spent, now);
        }
        let cache = cache::Cache::new(
            cfg.cache_ttl.0,
            cfg.cache_entries,
            usize::try_from(cfg.cache_size.0).unwrap_or(usize::MAX),
        );
        Ok(Gateway(Arc::new(Inner {
            setup: RwLock::new(Arc::new(setup)),
            client: ctrl_web::client::client(),
            cache,
            keys: book,
            ledger: ledger::Ledger::start(store.clone(), cfg.retention.0),
            store,
        })))
    }

    /// Applies a changed `[llm]`: upstreams, prices, timeouts, limits and logging at
    /// once (calls in flight finish with what they started with). An upstream whose
    /// URL did not change keeps its health. The cache's size and the log's retention
    /// are set at start.
    pub fn reload(&self, cfg: &LlmConfig) -> Result<(), LlmError> {
        let new = Setup::of(cfg)?;
        let old = self.setup();
        for u in &new.upstreams {
            if let Some(was) = old.upstreams.iter().find(|o| o.name == u.name && o.base == u.base) {
                *u.health() = was.health().clone();
            }
        }
        *self.0.setup.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        Ok(())
    }

    /// Writes what the books hold and stops their writer (at shutdown).
    pub async fn close(&self) {
        self.0.ledger.close().await;
    }

    /// Its settings and upstreams as they are now.
    pub fn setup(&self) -> Arc<Setup> {
        self.0.setup.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn client(&self) -> &Http {
        &self.0.client
    }

    /// The price of a model (free when `[llm.prices]` does not name it).
    pub fn price(&self, model: &str) -> Price {
        self.setup().price(model)
    }
}

impl Setup {
    fn of(cfg: &LlmConfig) -> Result<Setup, LlmError> {
        let mut upstreams = Vec::new();
        for (name, spec) in &cfg.upstreams {
            upstreams.push(upstream::Upstream::new(name, spec).map_err(LlmError::Config)?);
        }
        upstreams.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.name.cmp(&b.name)));
        Ok(Setup {
            timeout: cfg.timeout.0,
            idle_timeout: cfg.idle_timeout.0,
            max_body: cfg.max_body.0,
            log_interactions: cfg.log_interactions,
            default_model: cfg.default_model.clone(),
            upstreams,
            prices: cfg.prices.clone(),
        })
    }

    /// The price of a model (free when `[llm.prices]` does not name it).
    pub fn price(&self, model: &str) -> Price {
        self.prices.get(model).copied().unwrap_or_default()
    }

    /// Indexes of the upstreams that serve `model`, in order.
    fn serving(&self, model: &str) -> Vec<usize> {
        (0..self.upstreams.len()).filter(|&i| self.upstreams[i].serves(model)).collect()
    }
}

/// The gateway as a router's state: absent when `[llm]` is not configured.
#[derive(Clone, Default)]
pub struct LlmState(pub Option<Gateway>);
