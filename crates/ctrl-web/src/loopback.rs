//! The daemon's own API, called in-process on someone's behalf.
//!
//! An agent session's tools and model calls, and a hub's requests to a host, are
//! requests to the same router clients use, carrying an [`Acting`] principal: the
//! same role checks, the same audit entries and the same gateway accounting as any
//! client gets, with no second copy of any of it.

use std::sync::{Arc, RwLock};

use crate::{Acting, Principal};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Largest answer a tool takes from the API (bigger ones are cut).
const MAX_ANSWER: usize = 8 * 1024 * 1024;

/// A handle on the router, set once the router exists (it contains this crate's
/// routes, so it is built after them) and cleared at shutdown.
#[derive(Clone, Default)]
pub struct Loopback(Arc<RwLock<Option<Router>>>);

/// An answer of the API: its status and the envelope's data or error message.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 2xx, with the envelope's `data`.
    Ok(Value),
    /// Anything else, with the error's message.
    Refused(StatusCode, String),
}

impl Loopback {
    /// Makes the router reachable.
    pub fn set(&self, router: Router) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(router);
    }

    /// Lets the router go (it holds this handle: the two would keep each other alive).
    pub fn clear(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Sends a request as `principal` and answers the response, streamed.
    pub async fn send(
        &self,
        principal: &Principal,
        method: Method,
        uri: &str,
        body: Option<Bytes>,
    ) -> Result<Response<Body>, String> {
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).map_err(|e| e.to_string())?;
        self.serve(principal, req).await
    }

    /// Serves a whole request as `principal`; the response, streamed.
    pub async fn serve(
        &self,
        principal: &Principal,
        mut req: Request<Body>,
    ) -> Result<Response<Body>, String> {
        let router = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(router) = router else { return Err("the daemon is shutting down".into()) };
        req.extensions_mut().insert(Acting(principal.clone()));
        router.oneshot(req).await.map_err(|e| e.to_string())
    }

    /// Sends a request and reads its envelope.
    pub async fn call(
        &self,
        principal: &Principal,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| Bytes::from(b.to_string()));
        let res = match self.send(principal, method, uri, body).await {
            Ok(r) => r,
            Err(e) => return Answer::Refused(StatusCode::SERVICE_UNAVAILABLE, e),
        };
        let status = res.status();
        let bytes = match http_body_util::Limited::new(res.into_body(), MAX_ANSWER).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Answer::Refused(StatusCode::BAD_GATEWAY, format!("cannot read the answer: {e}"));
            }
        };
        envelope(status, &bytes)
    }
}

/// Reads `{"success": true, "data": …}` or `{"success": false, "error": …}`.
fn envelope(status: StatusCode, bytes: &[u8]) -> Answer {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Answer::Ok(v.get("data").cloned().unwrap_or(v));
    }
    let msg = v["error"].as_str().map_or_else(|| format!("the API answered {status}"), str::to_owned);
    Answer::Refused(status, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_become_data_or_the_error() {
        assert_eq!(
            envelope(StatusCode::OK, br#"{"success":true,"data":[1]}"#),
            Answer::Ok(serde_json::json!([1]))
        );
        assert_eq!(
            envelope(StatusCode::FORBIDDEN, br#"{"success":false,"error":"no","code":"forbidden"}"#),
            Answer::Refused(StatusCode::FORBIDDEN, "no".into())
        );
        assert_eq!(
            envelope(StatusCode::BAD_GATEWAY, b"<html>"),
            Answer::Refused(StatusCode::BAD_GATEWAY, "the API answered 502 Bad Gateway".into())
        );
    }
}
