//! The OpenAPI document (generated from the handlers), Swagger UI and ReDoc,
//! all served from assets inside the binary (vendored from their npm packages:
//! only the files the pages load).

use crate::error::Path;
use crate::ui::embedded;
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, Redirect};
use axum::routing::get;
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
        (name = "access", description = "Login, users, API tokens and the audit log"),
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
        let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
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
        }
    }
}

/// Swagger UI's files (from the npm package swagger-ui-dist 5.32.6, Apache-2.0) and our page.
const SWAGGER: &[(&str, &str, &str)] = &[
    ("", "text/html; charset=utf-8", include_str!("../assets/swagger/index.html")),
    ("init.js", "application/javascript", include_str!("../assets/swagger/init.js")),
    (
        "swagger-ui-bundle.js",
        "application/javascript",
        include_str!("../assets/swagger/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui-standalone-preset.js",
        "application/javascript",
        include_str!("../assets/swagger/swagger-ui-standalone-preset.js"),
    ),
    ("swagger-ui.css", "text/css", include_str!("../assets/swagger/swagger-ui.css")),
    ("index.css", "text/css", include_str!("../assets/swagger/index.css")),
];

/// Vendored files change only with the binary.
const VENDORED: &str = "public, max-age=3600";

/// ReDoc's bundle (npm package redoc 2.5.4, MIT) and the script that starts it.
const REDOC: &[(&str, &str, &str)] = &[
    ("redoc.standalone.js", "application/javascript", include_str!("../assets/redoc/redoc.standalone.js")),
    ("init.js", "application/javascript", include_str!("../assets/redoc/init.js")),
];

/// `/docs` (Swagger UI), `/redoc`, `/openapi.json`: pages of our own that load the
/// document by URL from script files, so they need no inline script.
pub fn routes<S: Clone + Send + Sync + 'static>(api: utoipa::openapi::OpenApi) -> Router<S> {
    let spec = bytes::Bytes::from(api.to_json().unwrap_or_default());
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(CONTENT_TYPE, "application/json")], spec.clone()) }),
        )
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route("/docs/", get(|| async { embedded(SWAGGER, "", VENDORED) }))
        .route(
            "/docs/{file}",
            get(|Path(file): Path<String>| async move { embedded(SWAGGER, &file, VENDORED) }),
        )
        .route("/redoc", get(|| async { Html(include_str!("../assets/redoc/redoc.html")) }))
        .route(
            "/redoc-assets/{file}",
            get(|Path(file): Path<String>| async move { embedded(REDOC, &file, VENDORED) }),
        )
}
