//! `ANY /api/hosts/{name}/api/…`: a host's own API through its link.
//!
//! The request goes to the host as the hub user, with their hub role; the host's
//! router checks that role as it checks its own clients. The answer streams back
//! (log follows, SSE, backup downloads) at the pace the client reads it: the host
//! sends a window ahead and no more. Changes, and refusals, are audited on the hub.

use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ctrl_proto::ErrorCode;
use ctrl_web::ApiRouter;
use ctrl_web::{Caller, Failure, Path};

use super::{Ask, HubState, Link};

/// Where a request goes: the link here, or the hub that holds it.
enum To {
    Link(std::sync::Arc<Link>),
    Peer(ctrl_store::HubRow),
}

/// A host's status as a client may be given it (a 1xx or an unknown one is a 502).
pub(super) fn status_of(status: u16) -> StatusCode {
    match status {
        200..=599 => StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The request headers a host's API reads, as passed on.
pub(super) fn asked(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    ASKED
        .iter()
        .filter_map(|h| Some((h.as_str().to_owned(), headers.get(h)?.to_str().ok()?.to_owned())))
        .collect()
}

/// The largest request body passed on (the API's own limit).
pub(super) const MAX_BODY: usize = 64 * 1024;

/// Request headers a host's API reads.
pub(super) const ASKED: [HeaderName; 4] =
    [header::CONTENT_TYPE, header::ACCEPT, header::RANGE, HeaderName::from_static("last-event-id")];

/// Copies onto `res` the answer headers a host's answer may pass on ([`ANSWERED`]).
pub(super) fn pass_answer_headers<B>(res: &mut Response<B>, headers: Vec<(String, String)>) {
    for (k, v) in headers {
        let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) else { continue };
        if ANSWERED.contains(&k) {
            res.headers_mut().append(k, v);
        }
    }
}

/// Answer headers passed back (no cookies, no security headers: the hub sets its own).
const ANSWERED: [HeaderName; 8] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_DISPOSITION,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::CACHE_CONTROL,
    header::RETRY_AFTER,
    HeaderName::from_static("x-accel-buffering"),
];

/// Content types a host's answer keeps; any other goes out as a download.
const SAFE_TYPES: [&str; 8] = [
    "application/json",
    "text/event-stream",
    "text/plain",
    "application/octet-stream",
    "application/zstd",
    "application/gzip",
    "application/x-tar",
    "",
];

pub(super) fn routes<S>() -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    HubState: FromRef<S>,
{
    ApiRouter::new().route("/api/hosts/{name}/api/{*rest}", axum::routing::any(forward))
}

async fn forward(
    State(hub): State<HubState>,
    c: Caller,
    Path((name, _)): Path<(String, String)>,
    req: Request,
) -> Result<Response, Failure> {
    let (parts, body) = req.into_parts();
    if parts.headers.contains_key(header::UPGRADE) {
        return Err(Failure::bad_request(
            "WebSockets do not go through the hub: use the SSE streams (/api/services/stream, /api/system/stream)",
        ));
    }
    // The link here, or the hub on the same database that holds it.
    let to = match hub.link(&name) {
        Some(link) => To::Link(link),
        None => {
            let Some(row) = hub.store.host(&name).await? else { return Err(super::routes::unknown(&name)) };
            match super::relay::holder(&hub, &row).await {
                Some(peer) => To::Peer(peer),
                None => {
                    return Err(Failure::new(
                        ErrorCode::HostOffline,
                        match row.last_seen {
                            Some(t) => format!(
                                "host '{name}' is offline (last seen {})",
                                t.format("%Y-%m-%d %H:%M:%S UTC")
                            ),
                            None => format!("host '{name}' has never connected"),
                        },
                    ));
                }
            }
        }
    };
    // The host's path as the client wrote it (still escaped), with its query.
    let raw = parts.uri.path();
    let tail = raw
        .strip_prefix("/api/hosts/")
        .and_then(|r| r.split_once('/'))
        .map(|(_, t)| t)
        .ok_or_else(|| Failure::bad_request("bad host path"))?;
    // A token in the query (streams may carry one) is the hub's: it goes no further.
    let query: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("token="))
        .collect();
    let path = match query.is_empty() {
        false => format!("/{tail}?{}", query.join("&")),
        true => format!("/{tail}"),
    };
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        Failure::new(ErrorCode::PayloadTooLarge, format!("the body is over {} KiB", MAX_BODY / 1024))
    })?;
    let body = if bytes.is_empty() {
        None
    } else {
        Some(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| Failure::bad_request("the body must be UTF-8 (JSON)"))?,
        )
    };
    let headers = asked(&parts.headers);
    let method = parts.method.clone();
    let ask = Ask {
        method: method.as_str().to_owned(),
        path: path.clone(),
        headers,
        body,
        actor: c.principal.actor.to_string(),
        owner: c.principal.owner.to_string(),
        role: c.principal.role,
    };
    let answer = match to {
        To::Link(link) => link.request(ask).await.map(|(head, stream)| (head, Body::from_stream(stream))),
        To::Peer(peer) => super::relay::request(&hub, &peer, &name, ask).await,
    };
    let status = answer.as_ref().map_or(StatusCode::SERVICE_UNAVAILABLE, |(h, _)| status_of(h.status));
    let changes = !matches!(method, Method::GET | Method::HEAD);
    if changes || matches!(status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED) {
        let result = match status.as_u16() {
            200..=299 => "ok",
            401 | 403 => "denied",
            _ => "error",
        };
        let detail = format!("{method} {path} -> {}", status.as_u16());
        hub.access
            .audit(&c.principal.actor, "host_request", Some(&name), c.address, result, Some(&detail))
            .await;
    }
    let (head, body) = answer.map_err(|why| Failure::new(ErrorCode::HostOffline, why))?;
    let mut res = Response::new(body);
    *res.status_mut() = status;
    pass_answer_headers(&mut res, head.headers);
    // Whatever a host answers is data on the hub's origin, never a page or a script.
    let headers = res.headers_mut();
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let kind = kind.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !SAFE_TYPES.contains(&kind.as_str()) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(res.into_response())
}
