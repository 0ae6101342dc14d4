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
    /// name; for a token, the user who made it, or the token when no user did.
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
