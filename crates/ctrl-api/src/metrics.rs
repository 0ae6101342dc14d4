//! Prometheus metrics at `/metrics`.
//!
//! HTTP request counts and latency histograms go through the `metrics` crate
//! and its Prometheus exporter. Host and service gauges are written straight
//! from the latest sample and the supervisor at scrape time, so a service
//! removed by a reload leaves no stale series behind.

use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

const LATENCY: &str = "ctrl_http_request_duration_seconds";
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The process-wide recorder (the `metrics` facade allows one).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(LATENCY.into()), BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(ctrl_llm::OVERHEAD_METRIC.into()),
                        ctrl_llm::OVERHEAD_BUCKETS,
                    )
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP metrics are off: cannot install the recorder");
                    None
                }
            }
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the recorder and its upkeep task (without it, samples pile up until a scrape).
pub fn install() {
    if let Some(h) = handle() {
        static UPKEEP_STARTED: std::sync::Once = std::sync::Once::new();
        UPKEEP_STARTED.call_once(|| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(UPKEEP);
                loop {
                    tick.tick().await;
                    h.run_upkeep();
                }
            });
        });
    }
}

/// Middleware: counts every request and times it, by route pattern (bounded label values).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    // Any token is a valid HTTP method: only the standard ones become label values.
    let method: &'static str = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let t0 = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!(LATENCY, "method" => method, "route" => route.clone())
        .record(t0.elapsed().as_secs_f64());
    metrics::counter!("ctrl_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    res
}

/// GET /metrics: the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn render(State(st): State<AppState>) -> Response {
    let mut out = String::with_capacity(8 * 1024);
    host_gauges(&mut out, &st);
    service_gauges(&mut out, &st);
    store_metrics(&mut out, &st);
    if let Some(h) = handle() {
        out.push_str(&h.render());
    }
    // A hub's scrape covers its hosts too.
    let hosts = st.hub.host_metrics().await;
    if !hosts.is_empty() {
        out = ctrl_hub::metrics::merge(&out, &hosts);
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

fn host_gauges(out: &mut String, st: &AppState) {
    let snap = st.monitor.latest();
    let s = &snap.stats;
    let one = |v: f64| [(Vec::new(), v)];
    gauge(out, "ctrl_host_cpu_percent", "Total CPU use, 0-100.", &one(f64::from(s.cpu.percent)));
    let load: Vec<(Vec<(&str, &str)>, f64)> =
        ["1m", "5m", "15m"].iter().zip(s.cpu.load_avg).map(|(w, v)| (vec![("window", *w)], v)).collect();
    gauge(out, "ctrl_host_load_average", "Load average.", &load);
    gauge(out, "ctrl_host_memory_total_bytes", "Installed memory.", &one(s.memory.total_bytes as f64));
    gauge(out, "ctrl_host_memory_used_bytes", "Memory in use.", &one(s.memory.used_bytes as f64));
    gauge(out, "ctrl_host_swap_used_bytes", "Swap in use.", &one(s.swap.used_bytes as f64));
    let used: Vec<_> =
        s.disks.iter().map(|d| (vec![("mount", d.mount.as_str())], d.used_bytes as f64)).collect();
    gauge(out, "ctrl_host_disk_used_bytes", "Used space per file system.", &used);
    let total: Vec<_> =
        s.disks.iter().map(|d| (vec![("mount", d.mount.as_str())], d.total_bytes as f64)).collect();
    gauge(out, "ctrl_host_disk_total_bytes", "Size per file system.", &total);
    let rx: Vec<_> = s
        .network
        .iter()
        .map(|n| (vec![("interface", n.interface.as_str())], n.rx_bytes_per_s as f64))
        .collect();
    gauge(out, "ctrl_host_network_receive_bytes_per_second", "Received per interface.", &rx);
    let tx: Vec<_> = s
        .network
        .iter()
        .map(|n| (vec![("interface", n.interface.as_str())], n.tx_bytes_per_s as f64))
        .collect();
    gauge(out, "ctrl_host_network_transmit_bytes_per_second", "Sent per interface.", &tx);
    gauge(out, "ctrl_host_uptime_seconds", "Seconds since boot.", &one(s.uptime_s as f64));
    gauge(out, "ctrl_host_processes", "Processes on the host.", &one(f64::from(s.process_count)));
}

fn service_gauges(out: &mut String, st: &AppState) {
    let services = crate::routes::services::with_usage(st, st.sup.services());
    let by = |f: &dyn Fn(&ctrl_proto::ServiceInfo) -> Option<f64>| -> Vec<(Vec<(&str, &str)>, f64)> {
        services.iter().filter_map(|s| Some((vec![("service", s.name.as_str())], f(s)?))).collect()
    };
    let up = by(&|s| Some(if s.status.is_up() { 1.0 } else { 0.0 }));
    gauge(out, "ctrl_service_up", "1 when the service is running or ready.", &up);
    let state: Vec<_> = services
        .iter()
        .map(|s| (vec![("service", s.name.as_str()), ("state", s.status.as_str())], 1.0))
        .collect();
    gauge(out, "ctrl_service_state", "The service's current state (always 1).", &state);
    let restarts = by(&|s| Some(f64::from(s.restarts)));
    gauge(out, "ctrl_service_restarts", "Restarts since the daemon started.", &restarts);
    let uptime = by(&|s| s.uptime_s.map(|u| u as f64));
    gauge(out, "ctrl_service_uptime_seconds", "Seconds the current process has run.", &uptime);
    let cpu = by(&|s| s.cpu_percent.map(f64::from));
    gauge(out, "ctrl_service_cpu_percent", "CPU of the process tree, % of one core.", &cpu);
    let mem = by(&|s| s.memory_bytes.map(|m| m as f64));
    gauge(out, "ctrl_service_memory_bytes", "Resident memory of the process tree.", &mem);
}

fn store_metrics(out: &mut String, st: &AppState) {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = st.sup.bus().store_stats();
    let one = |v: f64| [(Vec::new(), v)];
    counter(
        out,
        "ctrl_store_events_dropped_total",
        "Service events never persisted (buffer full during a database outage, or refused).",
        &one(stats.dropped.load(Relaxed) as f64),
    );
    counter(
        out,
        "ctrl_service_events_total",
        "Service state transitions since the daemon started.",
        &one(stats.published.load(Relaxed) as f64),
    );
    gauge(
        out,
        "ctrl_store_events_pending",
        "Service events waiting for the database.",
        &one(stats.pending.load(Relaxed) as f64),
    );
}

fn gauge(out: &mut String, name: &str, help: &str, rows: &[(Vec<(&str, &str)>, f64)]) {
    series(out, "gauge", name, help, rows);
}

fn counter(out: &mut String, name: &str, help: &str, rows: &[(Vec<(&str, &str)>, f64)]) {
    series(out, "counter", name, help, rows);
}

/// One metric in the text format: its help, its type, a line per label set.
fn series(out: &mut String, kind: &str, name: &str, help: &str, rows: &[(Vec<(&str, &str)>, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in rows {
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(out, "{sep}{k}=\"{}\"", escape(v));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {value}");
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
