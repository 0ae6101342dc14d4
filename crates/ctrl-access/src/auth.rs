//! Authentication of every `/api` route, and roles.
//!
//! A request is a principal in one of three ways: through the unix socket (trusted
//! by its file mode: admin), with an API token (stored as SHA-256 hashes; the one
//! the first start writes to `state_dir/token` is an admin token), or with the
//! session cookie of a login, whose writes must also echo the session's CSRF
//! token in `X-CSRF-Token`. Roles are checked per route group.
//!
//! The daemon's first start writes a random token to `state_dir/token` (0600).
//! Requests present it as `Authorization: Bearer …`; browsers' WebSocket and
//! EventSource, which cannot set headers, may use a `token` query parameter (on
//! the stream routes only) or a
//! `bearer.<token>` WebSocket subprotocol. Comparison is in constant time, and a
//! missing token and a wrong one get the same answer. Connections on the unix
//! socket are trusted: its file mode already limits who can connect.

use std::path::Path;
use std::sync::Arc;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ctrl_core::Role;
use ctrl_proto::ErrorCode;
use ctrl_proto::TokenInfo;
use subtle::ConstantTimeEq;

use ctrl_web::{Acting, Failure, Principal, Trusted, address};

use crate::Access;
use crate::password::digest;

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
        let value = crate::password::secret();
        crate::password::write_private(&path, format!("{value}\n").as_bytes())?;
        Ok(Token::new(value))
    }

    /// The hash under which the store keeps it.
    pub fn hash(&self) -> String {
        digest(&self.0)
    }
}

/// The session cookie's name.
pub const COOKIE: &str = "ctrl_session";
/// A session unused this long ends.
pub const SESSION_IDLE: chrono::TimeDelta = chrono::TimeDelta::hours(2);
/// A session ends this long after login, used or not.
pub const SESSION_MAX: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How often a session's last use is written (not at every request).
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Middleware: finds the principal (unix socket, bearer token, or session cookie),
/// checks the CSRF header on cookie-authenticated writes, or answers 401/403.
pub async fn authenticate(State(st): State<Access>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    match st.principal_of(&parts).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(f) => f.into_response(),
    }
}

impl Access {
    /// Who sent a request (its head), as [`authenticate`] decides it: for routes that
    /// authenticate by themselves, like the LLM gateway's, whose errors have another shape.
    pub async fn principal_of(&self, parts: &Parts) -> Result<Principal, Failure> {
        if let Some(Acting(principal)) = parts.extensions.get::<Acting>() {
            return Ok(principal.clone());
        }
        let trusted = parts.extensions.get::<Trusted>().is_some();
        let tokens: Vec<&str> = presented(parts).collect();
        let principal = identify(self, trusted, &tokens, session_cookie(&parts.headers)).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Some(csrf) = &principal.csrf
            && !safe
        {
            let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            if !bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
                let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
                self.audit(
                    &principal.actor,
                    "forbidden",
                    Some(parts.uri.path()),
                    address,
                    "denied",
                    Some("missing or wrong CSRF token"),
                )
                .await;
                return Err(Failure::new(ErrorCode::Forbidden, "missing or wrong X-CSRF-Token header"));
            }
        }
        Ok(principal)
    }
}

async fn identify(
    st: &Access,
    trusted: bool,
    tokens: &[&str],
    cookie: Option<&str>,
) -> Result<Principal, Failure> {
    if trusted {
        // A user name cannot hold ':', so no user is the owner of the socket's sessions.
        let (actor, owner): (Arc<str>, Arc<str>) = (Arc::from("local"), Arc::from(":local"));
        return Ok(Principal { actor, role: Role::Admin, csrf: None, session: None, owner });
    }
    let mut down = None;
    for presented in tokens {
        match st.tokens.lookup(st.store(), &digest(presented)).await {
            // A token owns its own sessions (not its maker's: a viewer's token must
            // not reach an admin's sessions).
            Ok(Some((role, actor))) => {
                return Ok(Principal { actor: actor.clone(), role, csrf: None, session: None, owner: actor });
            }
            Ok(None) => {}
            Err(e) => down = Some(e),
        }
    }
    if let Some(cookie) = cookie {
        let id_hash = digest(cookie);
        let store = st.store();
        let found = store.session(&id_hash).await?;
        let now = chrono::Utc::now();
        if let Some(s) = found {
            if now < s.expires_at && now - s.last_seen_at < SESSION_IDLE {
                if now - s.last_seen_at > TOUCH_EVERY {
                    let _ = store.touch_session(&id_hash, now).await;
                }
                let name: Arc<str> = Arc::from(s.user.name);
                return Ok(Principal {
                    actor: name.clone(),
                    role: s.user.role,
                    csrf: Some(s.csrf_token),
                    session: Some(id_hash),
                    owner: name,
                });
            }
            let _ = store.remove_session(&id_hash).await;
        }
    }
    if let Some(e) = down {
        return Err(e.into());
    }
    Err(Failure::new(
        ErrorCode::Unauthorized,
        "authentication required: log in, or send a valid token as 'Authorization: Bearer …'",
    ))
}

/// The value of the session cookie, if the request has one.
fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .find(|v| !v.is_empty())
}

/// Middleware: 403 unless the principal is at least an operator.
pub async fn operator(State(st): State<Access>, req: Request, next: Next) -> Response {
    require(&st, Role::Operator, req, next).await
}

/// Middleware: 403 unless the principal is an admin.
pub async fn admin(State(st): State<Access>, req: Request, next: Next) -> Response {
    require(&st, Role::Admin, req, next).await
}

async fn require(st: &Access, needed: Role, req: Request, next: Next) -> Response {
    let Some(p) = req.extensions().get::<Principal>() else {
        return Failure::new(ErrorCode::Unauthorized, "authentication required").into_response();
    };
    if p.role.allows(needed) {
        return next.run(req).await;
    }
    let msg = format!("your role ({}) cannot do this; it needs {needed}", p.role);
    let (actor, target, address) = (p.actor.clone(), req.uri().path().to_owned(), address(&req));
    drop(req);
    st.audit(&actor, "forbidden", Some(&target), address, "denied", Some(&msg)).await;
    Failure::new(ErrorCode::Forbidden, msg).into_response()
}

/// Tokens by hash, each re-read from the store at most once a second, so that a
/// revocation made elsewhere (the CLI removing a user) takes effect within a second
/// while a busy client costs no query per request.
#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<String, Cached>>,
}

/// A token as last read, with the actor name its requests carry.
#[derive(Clone)]
pub struct Cached {
    token: Arc<TokenInfo>,
    actor: Arc<str>,
    read_at: Instant,
}

impl TokenCache {
    const FRESH: Duration = Duration::from_secs(1);

    /// The role and actor name of the valid token with this hash; an error when
    /// the database is down and the token was not seen before (the client should
    /// retry, not conclude that its token is wrong).
    pub async fn lookup(
        &self,
        store: &ctrl_store::Store,
        hash: &str,
    ) -> Result<Option<(Role, Arc<str>)>, ctrl_store::StoreError> {
        let cached = self.entries.read().unwrap_or_else(|p| p.into_inner()).get(hash).cloned();
        let entry = match cached {
            Some(c) if c.read_at.elapsed() < Self::FRESH => c,
            // Unknown hashes are not remembered: random guesses must not fill memory.
            _ => match store.token_by_hash(hash).await {
                Ok(Some(t)) => self.put(hash, t),
                Ok(None) => return Ok(None),
                // The database is down: a token seen before keeps working as it was,
                // and is not looked up again for a while (each try waits for the pool).
                Err(e) => match cached {
                    Some(c) => self.put(hash, (*c.token).clone()),
                    None => return Err(e),
                },
            },
        };
        Ok(entry.token.is_valid(chrono::Utc::now()).then(|| (entry.token.role, entry.actor.clone())))
    }

    /// Remembers a token as it is now (read from the store, or just created through the API).
    pub fn put(&self, hash: &str, token: TokenInfo) -> Cached {
        let entry = Cached {
            actor: Arc::from(format!("token:{}", token.name)),
            token: Arc::new(token),
            read_at: Instant::now(),
        };
        self.entries.write().unwrap_or_else(|p| p.into_inner()).insert(hash.to_owned(), entry.clone());
        entry
    }

    /// Forgets every cached token (after a revoke by id, whose hash is not known here).
    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Every token the request carries, wherever a client may put one.
/// The `Authorization: Bearer …` values of a request.
pub fn bearer(headers: &axum::http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(AUTHORIZATION)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

fn presented(req: &Parts) -> impl Iterator<Item = &str> {
    let headers = &req.headers;
    let bearer = bearer(headers);
    let protocol = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("bearer."));
    // Only where a browser cannot set a header: GETs of the streams. Elsewhere a
    // token in the URL would end up in proxy logs and browser history for nothing.
    let path = req.uri.path();
    let stream = req.method == Method::GET
        && (path.ends_with("/ws")
            || path.ends_with("/stream")
            || path.ends_with("/logs")
            || (path.starts_with("/api/sessions/") && path.ends_with("/events"))
            || path.starts_with("/ws/")
            || path.starts_with("/vnc/"));
    let query = req
        .uri
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
        assert_eq!(a.hash(), digest(&b.0));
    }
}
