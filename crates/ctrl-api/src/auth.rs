//! Token authentication of every `/api` route.
//!
//! The daemon's first start writes a random token to `state_dir/token` (0600).
//! Requests present it as `Authorization: Bearer …`; browsers' WebSocket and
//! EventSource, which cannot set headers, may use a `token` query parameter (on
//! the stream routes only) or a
//! `bearer.<token>` WebSocket subprotocol. Comparison is in constant time, and a
//! missing token and a wrong one get the same answer. Connections on the unix
//! socket are trusted: its file mode already limits who can connect.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ctrl_proto::ErrorCode;
use subtle::ConstantTimeEq;

use crate::error::Failure;

/// Marks requests that came through the trusted unix socket.
#[derive(Debug, Clone, Copy)]
pub struct Trusted;

/// The secret every remote request must present.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A token with this value (tests, and tokens read from elsewhere).
    pub fn new(value: impl Into<Arc<str>>) -> Token {
        Token(value.into())
    }

    /// Reads `state_dir/token`, creating it with a fresh random token (mode 0600) the first time.
    pub fn load_or_create(state_dir: &Path) -> std::io::Result<Token> {
        let path = state_dir.join("token");
        match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => return Ok(Token::new(s.trim())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = state_dir.join("token.tmp");
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(Token::new(value))
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// Middleware: lets a request through when it is trusted or presents the token.
pub async fn require_token(State(token): State<Token>, req: Request, next: Next) -> Response {
    if req.extensions().get::<Trusted>().is_some() || presented(&req).any(|t| token.matches(t)) {
        return next.run(req).await;
    }
    Failure::new(
        ErrorCode::Unauthorized,
        "authentication required: send a valid token as 'Authorization: Bearer …'",
    )
    .into_response()
}

/// Every token the request carries, wherever a client may put one.
fn presented(req: &Request) -> impl Iterator<Item = &str> {
    let headers = req.headers();
    let bearer = headers
        .get_all(AUTHORIZATION)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let protocol = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("bearer."));
    // Only where a browser cannot set a header: GETs of the streams. Elsewhere a
    // token in the URL would end up in proxy logs and browser history for nothing.
    let path = req.uri().path();
    let stream = req.method() == axum::http::Method::GET
        && (path.ends_with("/ws") || path.ends_with("/stream") || path.ends_with("/logs"));
    let query = req
        .uri()
        .query()
        .filter(|_| stream)
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.strip_prefix("token="));
    bearer.chain(protocol).chain(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = Token::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Token::load_or_create(dir.path()).unwrap();
        assert_eq!(a.0, b.0);
        assert_eq!(a.0.len(), 64);
        assert!(a.matches(&b.0));
        assert!(!a.matches(&b.0[..63]));
        assert!(!a.matches(""));
    }
}
