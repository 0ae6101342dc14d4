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
    ("novnc-LICENSE.txt", "text/plain; charset=utf-8", include_str!("../ui/vendor/novnc-LICENSE.txt")),
];

/// noVNC (`scripts/vendor-novnc`), kept gzipped and served as it is: every
/// browser takes gzip, and the binary carries 56 KB instead of 184 KB.
const NOVNC_GZ: &[u8] = include_bytes!("../ui/vendor/novnc.js.gz");

/// `/`, `/login`, `/assets/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Html(include_str!("../ui/index.html")) }))
        .route("/login", get(|| async { Html(include_str!("../ui/login.html")) }))
        .route("/assets/novnc.js", get(novnc))
        .route(
            "/assets/{file}",
            get(|Path(file): Path<String>| async move { embedded(ASSETS, &file, "no-cache") }),
        )
}

/// The vendored noVNC, to clients that take gzip (a 400 for the others).
async fn novnc(headers: axum::http::HeaderMap) -> Response {
    let gzip = headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.split(';').next().is_some_and(|name| name.trim().eq_ignore_ascii_case("gzip")));
    if !gzip {
        return Failure::new(
            ctrl_proto::ErrorCode::BadRequest,
            "this file is served gzipped; send Accept-Encoding: gzip",
        )
        .into_response();
    }
    let head = [
        (CONTENT_TYPE, "application/javascript; charset=utf-8"),
        (CACHE_CONTROL, "no-cache"),
        (axum::http::header::CONTENT_ENCODING, "gzip"),
        (axum::http::header::VARY, "accept-encoding"),
    ];
    (head, NOVNC_GZ).into_response()
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
