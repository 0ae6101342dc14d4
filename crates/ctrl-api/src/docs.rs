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
use ctrl_web::{Failure, Path};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's fixed part; paths are added by the router.
#[derive(OpenApi)]
#[openapi(
    info(title = "Control Center API", description = "Runs, watches and shows every service on this machine. \
Every JSON answer is `{\"success\": true, \"data\": …}` or `{\"success\": false, \"error\": …, \"code\": …}`. \
Send the token from `state_dir/token` as `Authorization: Bearer …`."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags((name = "system", description = "Host statistics, processes and ports"),
        (name = "services", description = "Supervised services"),
        (name = "jobs", description = "Actions, jobs, schedules and backups"),
        (name = "alerts", description = "Alert rules, channels and what was sent"),
        (name = "access", description = "Login, users, API tokens and the audit log"),
        (name = "knowledge", description = "Knowledge base: agents, files, creators, scans and search"),
        (name = "sessions", description = "Agent sessions: a model operating the machine through ctrl's tools"),
        (name = "meta", description = "Health, metrics and API info"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Completes the document once every path is in: the 401 of every operation
/// that needs the token (all but the public ones), and the 400/413/422 that any
/// body or path parameter can earn.
pub fn finish(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let failure = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
            )
            .build()
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let has_params = path.contains('{');
        for op in operations(item) {
            let public = op.security.as_ref().is_some_and(|s| s.iter().all(|r| r == &Default::default()));
            let answers = &mut op.responses.responses;
            if !public {
                answers.entry("401".into()).or_insert_with(|| failure("Missing or wrong token").into());
            }
            // Every body can be malformed (400), well-formed but wrong (422) or too large (413);
            // every path parameter can fail to parse (400).
            if op.request_body.is_some() {
                answers.entry("400".into()).or_insert_with(|| failure("Malformed body").into());
                answers.entry("413".into()).or_insert_with(|| failure("Body too large").into());
                answers.entry("422".into()).or_insert_with(|| failure("Invalid body").into());
            }
            if has_params {
                answers.entry("400".into()).or_insert_with(|| failure("Malformed path").into());
            }
            // OpenAPI requires a description on every response.
            for (status, answer) in answers.iter_mut() {
                if let utoipa::openapi::RefOr::T(r) = answer
                    && r.description.is_empty()
                {
                    r.description = describe_status(status).into();
                }
            }
        }
    }
    unique_operation_ids(api);
}

/// Handlers in different files share names (`list`); client generators need
/// each operationId once, so a shared one gets the path's first segment after
/// `/api/`: `list_services`, `list_jobs`, `list_schedules`.
fn unique_operation_ids(api: &mut utoipa::openapi::OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for op in api.paths.paths.values_mut().flat_map(operations) {
        *seen.entry(op.operation_id.clone().unwrap_or_default()).or_default() += 1;
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let area = path.trim_start_matches("/api/").split('/').next().unwrap_or_default().to_owned();
        for op in operations(item) {
            let id = op.operation_id.clone().unwrap_or_default();
            if seen.get(&id).is_some_and(|n| *n > 1) {
                op.operation_id = Some(format!("{id}_{area}"));
            }
        }
    }
}

/// Every operation of a path.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten()
}

/// The description of a response that its handler left without one: the
/// status's reason phrase.
fn describe_status(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Answer")
}

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

/// `/docs` (Swagger UI), `/redoc`, `/openapi.json`: pages of our own that load the
/// document by URL from script files, so they need no inline script.
pub fn routes<S: Clone + Send + Sync + 'static>(api: utoipa::openapi::OpenApi) -> Router<S> {
    // Kept compressed (its JSON is ten times larger): an idle daemon holds it all its life.
    let json = api.to_json().unwrap_or_default();
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
