//! Who is asking: the principal of a request, as the access layer found it, and
//! the extractors handlers take it through.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use ctrl_core::Role;
use ctrl_proto::ErrorCode;

use crate::error::Failure;

/// Marks requests that came through the trusted unix socket.
#[derive(Debug, Clone, Copy)]
pub struct Trusted;

/// Who is asking, and through what. Put into the request's extensions by `authenticate`.
#[derive(Debug, Clone)]
pub struct Principal {
    /// A user name, `token:<name>`, or `local` (the unix socket).
    pub actor: Arc<str>,
    /// What they may do.
    pub role: Role,
    /// A login session's CSRF token, when the request came with the session cookie.
    pub csrf: Option<String>,
    /// The session's cookie hash, for logout.
    pub session: Option<String>,
    /// Whose things the principal's are (an agent session's owner): the user's
    /// name, `token:<name>` for a token (not its maker: a viewer's token must not
    /// reach an admin's sessions), `:local` for the unix socket (no user name holds ':').
    pub owner: Arc<str>,
}

/// A request the daemon makes to its own API on someone's behalf (an agent
/// session's tool): already authenticated as this principal. Only code inside the
/// daemon can put an extension into a request, so no client can present one.
#[derive(Debug, Clone)]
pub struct Acting(pub Principal);

/// The client's address, when it came over TCP.
pub fn address(req: &Request) -> Option<String> {
    client_ip(req.extensions())
}

/// The client's address from a request's extensions (TCP clients only).
fn client_ip(ext: &axum::http::Extensions) -> Option<String> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

/// The principal and address of a request, for handlers that audit what they do.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// From where (TCP clients only).
    pub address: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Caller, Failure> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Failure::new(ErrorCode::Unauthorized, "authentication required"))?;
        Ok(Caller { principal, address: client_ip(&parts.extensions) })
    }
}

/// The client's address alone (for routes that run before anyone is known).
#[derive(Debug, Clone)]
pub struct Address(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Address {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Address, std::convert::Infallible> {
        Ok(Address(client_ip(&parts.extensions)))
    }
}

/// Whether a request a browser may have sent from another page comes from the
/// daemon's own origin: no `Origin` header (not a browser), or one naming the
/// request's `Host` (its port too, when `Host` has one; behind a proxy that drops
/// the port, the host name alone). WebSockets need this check: a browser sends the
/// login cookie with them and CORS does not apply, so a page served on another
/// port of the same host could otherwise talk to the API as the person logged in.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else { return true };
    let (Ok(origin), Some(host)) =
        (origin.to_str(), headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()))
    else {
        return false;
    };
    let Some((_, authority)) = origin.split_once("://") else { return false };
    let authority = authority.trim_end_matches('/');
    if authority.eq_ignore_ascii_case(host) {
        return true;
    }
    // `Host` without a port (a proxy's): the origin's host name must still be it.
    let origin_host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    !host.contains(':') && origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::HeaderMap;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", host.parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_daemons_own_pages_pass() {
        assert!(same_origin(&headers(None, "127.0.0.1:8080")), "not a browser");
        assert!(same_origin(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080")));
        assert!(!same_origin(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:8080")), "another port");
        assert!(!same_origin(&headers(Some("https://evil.example"), "127.0.0.1:8080")));
        assert!(same_origin(&headers(Some("https://ctrl.example.org"), "ctrl.example.org")), "behind nginx");
        assert!(same_origin(&headers(Some("https://ctrl.example.org:8443"), "ctrl.example.org")));
        assert!(!same_origin(&headers(Some("null"), "127.0.0.1:8080")));
    }
}
