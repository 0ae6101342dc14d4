//! The OpenAPI document (generated from the handlers), Swagger UI and ReDoc,
//! all served from assets inside the binary (vendored from their npm packages:
//! only the files the pages load).

use crate::ui::embedded;
use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use ctrl_proto::ErrorCode;
use ctrl_web::{ApiRouter, Failure, Path};

/// Swagger UI's small files and our page (swagger-ui-dist 5.32.6, Apache-2.0).
const SWAGGER: &[(&str, &str, &str)] = &[
    ("", "text/html; charset=utf-8", include_str!("../assets/swagger/index.html")),
    ("init.js", "application/javascript", include_str!("../assets/swagger/init.js")),
    ("index.css", "text/css", include_str!("../assets/swagger/index.css")),
];

/// Swagger UI's bundles, kept zstd-compressed (`zstd -19`): 2 MB of text is 0.45 MB.
const SWAGGER_PACKED: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "application/javascript",
        include_bytes!("../assets/swagger/swagger-ui-bundle.js.zst"),
    ),
    (
        "swagger-ui-standalone-preset.js",
        "application/javascript",
        include_bytes!("../assets/swagger/swagger-ui-standalone-preset.js.zst"),
    ),
    ("swagger-ui.css", "text/css", include_bytes!("../assets/swagger/swagger-ui.css.zst")),
];

/// Vendored files change only with the binary.
const VENDORED: &str = "public, max-age=3600";

/// The script that starts ReDoc.
const REDOC: &[(&str, &str, &str)] =
    &[("init.js", "application/javascript", include_str!("../assets/redoc/init.js"))];

/// ReDoc's bundle (npm package redoc 2.5.4, MIT), zstd-compressed: 1.1 MB is 0.29 MB.
const REDOC_PACKED: &[(&str, &str, &[u8])] = &[(
    "redoc.standalone.js",
    "application/javascript",
    include_bytes!("../assets/redoc/redoc.standalone.js.zst"),
)];

/// A file of a plain or a compressed table. Compressed files go out as they are
/// to clients that accept zstd (current browsers) and are unpacked for the others.
pub(crate) async fn vendored(
    plain: &'static [(&'static str, &'static str, &'static str)],
    packed: &'static [(&'static str, &'static str, &'static [u8])],
    file: &str,
    headers: &HeaderMap,
    cache: &'static str,
) -> Response {
    let Some((_, kind, body)) = packed.iter().find(|(name, _, _)| *name == file) else {
        return embedded(plain, file, cache);
    };
    let common = [(CONTENT_TYPE, *kind), (CACHE_CONTROL, cache), (VARY, "accept-encoding")];
    if accepts_zstd(headers) {
        return (common, [(CONTENT_ENCODING, "zstd")], *body).into_response();
    }
    match tokio::task::spawn_blocking(move || zstd::stream::decode_all(*body)).await {
        Ok(Ok(text)) => (common, text).into_response(),
        _ => Failure::new(ErrorCode::Internal, "internal error").into_response(),
    }
}

/// Whether a client takes zstd-encoded answers.
fn accepts_zstd(headers: &HeaderMap) -> bool {
    headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|e| {
            let mut parts = e.split(';').map(str::trim);
            parts.next() == Some("zstd")
                && !parts
                    .any(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0))
        })
    })
}

/// The OpenAPI document as served.
#[derive(Clone)]
enum Spec {
    /// zstd-compressed: sent as it is, or unpacked for clients that do not take zstd.
    Packed(bytes::Bytes),
    /// As JSON (only if compressing failed).
    Plain(bytes::Bytes),
}

impl Spec {
    async fn answer(self, headers: &HeaderMap) -> Response {
        let json = [(CONTENT_TYPE, "application/json"), (VARY, "accept-encoding")];
        match self {
            Spec::Plain(body) => (json, body).into_response(),
            Spec::Packed(body) if accepts_zstd(headers) => {
                (json, [(CONTENT_ENCODING, "zstd")], body).into_response()
            }
            Spec::Packed(body) => {
                match tokio::task::spawn_blocking(move || zstd::stream::decode_all(&body[..])).await {
                    Ok(Ok(text)) => (json, text).into_response(),
                    _ => Failure::new(ErrorCode::Internal, "internal error").into_response(),
                }
            }
        }
    }
}

/// The OpenAPI document a release build serves: the one a debug build describes
/// live, kept equal to it by a test (`CTRL_WRITE_OPENAPI=1` rewrites it).
#[cfg(not(debug_assertions))]
const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));

/// The router the protected routes start from: with the document's fixed part
/// (debug builds), or bare (release builds).
pub fn described<S: Clone + Send + Sync + 'static>() -> ApiRouter<S> {
    #[cfg(debug_assertions)]
    return ApiRouter::with_openapi(<crate::describe::ApiDoc as utoipa::OpenApi>::openapi());
    #[cfg(not(debug_assertions))]
    return ApiRouter::new();
}

/// The document served: the routes' descriptions completed (debug builds), or
/// the file kept equal to them (release builds).
#[cfg(debug_assertions)]
pub fn document(mut protected: utoipa::openapi::OpenApi, public: utoipa::openapi::OpenApi) -> String {
    protected.merge(public);
    crate::describe::finish(&mut protected);
    protected.to_pretty_json().unwrap_or_default()
}

/// The document served: the routes' descriptions completed (debug builds), or
/// the file kept equal to them (release builds).
#[cfg(not(debug_assertions))]
pub fn document((): (), (): ()) -> String {
    DOCUMENT.to_owned()
}

/// `/docs` (Swagger UI), `/redoc`, `/openapi.json` (`json`, the document): pages
/// of our own that load the document by URL from script files, so they need no
/// inline script.
pub fn routes<S: Clone + Send + Sync + 'static>(json: String) -> Router<S> {
    // Kept compressed (its JSON is ten times larger): an idle daemon holds it all its life.
    let spec = match zstd::bulk::compress(json.as_bytes(), 9) {
        Ok(packed) => Spec::Packed(bytes::Bytes::from(packed.into_boxed_slice())),
        Err(_) => Spec::Plain(bytes::Bytes::from(json)),
    };
    Router::new()
        .route(
            "/openapi.json",
            get(move |headers: HeaderMap| {
                let spec = spec.clone();
                async move { spec.answer(&headers).await }
            }),
        )
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route("/docs/", get(|| async { embedded(SWAGGER, "", VENDORED) }))
        .route(
            "/docs/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                vendored(SWAGGER, SWAGGER_PACKED, &file, &headers, VENDORED).await
            }),
        )
        .route("/redoc", get(|| async { Html(include_str!("../assets/redoc/redoc.html")) }))
        .route(
            "/redoc-assets/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                vendored(REDOC, REDOC_PACKED, &file, &headers, VENDORED).await
            }),
        )
}
