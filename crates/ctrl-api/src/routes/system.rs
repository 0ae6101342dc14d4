//! `/api/system/*`: the latest host sample, its history, processes and ports.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ctrl_proto::{Envelope, ErrorEnvelope, History, Metric, PortInfo, ProcessInfo, Stats};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Failure, Query, ok};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::state::AppState;

/// The most processes one request may list.
const MAX_PROCESSES: u32 = 10_000;

/// The latest host sample.
#[utoipa::path(get, path = "/api/system/stats", tag = "system",
    responses((status = 200, body = Envelope<Stats>), (status = 401, body = ErrorEnvelope)))]
pub async fn stats(State(st): State<AppState>) -> Response {
    // Serialised once per sample by the sampler.
    json(st.monitor.latest().stats_json.clone())
}

/// Query of `/api/system/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Which series.
    #[param(inline)]
    pub metric: Metric,
    /// How far back, e.g. `15m`, `1h`, `24h` (default 1h, at most 24h).
    pub range: Option<String>,
}

/// A charted series: the last hour at the sampling rate, the last day per minute.
#[utoipa::path(get, path = "/api/system/history", tag = "system", params(HistoryQuery),
    responses((status = 200, body = Envelope<History>), (status = 400, body = ErrorEnvelope)))]
pub async fn history(State(st): State<AppState>, Query(q): Query<HistoryQuery>) -> ApiResult<History> {
    let range = match q.range.as_deref() {
        None => ctrl_host::FULL_RATE_SPAN,
        Some(r) => {
            humantime::parse_duration(r).map_err(|e| Failure::bad_request(format!("bad range '{r}': {e}")))?
        }
    };
    if range.is_zero() || range > ctrl_host::MINUTE_SPAN {
        return Err(Failure::bad_request("range must be more than 0 and at most 24h"));
    }
    ok(st.monitor.history(q.metric, range))
}

/// How to order processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// Highest CPU first.
    #[default]
    Cpu,
    /// Largest resident memory first.
    Memory,
    /// Lowest pid first.
    Pid,
    /// By name.
    Name,
}

/// Query of `/api/system/processes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProcessQuery {
    /// How many (default `[monitor] process_limit`, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// Order.
    #[param(inline)]
    pub sort: Option<SortKey>,
    /// Only processes whose name, command line, user or service contains this text (any case).
    pub q: Option<String>,
}

/// The top processes of the latest sample.
#[utoipa::path(get, path = "/api/system/processes", tag = "system", params(ProcessQuery),
    responses((status = 200, body = Envelope<Vec<ProcessInfo>>), (status = 400, body = ErrorEnvelope)))]
pub async fn processes(
    State(st): State<AppState>,
    Query(q): Query<ProcessQuery>,
) -> Result<Response, Failure> {
    let limit = q.limit.unwrap_or(st.settings.process_limit);
    if !(1..=MAX_PROCESSES).contains(&limit) {
        return Err(Failure::bad_request(format!("limit must be between 1 and {MAX_PROCESSES}")));
    }
    let snap = st.monitor.latest();
    let needle = q.q.as_deref().map(str::to_lowercase).filter(|s| !s.is_empty());
    let key = q.sort.unwrap_or_default();
    // Dashboards ask the same question every refresh: answer it once per sample.
    let cache_key = needle.is_none().then_some((snap.stats.timestamp, limit, key));
    if let Some(k) = &cache_key
        && let Some((_, body)) =
            st.processes_cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref().filter(|(c, _)| c == k)
    {
        return Ok(json(body.clone()));
    }
    let mut list: Vec<&ProcessInfo> =
        snap.processes.iter().filter(|p| matches(p, needle.as_deref())).collect();
    let by = |a: &&ProcessInfo, b: &&ProcessInfo| match key {
        SortKey::Cpu => b.cpu_percent.total_cmp(&a.cpu_percent).then(b.memory_bytes.cmp(&a.memory_bytes)),
        SortKey::Memory => b.memory_bytes.cmp(&a.memory_bytes),
        SortKey::Pid => a.pid.cmp(&b.pid),
        SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.pid.cmp(&b.pid)),
    };
    let n = limit as usize;
    if n < list.len() {
        list.select_nth_unstable_by(n, by);
        list.truncate(n);
    }
    list.sort_by(by);
    let body = Bytes::from(serde_json::to_vec(&Envelope::ok(&list)).unwrap_or_default());
    if let Some(k) = cache_key {
        *st.processes_cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((k, body.clone()));
    }
    Ok(json(body))
}

fn json(body: Bytes) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

fn matches(p: &ProcessInfo, needle: Option<&str>) -> bool {
    let Some(n) = needle else { return true };
    let has = |s: &str| s.to_lowercase().contains(n);
    has(&p.name)
        || has(&p.cmdline)
        || p.user.as_deref().is_some_and(has)
        || p.service.as_deref().is_some_and(has)
}

/// Query of `/api/system/ports`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortQuery {
    /// Lowest port (default `[monitor] port_range`).
    pub start: Option<u16>,
    /// Highest port.
    pub end: Option<u16>,
}

/// Listening TCP and bound UDP sockets, read from the kernel's tables.
#[utoipa::path(get, path = "/api/system/ports", tag = "system", params(PortQuery),
    responses((status = 200, body = Envelope<Vec<PortInfo>>), (status = 400, body = ErrorEnvelope)))]
pub async fn ports(State(st): State<AppState>, Query(q): Query<PortQuery>) -> ApiResult<Vec<PortInfo>> {
    let [dstart, dend] = st.settings.port_range;
    let (start, end) = (q.start.unwrap_or(dstart), q.end.unwrap_or(dend));
    if start > end {
        return Err(Failure::bad_request(format!("start ({start}) is above end ({end})")));
    }
    let found = tokio::task::spawn_blocking(move || ctrl_host::listeners(start..=end))
        .await
        .map_err(|_| Failure::new(ctrl_proto::ErrorCode::Internal, "the port scan failed"))?;
    let snap = st.monitor.latest();
    let mut owners: HashMap<u32, String> =
        snap.processes.iter().filter_map(|p| Some((p.pid, p.service.clone()?))).collect();
    // Main pids of services started since the last sample.
    for s in st.sup.services() {
        if let Some(pid) = s.pid {
            owners.entry(pid).or_insert(s.name);
        }
    }
    let mut out: Vec<PortInfo> = found
        .into_iter()
        .map(|l| PortInfo {
            port: l.port,
            protocol: match l.protocol {
                ctrl_host::Protocol::Tcp => "tcp".into(),
                ctrl_host::Protocol::Udp => "udp".into(),
            },
            address: l.address.to_string(),
            service: l.pid.and_then(|p| owners.get(&p).cloned()),
            pid: l.pid,
            process: l.process,
        })
        .collect();
    out.sort_by(|a, b| (a.port, &a.protocol, &a.address).cmp(&(b.port, &b.protocol, &b.address)));
    ok(out)
}

/// Host statistics, history, processes and ports, with their live streams: any principal.
pub fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(history))
        .routes(routes!(processes))
        .routes(routes!(ports))
        .routes(routes!(crate::streams::system_ws))
        .routes(routes!(crate::streams::system_sse))
}
