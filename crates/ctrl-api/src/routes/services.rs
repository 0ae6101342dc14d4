//! `/api/services/*` and `/api/reload`: the supervisor's control layer over HTTP.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctrl_core::ServiceEvent;
use ctrl_proto::{
    Envelope, ErrorCode, ErrorEnvelope, EventsQuery, LogLine, LogStream, ReloadReport, ServiceInfo,
};
use ctrl_supervisor::Started;
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Caller, Failure, Path, Query, ok};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::state::AppState;

/// Service objects with the CPU and memory of their process trees from the latest sample.
pub fn with_usage(st: &AppState, mut list: Vec<ServiceInfo>) -> Vec<ServiceInfo> {
    let snap = st.monitor.latest();
    for s in &mut list {
        add_usage(&snap, s);
    }
    list
}

/// One service object with its tree's usage.
pub fn one(st: &AppState, mut s: ServiceInfo) -> ServiceInfo {
    add_usage(&st.monitor.latest(), &mut s);
    s
}

fn add_usage(snap: &ctrl_host::Snapshot, s: &mut ServiceInfo) {
    if let Some((cpu, mem)) = snap.per_service.get(&s.name).filter(|_| s.pid.is_some()) {
        s.cpu_percent = Some(*cpu);
        s.memory_bytes = Some(*mem);
    }
}

/// Every service.
#[utoipa::path(get, path = "/api/services", tag = "services",
    responses((status = 200, body = Envelope<Vec<ServiceInfo>>), (status = 401, body = ErrorEnvelope)))]
pub async fn list(State(st): State<AppState>) -> ApiResult<Vec<ServiceInfo>> {
    ok(with_usage(&st, st.sup.services()))
}

/// One service.
#[utoipa::path(get, path = "/api/services/{name}/status", tag = "services",
    params(("name" = String, Path, description = "Service name")),
    responses((status = 200, body = Envelope<ServiceInfo>), (status = 404, body = ErrorEnvelope)))]
pub async fn status(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<ServiceInfo> {
    ok(one(&st, st.sup.service(&name)?))
}

/// How long a start or restart waits for its outcome.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// `false`: answer 202 at once, the start going on (default `true`).
    pub wait: Option<bool>,
    /// The longest wait, like `10s` (default: the service's start window and 5 s, at most 30 s).
    pub timeout: Option<String>,
}

impl StartQuery {
    /// The wait asked for, `None` for none.
    fn wait(&self, st: &AppState, name: &str) -> Result<Option<Duration>, Failure> {
        if self.wait == Some(false) {
            return Ok(None);
        }
        match &self.timeout {
            None => Ok(Some(st.sup.default_wait(name)?)),
            Some(t) => match humantime::parse_duration(t.trim()) {
                Ok(d) if d <= Duration::from_secs(120) => Ok(Some(d)),
                _ => Err(Failure::new(
                    ErrorCode::Validation,
                    format!("timeout: '{t}' is not a duration up to 120s"),
                )),
            },
        }
    }
}

/// 200 with the service when it is up, 202 when it is still starting.
fn started(st: &AppState, s: Started) -> (StatusCode, Json<Envelope<ServiceInfo>>) {
    match s {
        Started::Up(s) => (StatusCode::OK, Json(Envelope::ok(one(st, s)))),
        Started::Pending(s) => (StatusCode::ACCEPTED, Json(Envelope::ok(one(st, s)))),
    }
}

/// Starts a service (and the stopped services it depends on) and waits until it is
/// up (ready, or alive for its start window) or has failed: 200 when up, 202 when
/// still starting after the wait, 409 `port_in_use` or 422 `start_failed` (not
/// retried). 409 `conflict` when it is already running.
#[utoipa::path(post, path = "/api/services/{name}/start", tag = "services",
    params(("name" = String, Path, description = "Service name"), StartQuery),
    responses((status = 200, body = Envelope<ServiceInfo>), (status = 202, body = Envelope<ServiceInfo>),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
pub async fn start(
    State(st): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<(StatusCode, Json<Envelope<ServiceInfo>>), Failure> {
    let wait = q.wait(&st, &name)?;
    let done = st.sup.start_and_wait(&name, wait).await;
    audited(&st, &c, "start", &name, done.as_ref().err()).await;
    Ok(started(&st, done?))
}

/// Stops a service and waits until its whole process group is gone. 409 when already stopped.
#[utoipa::path(post, path = "/api/services/{name}/stop", tag = "services",
    params(("name" = String, Path, description = "Service name")),
    responses((status = 200, body = Envelope<ServiceInfo>), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)))]
pub async fn stop(State(st): State<AppState>, c: Caller, Path(name): Path<String>) -> ApiResult<ServiceInfo> {
    let done = st.sup.stop_service(&name).await;
    audited(&st, &c, "stop", &name, done.as_ref().err()).await;
    ok(one(&st, done?))
}

/// Restarts a service (starts it when it is not running) and waits for the new
/// start's outcome, as a start does.
#[utoipa::path(post, path = "/api/services/{name}/restart", tag = "services",
    params(("name" = String, Path, description = "Service name"), StartQuery),
    responses((status = 200, body = Envelope<ServiceInfo>), (status = 202, body = Envelope<ServiceInfo>),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
pub async fn restart(
    State(st): State<AppState>,
    c: Caller,
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<(StatusCode, Json<Envelope<ServiceInfo>>), Failure> {
    let wait = q.wait(&st, &name)?;
    let done = st.sup.restart_and_wait(&name, wait).await;
    audited(&st, &c, "restart", &name, done.as_ref().err()).await;
    Ok(started(&st, done?))
}

/// Query of the logs route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// How many lines back (default 200, at most 100000).
    #[param(minimum = 0, maximum = 100000)]
    pub lines: Option<usize>,
    /// Which stream (default all).
    #[param(inline)]
    pub stream: Option<LogStream>,
    /// Keep the connection open and send new lines as server-sent events (`event: log`).
    pub follow: Option<bool>,
}

/// The last lines of a service's output; with `follow=true`, a server-sent event stream.
#[utoipa::path(get, path = "/api/services/{name}/logs", tag = "services",
    params(("name" = String, Path, description = "Service name"), LogsQuery),
    responses((status = 200, description = "The lines; with follow=true a text/event-stream of `log` events",
            content((Envelope<Vec<LogLine>> = "application/json"), (ctrl_proto::SseEvent = "text/event-stream"))),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn logs(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, Failure> {
    let lines = q.lines.unwrap_or(200);
    if lines > ctrl_supervisor::MAX_LOG_LINES {
        return Err(Failure::bad_request(format!(
            "lines must be at most {}",
            ctrl_supervisor::MAX_LOG_LINES
        )));
    }
    let stream = q.stream.unwrap_or_default();
    if q.follow.unwrap_or(false) {
        return crate::streams::follow_logs(st, &name, lines, stream).await;
    }
    Ok(ok(st.sup.logs(&name, lines, stream).await?).into_response())
}

/// A service's recent state transitions, oldest first.
#[utoipa::path(get, path = "/api/services/{name}/events", tag = "services",
    params(("name" = String, Path, description = "Service name"), EventsQuery),
    responses((status = 200, body = Envelope<Vec<ServiceEvent>>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn events(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Vec<ServiceEvent>> {
    ok(st.sup.events(&name, q.limit()?).await?)
}

/// Re-reads the config file and applies the difference; untouched services keep running.
#[utoipa::path(post, path = "/api/reload", tag = "services",
    responses((status = 200, body = Envelope<ReloadReport>), (status = 422, body = ErrorEnvelope)))]
pub async fn reload(State(st): State<AppState>, c: Caller) -> ApiResult<ReloadReport> {
    let done = (st.reload)().await;
    let (result, detail) = match &done {
        Ok(r) => ("ok", format!("added {:?} removed {:?} changed {:?}", r.added, r.removed, r.changed)),
        Err(e) => ("failed", e.error.clone()),
    };
    st.access.audit(&c.principal.actor, "reload", None, c.address.clone(), result, Some(&detail)).await;
    ok(done?)
}

/// Writes a control request to the audit log with its outcome.
async fn audited(
    st: &AppState,
    c: &Caller,
    action: &str,
    target: &str,
    err: Option<&ctrl_supervisor::ControlError>,
) {
    let detail = err.map(|e| e.to_string());
    let result = if err.is_some() { "failed" } else { "ok" };
    st.access
        .audit(&c.principal.actor, action, Some(target), c.address.clone(), result, detail.as_deref())
        .await;
}

/// Starts every service that is not running.
#[utoipa::path(post, path = "/api/services/start", tag = "services",
    responses((status = 200, body = Envelope<Vec<ServiceInfo>>), (status = 401, body = ErrorEnvelope)))]
pub async fn start_all(State(st): State<AppState>, c: Caller) -> ApiResult<Vec<ServiceInfo>> {
    let done = st.sup.start_all().await;
    audited(&st, &c, "start", "*", None).await;
    ok(with_usage(&st, done))
}

/// Stops every service, dependents before what they depend on.
#[utoipa::path(post, path = "/api/services/stop", tag = "services",
    responses((status = 200, body = Envelope<Vec<ServiceInfo>>), (status = 401, body = ErrorEnvelope)))]
pub async fn stop_all(State(st): State<AppState>, c: Caller) -> ApiResult<Vec<ServiceInfo>> {
    let done = st.sup.stop_all().await;
    audited(&st, &c, "stop", "*", None).await;
    ok(with_usage(&st, done))
}

/// Stops every service in reverse dependency order, then starts them all.
#[utoipa::path(post, path = "/api/services/restart", tag = "services",
    responses((status = 200, body = Envelope<Vec<ServiceInfo>>), (status = 401, body = ErrorEnvelope)))]
pub async fn restart_all(State(st): State<AppState>, c: Caller) -> ApiResult<Vec<ServiceInfo>> {
    let done = st.sup.restart_all().await;
    audited(&st, &c, "restart", "*", None).await;
    ok(with_usage(&st, done))
}

/// A service's settings as the daemon runs them, relative paths resolved. Values of
/// `env` are shown as `"***"`: they are often secrets, and viewers may read this.
#[utoipa::path(get, path = "/api/services/{name}/config", tag = "services",
    params(("name" = String, Path, description = "Service name")),
    responses((status = 200, body = Envelope<serde_json::Value>), (status = 404, body = ErrorEnvelope)))]
pub async fn config(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<serde_json::Value> {
    let cfg = st.sup.config();
    let spec =
        cfg.services.get(&name).ok_or_else(|| Failure::from(ctrl_proto::ApiError::unknown_service(&name)))?;
    let mut v = serde_json::to_value(spec)
        .map_err(|_| Failure::new(ctrl_proto::ErrorCode::Internal, "internal error"))?;
    if let Some(env) = v.get_mut("env").and_then(|e| e.as_object_mut()) {
        for value in env.values_mut() {
            *value = serde_json::Value::String("***".into());
        }
    }
    ok(v)
}

/// Services: reading and their streams for any principal, control for operators,
/// reloading the config for admins.
pub fn routes(access: &ctrl_access::Access) -> ApiRouter<AppState> {
    let read = ApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(status))
        .routes(routes!(logs))
        .routes(routes!(events))
        .routes(routes!(config))
        .routes(routes!(crate::streams::services_ws))
        .routes(routes!(crate::streams::services_sse));
    let control = ApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(restart))
        .routes(routes!(start_all))
        .routes(routes!(stop_all))
        .routes(routes!(restart_all));
    let admin = ApiRouter::new().routes(routes!(reload));
    read.merge(access.operators_only(control)).merge(access.admins_only(admin))
}
