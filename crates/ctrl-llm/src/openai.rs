//! The OpenAI wire format: `/v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`, `/v1/models`, and the seed's chat server (`/chat`, `/test`).
//!
//! These routes authenticate by themselves, with an LLM key or an API token (or
//! a login session, for the dashboard's playground), and answer every error in
//! OpenAI's shape, which SDKs parse. They sit outside the API's body limit: a
//! request may be up to `[llm] max_body`.

use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::header::{ACCEPT, CONTENT_LENGTH};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use ctrl_access::Access;
use ctrl_core::Role;
use ctrl_proto::UpstreamCheck;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::call::{self, Endpoint};
use crate::error::OpenAiError;
use crate::keys::KEY_PREFIX;
use crate::proxy::{self, Asked, Caller};
use crate::upstream::Upstream;
use crate::{Gateway, LlmState};

/// How long `/v1/models` and `/test` wait for an upstream's model list.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// The OpenAI-compatible routes and the seed's chat server.
pub fn openai_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LlmState: FromRef<S>,
    Access: FromRef<S>,
{
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/v1/{*rest}", any(no_such_route))
        .route("/chat", post(seed_chat))
        .route("/test", post(test))
}

fn gateway(llm: LlmState) -> Result<Gateway, OpenAiError> {
    llm.0.ok_or_else(OpenAiError::not_configured)
}

/// Who is calling: an LLM key, else an API token, login session or the unix socket
/// (at least an operator: calls cost money, and only keys have budgets).
async fn caller(gw: &Gateway, access: &Access, parts: &Parts) -> Result<Caller, OpenAiError> {
    if let Some(secret) = ctrl_access::bearer(&parts.headers).find(|b| b.starts_with(KEY_PREFIX)) {
        let hash = ctrl_access::password::digest(secret);
        return match gw.0.keys.find(&hash) {
            Some(key) => Ok(Caller { service: key.name.clone(), key: Some(key) }),
            None => Err(OpenAiError::unauthorized("this LLM key is unknown or revoked")),
        };
    }
    let p = access.principal_of(parts).await?;
    if !p.role.allows(Role::Operator) {
        return Err(OpenAiError::forbidden(
            format!("your role ({}) cannot call models; it needs operator, or use an LLM key", p.role),
            "role_too_low",
        ));
    }
    Ok(Caller { service: p.actor, key: None })
}

/// Reads a body of at most `max_body` bytes.
async fn body_of(gw: &Gateway, body: axum::body::Body) -> Result<Bytes, OpenAiError> {
    let max = gw.setup().max_body;
    axum::body::to_bytes(body, usize::try_from(max).unwrap_or(usize::MAX)).await.map_err(|e| {
        let too_large =
            std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            OpenAiError::too_large(max)
        } else {
            OpenAiError::bad_request("cannot read the body", None)
        }
    })
}

/// The head's checks: the gateway exists, the declared size fits, the caller is known.
async fn admit(llm: LlmState, access: &Access, parts: &Parts) -> Result<(Gateway, Caller), OpenAiError> {
    let gw = gateway(llm)?;
    let declared =
        parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > gw.setup().max_body) {
        return Err(OpenAiError::too_large(gw.setup().max_body));
    }
    let caller = caller(&gw, access, parts).await?;
    Ok((gw, caller))
}

async fn v1(llm: LlmState, access: Access, endpoint: Endpoint, req: Request) -> Response {
    let t0 = Instant::now();
    let (parts, body) = req.into_parts();
    let run = async {
        let (gw, caller) = admit(llm, &access, &parts).await?;
        let bytes = body_of(&gw, body).await?;
        let call =
            call::parse(endpoint, &bytes).map_err(|e| OpenAiError::bad_request(e.to_string(), e.param()))?;
        let skip_cache =
            parts.headers.get("x-ctrl-cache").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no"));
        Ok::<_, OpenAiError>(proxy::forward(gw, Asked { caller, call, body: bytes, skip_cache, t0 }).await)
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn chat_completions(
    State(llm): State<LlmState>,
    State(access): State<Access>,
    req: Request,
) -> Response {
    v1(llm, access, Endpoint::Chat, req).await
}

async fn completions(State(llm): State<LlmState>, State(access): State<Access>, req: Request) -> Response {
    v1(llm, access, Endpoint::Completions, req).await
}

async fn embeddings(State(llm): State<LlmState>, State(access): State<Access>, req: Request) -> Response {
    v1(llm, access, Endpoint::Embeddings, req).await
}

async fn no_such_route(req: Request) -> OpenAiError {
    OpenAiError::bad_request(format!("no route {} {} in this gateway", req.method(), req.uri().path()), None)
        .with_status(axum::http::StatusCode::NOT_FOUND)
}

/// The models an upstream lists at `GET {url}/models`.
async fn listed(gw: &Gateway, u: &Upstream) -> Result<(u16, Vec<String>), String> {
    let req = u
        .request(axum::http::Method::GET, "models")?
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let fetch = async {
        let res = gw.client().request(req).await.map_err(|e| format!("cannot reach it: {e}"))?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let ids = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("data").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        Ok((status, ids))
    };
    tokio::time::timeout(LIST_TIMEOUT, fetch)
        .await
        .map_err(|_| format!("no answer within {LIST_TIMEOUT:?}"))?
}

/// `GET /v1/models`: the models of every upstream (named in its config, or
/// listed by the upstream when it serves patterns), those the key may use.
async fn models(State(llm): State<LlmState>, State(access): State<Access>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (gw, caller) = match admit(llm, &access, &parts).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let setup = gw.setup();
    let ups = &setup.upstreams;
    let lists = futures_util::future::join_all(ups.iter().map(|u| async {
        let mut names: Vec<String> = u.models.iter().filter(|m| !m.contains('*')).cloned().collect();
        if u.models.iter().any(|m| m.contains('*'))
            && let Ok((200..=299, ids)) = listed(&gw, u).await
        {
            names.extend(ids.into_iter().filter(|id| u.serves(id)));
        }
        (u.name.clone(), names)
    }))
    .await;
    let mut seen = std::collections::BTreeSet::new();
    let mut data = Vec::new();
    for (owner, names) in lists {
        for id in names {
            let allowed = caller.key.as_ref().is_none_or(|k| k.allows(&id));
            if allowed && seen.insert(id.clone()) {
                data.push(json!({"id": id, "object": "model", "created": 0, "owned_by": owner}));
            }
        }
    }
    Json(json!({"object": "list", "data": data})).into_response()
}

/// The seed's `POST /chat`.
#[derive(Debug, Deserialize)]
struct SeedChat {
    message: String,
    model: Option<String>,
    max_tokens: Option<u64>,
    system: Option<String>,
    /// False: not from the cache, nor kept in it.
    cache: Option<bool>,
}

/// `POST /chat {message, model?, max_tokens?, system?}`: one answer, through the same
/// keys, cache, upstreams and books as `/v1/chat/completions`.
async fn seed_chat(State(llm): State<LlmState>, State(access): State<Access>, req: Request) -> Response {
    let t0 = Instant::now();
    let (parts, body) = req.into_parts();
    let run = async {
        let (gw, caller) = admit(llm, &access, &parts).await?;
        let bytes = body_of(&gw, body).await?;
        let asked: SeedChat = serde_json::from_slice(&bytes)
            .map_err(|e| OpenAiError::bad_request(format!("bad body: {e}"), None))?;
        let model = asked.model.or_else(|| gw.setup().default_model.clone()).ok_or_else(|| {
            OpenAiError::bad_request("no model: name one, or set [llm] default_model", Some("model"))
        })?;
        let mut messages = Vec::new();
        if let Some(s) = asked.system {
            messages.push(json!({"role": "system", "content": s}));
        }
        messages.push(json!({"role": "user", "content": asked.message}));
        let mut request = json!({"model": model, "messages": messages});
        if let Some(m) = asked.max_tokens {
            request["max_tokens"] = json!(m);
        }
        if let Some(c) = asked.cache {
            request["cache"] = json!(c);
        }
        let request = Bytes::from(request.to_string());
        let call = call::parse(Endpoint::Chat, &request)
            .map_err(|e| OpenAiError::bad_request(e.to_string(), e.param()))?;
        let answer = proxy::whole(gw, Asked { caller, call, body: request, skip_cache: false, t0 }).await?;
        let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        if !answer.status.is_success() {
            return Ok((answer.status, Json(v)).into_response());
        }
        let text = v.pointer("/choices/0/message/content").and_then(Value::as_str).unwrap_or("");
        Ok::<_, OpenAiError>(
            Json(json!({
                "response": text,
                "model": v.get("model").cloned().unwrap_or(json!(model)),
                "usage": v.get("usage").cloned().unwrap_or(Value::Null),
                "cached": answer.cached,
                "processing_ms": t0.elapsed().as_secs_f64() * 1000.0,
            }))
            .into_response(),
        )
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /test`: every upstream's reachability and latency (its model list).
async fn test(State(llm): State<LlmState>, State(access): State<Access>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (gw, caller) = match admit(llm, &access, &parts).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    // It shows every upstream's address and models: for operators, not for a service's key.
    if caller.key.is_some() {
        let why = "testing the upstreams needs an operator's token or login, not an LLM key";
        return OpenAiError::forbidden(why, "role_too_low").into_response();
    }
    let setup = gw.setup();
    let checks: Vec<UpstreamCheck> = futures_util::future::join_all(setup.upstreams.iter().map(|u| async {
        let t = Instant::now();
        let got = listed(&gw, u).await;
        let latency_ms = t.elapsed().as_secs_f64() * 1000.0;
        match got {
            Ok((status, models)) => UpstreamCheck {
                name: u.name.clone(),
                url: u.base.clone(),
                ok: (200..300).contains(&status),
                status: Some(status),
                latency_ms,
                models,
                error: (!(200..300).contains(&status)).then(|| format!("GET /models answered {status}")),
            },
            Err(e) => UpstreamCheck {
                name: u.name.clone(),
                url: u.base.clone(),
                ok: false,
                status: None,
                latency_ms,
                models: Vec::new(),
                error: Some(e),
            },
        }
    }))
    .await;
    let ok = checks.iter().all(|c| c.ok);
    Json(json!({"ok": ok, "upstreams": checks})).into_response()
}
