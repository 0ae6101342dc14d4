//! `/`, `/api` and `/health`: what anyone may see.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctrl_proto::{Envelope, ErrorEnvelope};
use ctrl_web::{ApiResult, ok};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// `/api`: what this server is.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiInfo {
    /// Always "ctrl".
    pub name: &'static str,
    /// The daemon's version.
    pub version: &'static str,
    /// Where the OpenAPI document is.
    pub openapi: &'static str,
    /// Swagger UI.
    pub docs: &'static str,
    /// ReDoc.
    pub redoc: &'static str,
}

/// Root info of the API.
#[utoipa::path(get, path = "/api", tag = "meta",
    responses((status = 200, body = Envelope<ApiInfo>), (status = 401, body = ErrorEnvelope)))]
pub async fn api_root() -> ApiResult<ApiInfo> {
    ok(ApiInfo {
        name: "ctrl",
        version: env!("CARGO_PKG_VERSION"),
        openapi: "/openapi.json",
        docs: "/docs/",
        redoc: "/redoc",
    })
}

/// `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    pub status: &'static str,
    /// `ok` or `down` (an outage: services go on, events wait in memory).
    pub db: &'static str,
    /// Services running or ready.
    pub services_running: usize,
    /// Services configured.
    pub services_total: usize,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
}

/// Liveness of the daemon: public. 503 when the database does not answer.
#[utoipa::path(get, path = "/health", tag = "meta", security(()),
    responses((status = 200, body = Envelope<Health>), (status = 503, body = Envelope<Health>)))]
pub async fn health(State(st): State<AppState>) -> Response {
    let db = st.sup.store().ping().await;
    let services = st.sup.services();
    let h = Health {
        status: if db { "ok" } else { "degraded" },
        db: if db { "ok" } else { "down" },
        services_running: services.iter().filter(|s| s.status.is_up()).count(),
        services_total: services.len(),
        uptime_s: st.started.elapsed().as_secs(),
    };
    let code = if db { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(Envelope::ok(h))).into_response()
}
