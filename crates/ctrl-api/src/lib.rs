//! The HTTP API of Control Center: every system and services route of
//! DESIGN.md, live streams over WebSocket and SSE, token auth, OpenAPI docs and
//! Prometheus metrics. `app` builds the router; `serve` runs it on a TCP
//! listener (token required) and on the unix socket (trusted).

#[cfg(debug_assertions)]
mod describe;
mod docs;
mod metrics;
mod routes;
mod state;
mod streams;
mod ui;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ctrl_proto::ErrorCode;
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use ctrl_web::{Failure, Principal, Trusted};
pub use state::{AppInner, AppState, Parts, Reloader, Settings};

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request whose answer takes longer than this gets a 503 (streams are not affected:
/// their answer starts at once).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the router and starts the shared stats feed.
pub fn app(parts: Parts) -> (Router, AppState) {
    metrics::install();
    if parts.llm.0.is_some() {
        ctrl_llm::describe_metrics();
    }
    let access = parts.access;
    let st = AppState(std::sync::Arc::new(AppInner {
        sup: parts.sup,
        jobs: parts.jobs,
        alerts: parts.alerts,
        monitor: parts.monitor,
        access,
        knowledge: parts.knowledge,
        llm: parts.llm,
        agent: parts.agent,
        vnc: parts.vnc,
        hub: parts.hub,
        reload: parts.reload,
        settings: std::sync::Arc::new(parts.settings),
        shutdown: parts.shutdown,
        started: Instant::now(),
        stats_feed: streams::stats_channel(),
        sockets: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        processes_cache: Default::default(),
    }));
    tokio::spawn(streams::publish_stats(st.clone()));

    // Every feature brings its routes with their role checks; here they are
    // merged, and everything but the public routes wrapped in authentication.
    let access = &st.access;
    let (protected, api) = docs::described()
        .routes(routes!(routes::root::api_root))
        .routes(routes!(metrics::render))
        .merge(routes::system::routes())
        .merge(routes::services::routes(access))
        .merge(routes::jobs::routes(access))
        .merge(routes::schedules::routes(access))
        .merge(routes::backups::routes(access))
        .merge(routes::alerts::routes(access))
        .merge(ctrl_access::routes(access))
        .merge(ctrl_kb::routes(access))
        .merge(ctrl_llm::routes(access))
        .merge(ctrl_agent::routes(access))
        .merge(ctrl_vnc::routes())
        .merge(ctrl_hub::routes(access))
        .route_layer(middleware::from_fn_with_state(access.clone(), ctrl_access::authenticate))
        .split_for_parts();
    let (public, public_api) = ApiRouter::new()
        .routes(routes!(routes::root::health))
        .merge(ctrl_access::public_routes())
        .merge(ctrl_hub::public_routes())
        .split_for_parts();
    let document = docs::document(api, public_api);

    // The LLM gateway's OpenAI routes have their own body limit (`[llm] max_body`),
    // timeouts (to the first byte, between chunks) and error shape: they are merged
    // after the API's limits are laid over the rest.
    let router = Router::new()
        .merge(ui::routes())
        .merge(public)
        .merge(protected)
        .merge(docs::routes(document))
        .fallback(ctrl_web::no_route)
        .method_not_allowed_fallback(ctrl_web::wrong_method)
        .layer(middleware::from_fn(time_limit))
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(ctrl_llm::openai_routes())
        .layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn_with_state(st.clone(), ui::security_headers))
        .layer(cors(&st.settings.cors_origins))
        .with_state(st.clone());
    // Agent sessions' tools, and a hub's requests to this host, call this very
    // router, as the person who asked.
    if let Some(agents) = &st.agent.0 {
        agents.loopback().set(router.clone());
    }
    parts.loopback.set(router.clone());
    (router, st)
}

/// CORS for the configured origins (credentials allowed: the dashboard uses cookies).
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| match HeaderValue::from_str(o.trim_end_matches('/')) {
            // The config check refuses "*"; a wildcard cannot go with credentials anyway.
            Ok(v) if v != "*" => Some(v),
            _ => {
                tracing::warn!(origin = %o, "ignoring a CORS origin that is not an origin");
                None
            }
        })
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-csrf-token")])
        .allow_credentials(true)
}

/// Bounds the time to an answer.
async fn time_limit(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => Failure::new(ErrorCode::Unavailable, "the request took too long; it may still complete")
            .into_response(),
    }
}

/// Refuses a declared body over `BODY_LIMIT` before reading it; bodies without a
/// length are cut at the same size by the extractors (`DefaultBodyLimit`).
async fn refuse_large_bodies(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Failure::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {} KiB", BODY_LIMIT / 1024),
        )
        .into_response();
    }
    next.run(req).await
}
