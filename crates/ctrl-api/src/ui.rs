//! The web dashboard: hand-written HTML, CSS and JavaScript compiled into the
//! binary (no CDN, no Node toolchain), served at `/`, `/login` and `/assets/*`,
//! and the security headers every answer carries.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use ctrl_web::{Failure, Path};

use crate::state::AppState;

/// The files under `/assets/`: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("../ui/app.css")),
    ("app.js", "application/javascript; charset=utf-8", include_str!("../ui/app.js")),
    ("login.js", "application/javascript; charset=utf-8", include_str!("../ui/login.js")),
    ("jobs.js", "application/javascript; charset=utf-8", include_str!("../ui/jobs.js")),
    ("knowledge.js", "application/javascript; charset=utf-8", include_str!("../ui/knowledge.js")),
    ("llm.js", "application/javascript; charset=utf-8", include_str!("../ui/llm.js")),
    ("sessions.js", "application/javascript; charset=utf-8", include_str!("../ui/sessions.js")),
    ("hosts.js", "application/javascript; charset=utf-8", include_str!("../ui/hosts.js")),
    ("favicon.svg", "image/svg+xml", include_str!("../ui/favicon.svg")),
    ("novnc-LICENSE.txt", "text/plain; charset=utf-8", include_str!("../ui/vendor/novnc-LICENSE.txt")),
];

/// noVNC (`scripts/vendor-novnc`), zstd-compressed like the API docs' bundles.
const PACKED: &[(&str, &str, &[u8])] =
    &[("novnc.js", "application/javascript; charset=utf-8", include_bytes!("../ui/vendor/novnc.js.zst"))];

/// `/`, `/login`, `/favicon.ico`, `/assets/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Html(include_str!("../ui/index.html")) }))
        .route("/login", get(|| async { Html(include_str!("../ui/login.html")) }))
        // Browsers ask for it whatever the page says; an SVG is fine under that name.
        .route("/favicon.ico", get(|| async { embedded(ASSETS, "favicon.svg", "max-age=86400") }))
        .route(
            "/assets/{file}",
            get(|Path(file): Path<String>, headers: axum::http::HeaderMap| async move {
                crate::docs::vendored(ASSETS, PACKED, &file, &headers, "no-cache").await
            }),
        )
}

/// A file from a table of files compiled into the binary (name, content type, body);
/// only names in the table exist, so no request can reach anything else.
pub fn embedded(table: &[(&str, &str, &'static str)], file: &str, cache: &'static str) -> Response {
    match table.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => ([(CONTENT_TYPE, *kind), (CACHE_CONTROL, cache)], *body).into_response(),
        None => Failure::new(ctrl_proto::ErrorCode::NotFound, "no such file").into_response(),
    }
}

/// No inline scripts anywhere (the docs pages included); styles may be inline
/// because Swagger UI and ReDoc set them from script.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Middleware: security headers on every answer; API answers are never cached.
pub async fn security_headers(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if st.settings.tls {
        h.insert("strict-transport-security", HeaderValue::from_static("max-age=31536000"));
    }
    if api {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
