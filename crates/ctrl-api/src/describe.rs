//! The OpenAPI document's description, built from the handlers at start-up in
//! debug builds (release builds serve the file it produced: see
//! `ctrl_web::routing`).

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
        (name = "hosts", description = "Hosts behind this hub, their links and their APIs"),
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
