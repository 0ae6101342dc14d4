//! The LLM gateway as clients of `/api/llm` see it: usage, interactions,
//! upstreams and keys. (`/v1` speaks OpenAI's own wire format.)

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One row of `GET /api/llm/usage`: calls, tokens and cost of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRow {
    /// The day (`YYYY-MM-DD`, UTC), when grouped by day.
    pub date: Option<String>,
    /// Who called: a key's name, or the user or token.
    pub service: Option<String>,
    /// The model asked for.
    pub model: Option<String>,
    /// The LLM key's id, when grouped by key and the calls came with one.
    pub key: Option<i64>,
    /// Calls made.
    pub calls: u64,
    /// Of which answered from the cache.
    pub cached: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost from `[llm.prices]`.
    pub cost: f64,
    /// Calls whose tokens were counted by the gateway (the upstream gave none).
    pub estimated: u64,
}

/// One try at one upstream within a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// The upstream's name.
    pub upstream: String,
    /// Its HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// How long the try took, in milliseconds.
    pub ms: f64,
}

/// One call through the gateway (`GET /api/llm/interactions/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Interaction {
    /// Its id.
    pub id: i64,
    /// When it came in.
    pub at: DateTime<Utc>,
    /// `chat/completions`, `completions`, `embeddings` or `chat`.
    pub endpoint: String,
    /// The model asked for.
    pub model: String,
    /// The upstream that answered.
    pub upstream: Option<String>,
    /// Who called.
    pub service: String,
    /// The LLM key used, if any.
    pub key: Option<i64>,
    /// Whether the answer was streamed.
    pub stream: bool,
    /// The request body (absent when `log_interactions = false`, and in lists).
    #[schema(value_type = Option<Object>)]
    pub request: Option<serde_json::Value>,
    /// The answer: its body, or the streamed text put together (absent as the request).
    #[schema(value_type = Option<Object>)]
    pub response: Option<serde_json::Value>,
    /// The HTTP status the client got.
    pub status: u16,
    /// Milliseconds from the request to the end of the answer.
    pub processing_ms: f64,
    /// Milliseconds to the first byte of the answer.
    pub ttfb_ms: Option<f64>,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost from `[llm.prices]`.
    pub cost: f64,
    /// Whether it was answered from the cache.
    pub cached: bool,
    /// Whether the tokens were counted here (the upstream gave none).
    pub estimated: bool,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Every upstream tried, in order.
    pub attempts: Vec<Attempt>,
}

/// `GET /api/llm/upstreams`: a model server and how it is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpstreamInfo {
    /// Its name in `[llm.upstreams]`.
    pub name: String,
    /// Its base URL.
    pub url: String,
    /// The models it serves (patterns).
    pub models: Vec<String>,
    /// Lower is tried first.
    pub priority: u32,
    /// False while it is skipped after failing.
    pub healthy: bool,
    /// Its last failure.
    pub last_error: Option<String>,
    /// Its recent time to first byte, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Calls sent to it since the start.
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
}

/// An LLM key: who may call the gateway, which models, within what budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LlmKeyInfo {
    /// Its id.
    pub id: i64,
    /// Its name: the service its usage is counted under.
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// Models it may use (patterns with `*`).
    pub models: Vec<String>,
    /// Spending allowed per period (none: no limit).
    pub budget: Option<f64>,
    /// Spent in the current period.
    pub spent: f64,
    /// `day` or `month` (UTC).
    pub period: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `POST /api/llm/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewLlmKey {
    /// Its name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Models it may use; default any.
    #[serde(default)]
    pub models: Vec<String>,
    /// Spending allowed per period; none for no limit.
    pub budget: Option<f64>,
    /// `day` (default) or `month`.
    pub period: Option<String>,
}

/// The answer to `POST /api/llm/keys`: the key, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedLlmKey {
    /// The key as stored.
    pub info: LlmKeyInfo,
    /// The secret, for `Authorization: Bearer`. Only its hash is kept.
    pub key: String,
}

/// `POST /api/llm/cache/clear`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CacheCleared {
    /// Answers dropped.
    pub entries: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// `POST /test`: one upstream's reachability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UpstreamCheck {
    /// Its name.
    pub name: String,
    /// Its base URL.
    pub url: String,
    /// Whether `GET {url}/models` answered 2xx.
    pub ok: bool,
    /// The status it answered.
    pub status: Option<u16>,
    /// Milliseconds to the answer.
    pub latency_ms: f64,
    /// Models it lists.
    pub models: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}
