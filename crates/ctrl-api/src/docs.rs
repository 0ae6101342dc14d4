//! The OpenAPI document (generated from the handlers), Swagger UI and ReDoc,
//! all served from assets inside the binary.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

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
    {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let answer = ResponseBuilder::new()
            .description("Missing or wrong token")
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
            )
            .build();
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
                    answers.entry("401".into()).or_insert_with(|| answer.clone().into());
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
}

/// `/docs` (Swagger UI), `/redoc`, `/openapi.json`. ReDoc's page is our own: it
/// loads the document by URL from a script file, so it needs no inline script.
pub fn routes<S: Clone + Send + Sync + 'static>(api: utoipa::openapi::OpenApi) -> Router<S> {
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        .route("/redoc", get(|| async { Html(include_str!("../assets/redoc/redoc.html")) }))
        .route(
            "/redoc-assets/redoc.standalone.js",
            get(|| async { js(include_str!("../assets/redoc/redoc.standalone.js")) }),
        )
        .route("/redoc-assets/init.js", get(|| async { js(include_str!("../assets/redoc/init.js")) }))
}

fn js(body: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/javascript"), (CACHE_CONTROL, "public, max-age=3600")], body)
}
