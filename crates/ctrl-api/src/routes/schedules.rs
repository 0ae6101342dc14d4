//! `/api/schedules`: actions run at cron times, kept across restarts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctrl_proto::{Envelope, ErrorCode, ErrorEnvelope, NewSchedule, ScheduleChange, ScheduleInfo};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Body, Caller, Failure, Path, Query, ok};

use crate::state::AppState;

/// Every schedule with its next five run times.
#[utoipa::path(get, path = "/api/schedules", tag = "jobs",
    responses((status = 200, body = Envelope<Vec<ScheduleInfo>>)))]
pub async fn list(State(st): State<AppState>) -> ApiResult<Vec<ScheduleInfo>> {
    ok(st.jobs.schedules().await?)
}

/// Query of the preview.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// 5 or 6 cron fields, or a preset.
    pub cron: String,
    /// IANA time zone (default UTC).
    pub timezone: Option<String>,
}

/// The next five times a cron expression fires, for the dashboard's cron helper;
/// 422 with the parser's message when it does not parse.
#[utoipa::path(get, path = "/api/schedules/preview", tag = "jobs", params(PreviewQuery),
    responses((status = 200, description = "RFC 3339 times", body = Envelope<Vec<String>>), (status = 400, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
pub async fn preview(Query(q): Query<PreviewQuery>) -> ApiResult<Vec<chrono::DateTime<chrono::Utc>>> {
    let s = ctrl_core::job::Schedule::parse(&q.cron, q.timezone.as_deref().unwrap_or("UTC"))
        .map_err(|e| Failure::new(ErrorCode::Validation, e))?;
    ok(s.upcoming(chrono::Utc::now(), ctrl_jobs::UPCOMING))
}

/// One schedule.
#[utoipa::path(get, path = "/api/schedules/{name}", tag = "jobs",
    params(("name" = String, Path, description = "Schedule name")),
    responses((status = 200, body = Envelope<ScheduleInfo>), (status = 404, body = ErrorEnvelope)))]
pub async fn get(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<ScheduleInfo> {
    ok(st.jobs.schedule(&name).await?)
}

/// Adds a schedule (201). The caller's role must allow running its action;
/// 409 when the name is taken, 422 for a bad time, action or parameters.
#[utoipa::path(post, path = "/api/schedules", tag = "jobs", request_body = NewSchedule,
    responses((status = 201, body = Envelope<ScheduleInfo>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn add(
    State(st): State<AppState>,
    c: Caller,
    Body(s): Body<NewSchedule>,
) -> Result<Response, Failure> {
    let actor = c.principal.actor.to_string();
    let target = format!("schedule:{}", s.name);
    may_schedule(&st, &c, &target, &s.action).await?;
    let done = st.jobs.add_schedule(&s).await;
    let detail = format!("{} {} ({})", s.action, s.cron, s.timezone.as_deref().unwrap_or("UTC"));
    let result = if done.is_ok() { "ok" } else { "failed" };
    st.access.audit(&actor, "schedule.add", Some(&target), c.address.clone(), result, Some(&detail)).await;
    Ok((StatusCode::CREATED, ok(done?)).into_response())
}

/// Removes a schedule made over the API (409 for those of the config file).
#[utoipa::path(delete, path = "/api/schedules/{name}", tag = "jobs",
    params(("name" = String, Path, description = "Schedule name")),
    responses((status = 200, body = Envelope<ScheduleInfo>), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)))]
pub async fn remove(
    State(st): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
) -> ApiResult<ScheduleInfo> {
    let action = st.jobs.schedule(&name).await?.action;
    may_schedule(&st, &c, &format!("schedule:{name}"), &action).await?;
    let done = st.jobs.remove_schedule(&name).await;
    let result = if done.is_ok() { "ok" } else { "failed" };
    let target = format!("schedule:{name}");
    st.access
        .audit(&c.principal.actor, "schedule.remove", Some(&target), c.address.clone(), result, None)
        .await;
    ok(done?)
}

/// Changes a schedule made over the API: `enabled`, `cron`, `timezone`, `missed`,
/// `params` (any of them). 409 for those of the config file.
#[utoipa::path(patch, path = "/api/schedules/{name}", tag = "jobs", request_body = ScheduleChange,
    params(("name" = String, Path, description = "Schedule name")),
    responses((status = 200, body = Envelope<ScheduleInfo>), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn change(
    State(st): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    Body(ch): Body<ScheduleChange>,
) -> ApiResult<ScheduleInfo> {
    let action = st.jobs.schedule(&name).await?.action;
    may_schedule(&st, &c, &format!("schedule:{name}"), &action).await?;
    let done = st.jobs.change_schedule(&name, &ch).await;
    let result = if done.is_ok() { "ok" } else { "failed" };
    let verb = match ch.enabled {
        Some(true) => "schedule.enable",
        Some(false) => "schedule.disable",
        None => "schedule.change",
    };
    let target = format!("schedule:{name}");
    st.access.audit(&c.principal.actor, verb, Some(&target), c.address.clone(), result, None).await;
    ok(done?)
}

/// A schedule runs its action unattended: changing one takes the role the action
/// needs (403 and an audit entry otherwise), or an operator could run an admin action.
async fn may_schedule(st: &AppState, c: &Caller, target: &str, action: &str) -> Result<(), Failure> {
    let needed = match st.jobs.action(action) {
        Ok(a) => a.role,
        // An action gone from the config: only an admin may touch its schedules.
        Err(_) => ctrl_core::Role::Admin,
    };
    if c.principal.role.allows(needed) {
        return Ok(());
    }
    let msg = format!("your role ({}) cannot schedule '{action}'; it needs {needed}", c.principal.role);
    st.access
        .audit(&c.principal.actor, "forbidden", Some(target), c.address.clone(), "denied", Some(&msg))
        .await;
    Err(Failure::new(ErrorCode::Forbidden, msg))
}

/// Schedules: reading for any principal, changes for operators.
pub fn routes(access: &ctrl_access::Access) -> ApiRouter<AppState> {
    let read = ApiRouter::new().routes(routes!(list)).routes(routes!(preview)).routes(routes!(get));
    let change = ApiRouter::new().routes(routes!(add)).routes(routes!(remove, change));
    read.merge(access.operators_only(change))
}
