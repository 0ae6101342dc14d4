//! `/api/actions` and `/api/jobs`: whitelisted actions and their runs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctrl_core::JobStatus;
use ctrl_proto::{ActionInfo, Envelope, ErrorCode, ErrorEnvelope, JobInfo, LogLine, LogStream, RunAction};
use ctrl_store::JobFilter;
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Caller, Failure, Path, Query, ok};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::state::AppState;

/// Every action with its parameter schema.
#[utoipa::path(get, path = "/api/actions", tag = "jobs",
    responses((status = 200, body = Envelope<Vec<ActionInfo>>)))]
pub async fn actions(State(st): State<AppState>) -> ApiResult<Vec<ActionInfo>> {
    ok(st.jobs.actions())
}

/// One action.
#[utoipa::path(get, path = "/api/actions/{name}", tag = "jobs",
    params(("name" = String, Path, description = "Action name")),
    responses((status = 200, body = Envelope<ActionInfo>), (status = 404, body = ErrorEnvelope)))]
pub async fn action(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<ActionInfo> {
    ok(st.jobs.action(&name)?)
}

/// Runs an action: the parameters are checked, then the job is queued and
/// answered at once (202); follow it at `/api/jobs/{id}`. 403 when the caller's
/// role is below the action's; 422 for bad parameters or a missing confirmation.
#[utoipa::path(post, path = "/api/actions/{name}", tag = "jobs",
    params(("name" = String, Path, description = "Action name")), request_body = RunAction,
    responses((status = 202, body = Envelope<JobInfo>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn run(
    State(st): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Failure> {
    // An action without parameters may be run with an empty body.
    let req: RunAction = if body.iter().all(u8::is_ascii_whitespace) {
        RunAction::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            let code = if e.is_data() { ErrorCode::Validation } else { ErrorCode::BadRequest };
            Failure::new(code, format!("bad body: {e}"))
        })?
    };
    let action = st.jobs.action(&name)?;
    let actor = c.principal.actor.to_string();
    if !c.principal.role.allows(action.role) {
        let msg = format!("your role ({}) cannot run '{name}'; it needs {}", c.principal.role, action.role);
        st.access
            .audit(
                &actor,
                "forbidden",
                Some(&format!("action:{name}")),
                c.address.clone(),
                "denied",
                Some(&msg),
            )
            .await;
        return Err(Failure::new(ErrorCode::Forbidden, msg));
    }
    let done = st.jobs.submit(&name, &req, &actor).await;
    let detail = match &done {
        Ok(job) => {
            format!("job {} params {}", job.id, serde_json::to_string(&job.params).unwrap_or_default())
        }
        Err(e) => e.to_string(),
    };
    let result = if done.is_ok() { "ok" } else { "failed" };
    st.access
        .audit(&actor, "run", Some(&format!("action:{name}")), c.address.clone(), result, Some(&detail))
        .await;
    Ok((StatusCode::ACCEPTED, ok(done?)).into_response())
}

/// Query of the jobs list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Only this kind of work (`command`, `service`, `backup`, `restore`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    /// Only jobs in this state.
    #[param(inline)]
    pub status: Option<JobStatus>,
    /// Only runs of this action.
    pub action: Option<String>,
    /// The next page: jobs with an id below this one.
    pub before: Option<i64>,
    /// How many, newest first (default 50, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Jobs, newest first, filtered and paginated (`before` = the last id of the previous page).
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(JobsQuery),
    responses((status = 200, body = Envelope<Vec<JobInfo>>), (status = 400, body = ErrorEnvelope)))]
pub async fn list(State(st): State<AppState>, Query(q): Query<JobsQuery>) -> ApiResult<Vec<JobInfo>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Failure::bad_request("limit must be between 1 and 1000"));
    }
    let filter =
        JobFilter { job_type: q.job_type, status: q.status, action: q.action, before: q.before, limit };
    ok(st.jobs.list(&filter).await?)
}

/// One job.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = Envelope<JobInfo>), (status = 404, body = ErrorEnvelope)))]
pub async fn job(State(st): State<AppState>, Path(id): Path<i64>) -> ApiResult<JobInfo> {
    ok(st.jobs.job(id).await?)
}

/// Cancels a queued or running job: SIGTERM to its process group, SIGKILL after
/// 5 s; answers the ended job. 409 when it has already ended.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = Envelope<JobInfo>), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)))]
pub async fn cancel(State(st): State<AppState>, c: Caller, Path(id): Path<i64>) -> ApiResult<JobInfo> {
    let done = st.jobs.cancel(id).await;
    let (result, detail) = match &done {
        Ok(j) => ("ok", j.status.to_string()),
        Err(e) => ("failed", e.to_string()),
    };
    let target = format!("job:{id}");
    st.access
        .audit(&c.principal.actor, "cancel", Some(&target), c.address.clone(), result, Some(&detail))
        .await;
    ok(done?)
}

/// Query of a job's output.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobLogsQuery {
    /// How many lines back (default 1000, at most 100000).
    #[param(minimum = 0, maximum = 100000)]
    pub lines: Option<usize>,
    /// Which stream (default all).
    #[param(inline)]
    pub stream: Option<LogStream>,
    /// Keep the connection open: server-sent `log` events, then one `job` event when it ends.
    pub follow: Option<bool>,
}

/// A job's output; with `follow=true` a server-sent event stream that ends with the job.
#[utoipa::path(get, path = "/api/jobs/{id}/logs", tag = "jobs",
    params(("id" = i64, Path, description = "Job id"), JobLogsQuery),
    responses((status = 200, description = "The lines; with follow=true a text/event-stream of `log` events and a final `job` event",
            content((Envelope<Vec<LogLine>> = "application/json"), (ctrl_proto::SseEvent = "text/event-stream"))),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn logs(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<JobLogsQuery>,
) -> Result<Response, Failure> {
    let lines = q.lines.unwrap_or(1000);
    if lines > ctrl_jobs::MAX_LOG_LINES {
        return Err(Failure::bad_request(format!("lines must be at most {}", ctrl_jobs::MAX_LOG_LINES)));
    }
    let stream = q.stream.unwrap_or_default();
    if q.follow.unwrap_or(false) {
        return crate::streams::follow_job(st, id, lines, stream).await;
    }
    Ok(ok(st.jobs.logs(id, lines, stream).await?).into_response())
}

/// Actions and jobs: reading and their streams for any principal (each action
/// checks its own least role when run), cancelling for operators.
pub fn routes(access: &ctrl_access::Access) -> ApiRouter<AppState> {
    let read = ApiRouter::new()
        .routes(routes!(actions))
        .routes(routes!(action, run))
        .routes(routes!(list))
        .routes(routes!(job))
        .routes(routes!(logs))
        .routes(routes!(crate::streams::jobs_ws))
        .routes(routes!(crate::streams::jobs_sse))
        .routes(routes!(crate::streams::job_ws));
    read.merge(access.operators_only(ApiRouter::new().routes(routes!(cancel))))
}
