//! `[llm]`: the OpenAI-compatible gateway in front of model servers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::{ByteSize, Dur};
use super::validate::{Problem, problem};

/// `[llm]`. Absent: no gateway (the `/v1` routes answer 404 and nothing runs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// Time allowed until an upstream's first byte; then the next upstream is tried.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Time allowed between two chunks of a stream.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Dur,
    /// How long an answer is served from the cache; "0" turns the cache off.
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl: Dur,
    /// At most this many answers are cached (least recently used go first).
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// At most this many bytes of answers are cached.
    #[serde(default = "default_cache_size")]
    pub cache_size: ByteSize,
    /// Whether prompts and answers are kept in the interaction log (times, tokens and cost always are).
    #[serde(default = "yes")]
    pub log_interactions: bool,
    /// How long interaction rows are kept.
    #[serde(default = "default_retention")]
    pub retention: Dur,
    /// Larger request bodies are refused with a 413.
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
    /// The model of `/chat` requests that name none.
    pub default_model: Option<String>,
    /// Model servers by name.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamSpec>,
    /// Prices per model, for the cost of usage.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
}

/// `[llm.upstreams.NAME]`: one OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Its base URL, up to and including `/v1`.
    pub url: String,
    /// The environment variable holding its API key (keys never go in the file).
    pub api_key_env: Option<String>,
    /// The models it serves: names, or patterns with `*` ("*" serves any).
    #[serde(default = "any_model")]
    pub models: Vec<String>,
    /// Lower is tried first.
    #[serde(default = "default_priority")]
    pub priority: u32,
}

/// `[llm.prices."MODEL"]`: currency units per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million prompt tokens.
    #[serde(default)]
    pub input_per_1m: f64,
    /// Per million completion tokens.
    #[serde(default)]
    pub output_per_1m: f64,
}

impl Price {
    /// The cost of a call with these token counts.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.input_per_1m + completion_tokens as f64 * self.output_per_1m) / 1e6
    }
}

fn default_timeout() -> Dur {
    Dur::secs(10)
}
fn default_idle_timeout() -> Dur {
    Dur::secs(30)
}
fn default_cache_ttl() -> Dur {
    Dur::secs(3600)
}
fn default_cache_entries() -> usize {
    1000
}
fn default_cache_size() -> ByteSize {
    ByteSize(64 * 1024 * 1024)
}
fn yes() -> bool {
    true
}
fn default_retention() -> Dur {
    Dur::secs(30 * 24 * 3600)
}
fn default_max_body() -> ByteSize {
    ByteSize(10 * 1024 * 1024)
}
fn any_model() -> Vec<String> {
    vec!["*".into()]
}
fn default_priority() -> u32 {
    1
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub fn model_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

pub(super) fn check(c: &LlmConfig, out: &mut Vec<Problem>) {
    if c.upstreams.is_empty() {
        out.push(problem(
            &["llm"],
            "needs at least one upstream, like [llm.upstreams.local] url = \"http://127.0.0.1:1234/v1\"",
        ));
    }
    if c.timeout.0.is_zero() {
        out.push(problem(&["llm", "timeout"], "must be above 0"));
    }
    if c.idle_timeout.0.is_zero() {
        out.push(problem(&["llm", "idle_timeout"], "must be above 0"));
    }
    if c.max_body.0 == 0 {
        out.push(problem(&["llm", "max_body"], "must be above 0"));
    }
    if c.retention.0.is_zero() {
        out.push(problem(&["llm", "retention"], "must be above 0 (interaction rows are kept this long)"));
    }
    for (name, u) in &c.upstreams {
        let key = ["llm", "upstreams", name.as_str(), "url"];
        match u.url.split_once("://") {
            Some(("http" | "https", rest)) if !rest.is_empty() && !rest.starts_with('/') => {}
            _ => out.push(problem(
                &key,
                format!("'{}' is not an http(s) URL; write it like \"http://127.0.0.1:1234/v1\"", u.url),
            )),
        }
        if u.models.is_empty() {
            out.push(problem(&["llm", "upstreams", name, "models"], "needs at least one model, or \"*\""));
        }
        if let Some(v) = &u.api_key_env
            && (v.is_empty() || v.contains('='))
        {
            out.push(problem(
                &["llm", "upstreams", name, "api_key_env"],
                "must name an environment variable",
            ));
        }
    }
    for (model, p) in &c.prices {
        for (field, v) in [("input_per_1m", p.input_per_1m), ("output_per_1m", p.output_per_1m)] {
            if !v.is_finite() || v < 0.0 {
                out.push(problem(&["llm", "prices", model, field], "must be a number of 0 or more"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(model_matches("*", "anything"));
        assert!(model_matches("*", ""));
        assert!(model_matches("deepseek*", "deepseek-r1"));
        assert!(!model_matches("deepseek*", "qwen"));
        assert!(model_matches("gpt-4o", "gpt-4o"));
        assert!(!model_matches("gpt-4o", "gpt-4o-mini"));
        assert!(model_matches("*mini", "gpt-4o-mini"));
        assert!(model_matches("a*b*c", "a-x-b-y-c"));
        assert!(!model_matches("a*b*c", "a-x-c"));
        assert!(!model_matches("ab*ba", "aba"));
    }

    #[test]
    fn cost_is_per_million() {
        let p = Price { input_per_1m: 2.0, output_per_1m: 6.0 };
        assert!((p.cost(1_000_000, 500_000) - 5.0).abs() < 1e-9);
    }
}
