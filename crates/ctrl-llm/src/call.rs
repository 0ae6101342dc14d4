//! A request to the gateway, read once: what it asks for, its cache key, and
//! the body sent upstream (unknown fields passed through untouched).

use bytes::Bytes;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The OpenAI routes the gateway forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions` (and the seed's `/chat`, which is built on it).
    Chat,
    /// `/v1/completions`, the legacy text completions of LM Studio's seed setup.
    Completions,
    /// `/v1/embeddings`.
    Embeddings,
}

impl Endpoint {
    /// Its path under an upstream's base URL, and its name in the interaction log.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat/completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

/// What the gateway needs to know of a request.
#[derive(Debug, Clone)]
pub struct Call {
    /// Which route.
    pub endpoint: Endpoint,
    /// The model asked for.
    pub model: String,
    /// Whether the answer is a stream.
    pub stream: bool,
    /// Whether the client asked for the usage chunk of a stream.
    pub wants_usage: bool,
    /// `max_completion_tokens` or `max_tokens`.
    pub max_tokens: Option<u64>,
    /// How many answers it asks for (`n`, `best_of`): each may take `max_tokens`.
    pub choices: u64,
    /// False when the body says `"cache": false`.
    pub cacheable: bool,
    /// SHA-256 over the route and the body with its keys in order (without `cache`).
    pub cache_key: [u8; 32],
    /// What goes upstream.
    pub upstream_body: Bytes,
    /// Characters of prompt text, to estimate tokens when an upstream gives no usage.
    pub prompt_chars: usize,
}

/// Why a request cannot be forwarded (a 400 in OpenAI's shape).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// Not JSON at all.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("the body must be a JSON object")]
    NotObject,
    /// No `model`.
    #[error("you must provide a model parameter")]
    NoModel,
    /// A field of the wrong type.
    #[error("'{0}' {1}")]
    Field(&'static str, &'static str),
}

impl CallError {
    /// The request field the error is about (OpenAI's `param`).
    pub fn param(&self) -> Option<&'static str> {
        match self {
            CallError::NoModel => Some("model"),
            CallError::Field(f, _) => Some(f),
            _ => None,
        }
    }
}

/// Reads a request body.
pub fn parse(endpoint: Endpoint, body: &Bytes) -> Result<Call, CallError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| CallError::NotJson(e.to_string()))?;
    let Value::Object(mut map) = value else { return Err(CallError::NotObject) };
    let model = match map.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err(CallError::NoModel),
        Some(_) => return Err(CallError::Field("model", "must be a string")),
    };
    let stream = match map.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(CallError::Field("stream", "must be true or false")),
    };
    if stream && endpoint == Endpoint::Embeddings {
        return Err(CallError::Field("stream", "is not available for embeddings"));
    }
    let wants_usage = map
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let field = |name| map.get(name).filter(|v| !v.is_null());
    let max_tokens = match field("max_completion_tokens").or_else(|| field("max_tokens")) {
        None => None,
        Some(v) => Some(v.as_u64().ok_or(CallError::Field("max_tokens", "must be a whole number"))?),
    };
    let choices =
        ["n", "best_of"].iter().filter_map(|k| field(k).and_then(Value::as_u64)).max().unwrap_or(1).max(1);
    let cache_field = map.remove("cache");
    let cacheable = match &cache_field {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(CallError::Field("cache", "must be true or false")),
    };
    let cache_key = key_of(endpoint, &map);
    let prompt_chars = match endpoint {
        Endpoint::Chat => map.get("messages").map_or(0, text_chars),
        Endpoint::Completions => map.get("prompt").map_or(0, text_chars),
        Endpoint::Embeddings => map.get("input").map_or(0, text_chars),
    };
    // Streams always ask for usage, so that every stream's tokens are known.
    let upstream_body = if stream && !wants_usage {
        let opts = map.entry("stream_options").or_insert_with(|| Value::Object(Map::new()));
        if !opts.is_object() {
            *opts = Value::Object(Map::new());
        }
        if let Value::Object(o) = opts {
            o.insert("include_usage".into(), Value::Bool(true));
        }
        Bytes::from(Value::Object(map).to_string())
    } else if cache_field.is_some() {
        Bytes::from(Value::Object(map).to_string())
    } else {
        body.clone()
    };
    Ok(Call {
        endpoint,
        model,
        stream,
        wants_usage,
        max_tokens,
        choices,
        cacheable,
        cache_key,
        upstream_body,
        prompt_chars,
    })
}

/// The cache key: the route and every field of the body. Maps are ordered by key
/// (serde_json's map is sorted), so the same request in any field order matches.
fn key_of(endpoint: Endpoint, map: &Map<String, Value>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(endpoint.path().as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(map).unwrap_or_default());
    h.finalize().into()
}

/// Characters of text in a prompt, messages or input, parts and all.
fn text_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(text_chars).sum(),
        Value::Object(o) => ["content", "text"].iter().filter_map(|k| o.get(*k)).map(text_chars).sum(),
        _ => 0,
    }
}

/// Tokens in this many characters, as the gateway guesses them (about four per token).
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> Result<Call, CallError> {
        parse(Endpoint::Chat, &Bytes::from(body.to_owned()))
    }

    #[test]
    fn a_plain_request_goes_upstream_byte_for_byte() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"hi there"}],"x_vendor":{"a":1}}"#;
        let c = call(body).unwrap();
        assert_eq!(c.model, "m");
        assert!(!c.stream && c.cacheable);
        assert_eq!(&c.upstream_body[..], body.as_bytes());
        assert_eq!(c.prompt_chars, 8);
    }

    #[test]
    fn streams_ask_for_usage_and_keep_unknown_fields() {
        let c = call(r#"{"model":"m","stream":true,"messages":[],"weird":[1,2]}"#).unwrap();
        assert!(c.stream && !c.wants_usage);
        let up: Value = serde_json::from_slice(&c.upstream_body).unwrap();
        assert_eq!(up["stream_options"]["include_usage"], true);
        assert_eq!(up["weird"], serde_json::json!([1, 2]));
        let c = call(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#).unwrap();
        assert!(c.wants_usage);
        let c = call(r#"{"model":"m","stream":true,"stream_options":null}"#).unwrap();
        let up: Value = serde_json::from_slice(&c.upstream_body).unwrap();
        assert_eq!(up["stream_options"]["include_usage"], true, "a null is replaced");
    }

    #[test]
    fn the_cache_field_is_ours_and_does_not_change_the_key() {
        let a = call(r#"{"model":"m","messages":[],"temperature":0}"#).unwrap();
        let b = call(r#"{"temperature":0,"cache":false,"messages":[],"model":"m"}"#).unwrap();
        assert!(!b.cacheable);
        assert_eq!(a.cache_key, b.cache_key);
        let up: Value = serde_json::from_slice(&b.upstream_body).unwrap();
        assert!(up.get("cache").is_none());
        let c = call(r#"{"model":"m","messages":[],"temperature":1}"#).unwrap();
        assert_ne!(a.cache_key, c.cache_key);
        let d = parse(Endpoint::Completions, &Bytes::from(r#"{"model":"m","messages":[],"temperature":0}"#))
            .unwrap();
        assert_ne!(a.cache_key, d.cache_key);
    }

    #[test]
    fn bad_bodies_are_named() {
        assert!(matches!(call("not json"), Err(CallError::NotJson(_))));
        assert_eq!(call("[1]").unwrap_err(), CallError::NotObject);
        assert_eq!(call(r#"{"messages":[]}"#).unwrap_err(), CallError::NoModel);
        assert_eq!(call(r#"{"model":""}"#).unwrap_err(), CallError::NoModel);
        assert_eq!(call(r#"{"model":3}"#).unwrap_err().param(), Some("model"));
        assert_eq!(call(r#"{"model":"m","stream":"yes"}"#).unwrap_err().param(), Some("stream"));
        assert_eq!(call(r#"{"model":"m","max_tokens":-1}"#).unwrap_err().param(), Some("max_tokens"));
        let e = parse(Endpoint::Embeddings, &Bytes::from(r#"{"model":"m","stream":true}"#)).unwrap_err();
        assert_eq!(e.param(), Some("stream"));
    }

    #[test]
    fn prompt_text_counts_parts() {
        let c = call(r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"abcd"}]},{"role":"system","content":"ef"}],"max_tokens":7}"#).unwrap();
        assert_eq!(c.prompt_chars, 6);
        assert_eq!((c.max_tokens, c.choices), (Some(7), 1));
        let c =
            call(r#"{"model":"m","max_completion_tokens":null,"max_tokens":9,"n":3,"best_of":5}"#).unwrap();
        assert_eq!((c.max_tokens, c.choices), (Some(9), 5));
        assert_eq!(estimate_tokens(6), 2);
    }
}
