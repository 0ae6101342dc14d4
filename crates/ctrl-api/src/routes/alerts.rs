//! `/api/alerts`: what was raised and sent, the rules, and a test send.

use axum::extract::State;
use ctrl_proto::{AlertInfo, AlertRuleInfo, ChannelInfo, Envelope, ErrorEnvelope, TestAlert};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Body, Caller, Failure, Query, ok};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::state::AppState;

/// Query of the alerts list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// How many, newest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Alerts raised, newest first, with how each delivery went.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = Envelope<Vec<AlertInfo>>), (status = 400, body = ErrorEnvelope)))]
pub async fn list(State(st): State<AppState>, Query(q): Query<AlertsQuery>) -> ApiResult<Vec<AlertInfo>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Failure::bad_request("limit must be between 1 and 1000"));
    }
    ok(st.alerts.list(limit).await?)
}

/// The rules, with the subjects each is firing for now.
#[utoipa::path(get, path = "/api/alerts/rules", tag = "alerts",
    responses((status = 200, body = Envelope<Vec<AlertRuleInfo>>)))]
pub async fn rules(State(st): State<AppState>) -> ApiResult<Vec<AlertRuleInfo>> {
    ok(st.alerts.rules())
}

/// The channels (names and formats; their URLs are secrets).
#[utoipa::path(get, path = "/api/alerts/channels", tag = "alerts",
    responses((status = 200, body = Envelope<Vec<ChannelInfo>>)))]
pub async fn channels(State(st): State<AppState>) -> ApiResult<Vec<ChannelInfo>> {
    ok(st.alerts.channels())
}

/// Sends a test message to a channel and answers with how delivery went (admin).
#[utoipa::path(post, path = "/api/alerts/test", tag = "alerts", request_body = TestAlert,
    responses((status = 200, body = Envelope<AlertInfo>), (status = 404, body = ErrorEnvelope)))]
pub async fn test(State(st): State<AppState>, c: Caller, Body(t): Body<TestAlert>) -> ApiResult<AlertInfo> {
    let done = st.alerts.test(&t.channel).await;
    let result = match &done {
        Ok(a) if a.deliveries.iter().all(|d| d.ok) => "ok",
        _ => "failed",
    };
    let target = format!("channel:{}", t.channel);
    st.access.audit(&c.principal.actor, "alert.test", Some(&target), c.address.clone(), result, None).await;
    ok(done?)
}

/// Alerts: reading for any principal, test sends for admins.
pub fn routes(access: &ctrl_access::Access) -> ApiRouter<AppState> {
    let read = ApiRouter::new().routes(routes!(list)).routes(routes!(rules)).routes(routes!(channels));
    read.merge(access.admins_only(ApiRouter::new().routes(routes!(test))))
}
