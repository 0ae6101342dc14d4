//! `/api/llm/…`: usage, the interaction log, upstreams, the cache and keys.
//!
//! Usage and upstreams are for every role; the interaction log (it holds
//! prompts) and the cache are for operators; keys (they spend money) for
//! admins. Every change is audited. Without `[llm]`, every route is a 404 that
//! says how to add one.

use std::time::Instant;

use axum::extract::{FromRef, State};
use chrono::{NaiveDate, Utc};
use ctrl_access::Access;
use ctrl_core::config::valid_name;
use ctrl_proto::{
    CacheCleared, CreatedLlmKey, Envelope, ErrorCode, ErrorEnvelope, Interaction, LlmKeyInfo, NewLlmKey,
    UpstreamInfo, UsageRow,
};
use ctrl_store::{InteractionFilter, UsageGroup};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Body, Caller, Failure, Path, Query, ok};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::keys::{KEY_PREFIX, Period};
use crate::{Gateway, LlmError, LlmState};

impl LlmState {
    fn get(&self) -> Result<&Gateway, Failure> {
        self.0.as_ref().ok_or_else(|| {
            Failure::new(
                ErrorCode::NotFound,
                "no LLM gateway here: add an [llm] section with an upstream to ctrl.toml",
            )
        })
    }
}

/// The routes, with their roles.
pub fn routes<S>(access: &Access) -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    LlmState: FromRef<S>,
    Access: FromRef<S>,
{
    let read = ApiRouter::new().routes(routes!(usage)).routes(routes!(upstreams));
    let operate = ApiRouter::new()
        .routes(routes!(interactions))
        .routes(routes!(interaction))
        .routes(routes!(clear_cache));
    let admin = ApiRouter::new().routes(routes!(keys, create_key)).routes(routes!(revoke_key));
    read.merge(access.operators_only(operate)).merge(access.admins_only(admin))
}

/// Which usage to sum.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First day, `YYYY-MM-DD` (default: 30 days ago).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
    /// `day` (default), `model`, `key` or `service`.
    pub group_by: Option<String>,
}

fn day(text: Option<&str>, default: NaiveDate, name: &str) -> Result<NaiveDate, Failure> {
    match text {
        None => Ok(default),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
            Failure::bad_request(format!("{name} '{t}' is not a day; write it like 2026-12-01"))
        }),
    }
}

/// Calls, tokens and cost per day, model, key or service (UTC days).
#[utoipa::path(get, path = "/api/llm/usage", tag = "llm", params(UsageQuery),
    responses((status = 200, body = Envelope<Vec<UsageRow>>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn usage(State(llm): State<LlmState>, Query(q): Query<UsageQuery>) -> ApiResult<Vec<UsageRow>> {
    let gw = llm.get()?;
    let today = Utc::now().date_naive();
    let from = day(q.from.as_deref(), today - chrono::Days::new(30), "from")?;
    let to = day(q.to.as_deref(), today, "to")?;
    let group = match q.group_by.as_deref().unwrap_or("day") {
        "day" => UsageGroup::Day,
        "model" => UsageGroup::Model,
        "key" => UsageGroup::Key,
        "service" => UsageGroup::Service,
        other => {
            return Err(Failure::bad_request(format!(
                "group_by '{other}' is not one of day, model, key, service"
            )));
        }
    };
    let rows =
        gw.0.store.llm_usage(&from.to_string(), &to.to_string(), group).await.map_err(LlmError::from)?;
    ok(rows)
}

/// Every upstream with its health and latency.
#[utoipa::path(get, path = "/api/llm/upstreams", tag = "llm",
    responses((status = 200, body = Envelope<Vec<UpstreamInfo>>), (status = 404, body = ErrorEnvelope)))]
pub async fn upstreams(State(llm): State<LlmState>) -> ApiResult<Vec<UpstreamInfo>> {
    let gw = llm.get()?;
    let now = Instant::now();
    ok(gw.setup().upstreams.iter().map(|u| u.info(now)).collect())
}

/// Which interactions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InteractionsQuery {
    /// How many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Only those with a smaller id (the next page).
    pub before: Option<i64>,
    /// Only this model.
    pub model: Option<String>,
    /// Only this LLM key's id.
    pub key: Option<i64>,
    /// Only those whose prompt, answer, error or model contains this.
    pub q: Option<String>,
}

/// The interaction log, newest first (without the bodies: see one by id).
#[utoipa::path(get, path = "/api/llm/interactions", tag = "llm", params(InteractionsQuery),
    responses((status = 200, body = Envelope<Vec<Interaction>>), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn interactions(
    State(llm): State<LlmState>,
    Query(q): Query<InteractionsQuery>,
) -> ApiResult<Vec<Interaction>> {
    let gw = llm.get()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Failure::bad_request("limit must be between 1 and 500"));
    }
    if q.q.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(Failure::bad_request("q must be at most 200 bytes"));
    }
    let filter = InteractionFilter { limit, before: q.before, model: q.model, key: q.key, q: q.q };
    ok(gw.0.store.llm_interactions(&filter).await.map_err(LlmError::from)?)
}

/// One interaction with its request and answer.
#[utoipa::path(get, path = "/api/llm/interactions/{id}", tag = "llm",
    params(("id" = i64, Path, description = "Interaction id")),
    responses((status = 200, body = Envelope<Interaction>), (status = 404, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
pub async fn interaction(State(llm): State<LlmState>, Path(id): Path<i64>) -> ApiResult<Interaction> {
    let gw = llm.get()?;
    let found = gw.0.store.llm_interaction(id).await.map_err(LlmError::from)?;
    ok(found.ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no interaction with id {id}")))?)
}

/// Drops every cached answer.
#[utoipa::path(post, path = "/api/llm/cache/clear", tag = "llm",
    responses((status = 200, body = Envelope<CacheCleared>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn clear_cache(
    State(llm): State<LlmState>,
    State(access): State<Access>,
    c: Caller,
) -> ApiResult<CacheCleared> {
    let gw = llm.get()?;
    let (entries, bytes) = gw.0.cache.clear();
    let detail = format!("{entries} answers, {bytes} bytes");
    access.audit(&c.principal.actor, "llm_cache_cleared", None, c.address, "ok", Some(&detail)).await;
    ok(CacheCleared { entries, bytes })
}

/// Every key, revoked ones too, with what each spent this period.
#[utoipa::path(get, path = "/api/llm/keys", tag = "llm",
    responses((status = 200, body = Envelope<Vec<LlmKeyInfo>>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn keys(State(llm): State<LlmState>) -> ApiResult<Vec<LlmKeyInfo>> {
    let gw = llm.get()?;
    let now = Utc::now();
    let rows = gw.0.store.llm_keys().await.map_err(LlmError::from)?;
    ok(rows
        .into_iter()
        .map(|r| match gw.0.keys.by_id(r.info.id) {
            Some(k) => k.info(now),
            None => r.info,
        })
        .collect())
}

/// Makes a key; the answer is the only time its secret is shown.
#[utoipa::path(post, path = "/api/llm/keys", tag = "llm", request_body = NewLlmKey,
    responses((status = 200, body = Envelope<CreatedLlmKey>), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn create_key(
    State(llm): State<LlmState>,
    State(access): State<Access>,
    c: Caller,
    Body(b): Body<NewLlmKey>,
) -> ApiResult<CreatedLlmKey> {
    let gw = llm.get()?;
    if !valid_name(&b.name) {
        return Err(LlmError::Invalid(format!(
            "'{}' is not a key name: use 1-64 letters, digits, '-', '_' or '.'",
            b.name
        ))
        .into());
    }
    let period = match b.period.as_deref() {
        None => Period::Day,
        Some(p) => {
            Period::parse(p).ok_or_else(|| LlmError::Invalid(format!("period '{p}' is not day or month")))?
        }
    };
    if b.budget.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err(LlmError::Invalid("the budget must be a number of 0 or more".into()).into());
    }
    let models = if b.models.is_empty() { vec!["*".to_owned()] } else { b.models };
    if models.iter().any(|m| m.is_empty() || m.len() > 200) || models.len() > 100 {
        return Err(
            LlmError::Invalid("models are 1-100 names or patterns of at most 200 bytes".into()).into()
        );
    }
    let secret = format!("{KEY_PREFIX}{}", ctrl_access::password::secret());
    let hash = ctrl_access::password::digest(&secret);
    let prefix: String = secret.chars().take(KEY_PREFIX.len() + 6).collect();
    let row = gw.0.store.llm_key_add(&b.name, &hash, &prefix, &models, b.budget, period.as_str()).await;
    let row = row
        .map_err(LlmError::from)?
        .ok_or_else(|| LlmError::Conflict(format!("a key named '{}' exists; revoke it first", b.name)))?;
    let key = gw.0.keys.add(row, 0.0, Utc::now());
    let detail = match b.budget {
        Some(v) => format!("budget {v}/{}, models {}", period.as_str(), models.join(",")),
        None => format!("no budget, models {}", models.join(",")),
    };
    access.audit(&c.principal.actor, "llm_key_created", Some(&b.name), c.address, "ok", Some(&detail)).await;
    ok(CreatedLlmKey { info: key.info(Utc::now()), key: secret })
}

/// Revokes a key: calls with it are refused at once.
#[utoipa::path(delete, path = "/api/llm/keys/{id}", tag = "llm",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, body = Envelope<LlmKeyInfo>), (status = 404, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
pub async fn revoke_key(
    State(llm): State<LlmState>,
    State(access): State<Access>,
    c: Caller,
    Path(id): Path<i64>,
) -> ApiResult<LlmKeyInfo> {
    let gw = llm.get()?;
    let row = gw.0.store.llm_key_revoke(id).await.map_err(LlmError::from)?;
    let row = row.ok_or_else(|| LlmError::NotFound(format!("no live LLM key with id {id}")))?;
    gw.0.keys.remove(id);
    access
        .audit(
            &c.principal.actor,
            "llm_key_revoked",
            Some(&row.info.name),
            c.address,
            "ok",
            Some(&id.to_string()),
        )
        .await;
    ok(row.info)
}
