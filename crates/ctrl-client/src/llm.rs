//! The LLM gateway's routes: `/api/llm/…` (the envelope) and the seed's `/test`
//! and `/chat` (OpenAI's error shape).

use bytes::Bytes;
use ctrl_proto::{
    CacheCleared, CreatedLlmKey, ErrorCode, Interaction, LlmKeyInfo, NewLlmKey, UpstreamInfo, UsageRow,
};
use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::{Client, Error};

/// Which interactions to list (`GET /api/llm/interactions`).
#[derive(Debug, Clone, Default)]
pub struct LlmLog {
    /// How many.
    pub limit: Option<u32>,
    /// Only ids below this.
    pub before: Option<i64>,
    /// Only this model.
    pub model: Option<String>,
    /// Only this key id.
    pub key: Option<i64>,
    /// Only those containing this text.
    pub q: Option<String>,
}

/// An answer of the seed's routes, which speak OpenAI's error shape: its status and JSON.
fn openai_answer(status: StatusCode, bytes: &Bytes) -> Result<Value, Error> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Protocol(format!("the gateway's answer is not JSON: {e}")))?;
    if status.is_success() {
        return Ok(v);
    }
    let message = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("the gateway refused");
    let code = ErrorCode::ALL
        .into_iter()
        .find(|c| c.http_status() == status.as_u16())
        .unwrap_or(ErrorCode::Internal);
    Err(Error::Api { status: status.as_u16(), code, message: message.to_owned() })
}

impl Client {
    /// `GET /api/llm/usage`.
    pub async fn llm_usage(
        &self,
        from: Option<String>,
        to: Option<String>,
        group_by: Option<String>,
    ) -> Result<Vec<UsageRow>, Error> {
        let q = crate::api::query(&[("from", from), ("to", to), ("group_by", group_by)]);
        self.get(&format!("/api/llm/usage{q}")).await
    }

    /// `GET /api/llm/interactions`.
    pub async fn llm_log(&self, f: &LlmLog) -> Result<Vec<Interaction>, Error> {
        let q = crate::api::query(&[
            ("limit", f.limit.map(|n| n.to_string())),
            ("before", f.before.map(|n| n.to_string())),
            ("model", f.model.clone()),
            ("key", f.key.map(|n| n.to_string())),
            ("q", f.q.clone()),
        ]);
        self.get(&format!("/api/llm/interactions{q}")).await
    }

    /// `GET /api/llm/interactions/{id}`.
    pub async fn llm_interaction(&self, id: i64) -> Result<Interaction, Error> {
        self.get(&format!("/api/llm/interactions/{id}")).await
    }

    /// `GET /api/llm/upstreams`.
    pub async fn llm_upstreams(&self) -> Result<Vec<UpstreamInfo>, Error> {
        self.get("/api/llm/upstreams").await
    }

    /// `POST /api/llm/cache/clear`.
    pub async fn llm_clear_cache(&self) -> Result<CacheCleared, Error> {
        self.call(Method::POST, "/api/llm/cache/clear", None::<&()>).await
    }

    /// `GET /api/llm/keys`.
    pub async fn llm_keys(&self) -> Result<Vec<LlmKeyInfo>, Error> {
        self.get("/api/llm/keys").await
    }

    /// `POST /api/llm/keys`: the secret is in the answer, once.
    pub async fn llm_create_key(&self, key: &NewLlmKey) -> Result<CreatedLlmKey, Error> {
        self.call(Method::POST, "/api/llm/keys", Some(key)).await
    }

    /// `DELETE /api/llm/keys/{id}`.
    pub async fn llm_revoke_key(&self, id: i64) -> Result<LlmKeyInfo, Error> {
        self.call(Method::DELETE, &format!("/api/llm/keys/{id}"), None::<&()>).await
    }

    /// `POST /test`: each upstream's reachability, `{ok, upstreams: [UpstreamCheck]}`.
    pub async fn llm_test(&self) -> Result<Value, Error> {
        let (status, bytes) = self.raw(Method::POST, "/test", None).await?;
        openai_answer(status, &bytes)
    }

    /// `POST /chat`: one answer from the default (or a named) model.
    pub async fn llm_chat(&self, message: &str, model: Option<&str>) -> Result<Value, Error> {
        let body = serde_json::json!({"message": message, "model": model});
        let (status, bytes) = self.raw(Method::POST, "/chat", Some(body.to_string().into_bytes())).await?;
        openai_answer(status, &bytes)
    }
}
