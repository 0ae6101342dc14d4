//! Who may do what: dashboard users and their login sessions, API tokens,
//! roles, and the audit log of every change, with the middleware that finds a
//! request's principal and the routes under `/api/auth`, `/api/users`,
//! `/api/tokens` and `/api/audit`.
//!
//! Its state is [`Access`]; a host router reaches it through `FromRef`, merges
//! [`public_routes`] and [`routes`], and wraps its protected routes in
//! [`authenticate`]. Other features check roles with [`Access::operators_only`]
//! and [`Access::admins_only`] and record what they change with [`Access::audit`].

mod audit;
mod auth;
mod first_admin;
mod limiter;
pub mod password;
mod routes;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::middleware;
use ctrl_store::Store;
use ctrl_web::ApiRouter;
use ctrl_web::routes;

pub use auth::{Token, authenticate, bearer};

use auth::{TokenCache, admin, operator};
pub use routes::check_new_user;

/// The state of access control: one pointer, cheap to clone per request.
#[derive(Clone)]
pub struct Access(Arc<AccessInner>);

/// What [`Access`] holds.
pub struct AccessInner {
    store: Store,
    /// API tokens by hash, re-read at most once a second.
    tokens: TokenCache,
    /// Failed logins by address and user.
    limiter: limiter::LoginLimiter,
    /// Whether session cookies are `Secure` (the API is served over TLS).
    secure_cookies: bool,
    /// Entries that waited out a database outage, written in order when it is back.
    backlog: audit::Backlog,
    /// The one-time link that makes the first admin.
    first_admin: first_admin::FirstAdmin,
}

impl std::ops::Deref for Access {
    type Target = AccessInner;
    fn deref(&self) -> &AccessInner {
        &self.0
    }
}

impl Access {
    /// Access control over `store`.
    pub fn new(store: Store, secure_cookies: bool) -> Access {
        Access(Arc::new(AccessInner {
            tokens: TokenCache::default(),
            limiter: limiter::LoginLimiter::default(),
            secure_cookies,
            backlog: audit::Backlog::start(store.clone()),
            first_admin: first_admin::FirstAdmin::default(),
            store,
        }))
    }

    /// The store the users, sessions, tokens and audit log live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// While no user exists: the secret of a one-time link (`/login#once=…`)
    /// that makes the first admin, valid once for 15 minutes. `None` once
    /// someone can log in.
    pub async fn first_admin_link(&self) -> Result<Option<String>, ctrl_store::StoreError> {
        if !self.store.users().await?.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.first_admin.issue(std::time::Instant::now())))
    }

    /// `routes` for operators and admins only (a 403, audited, for viewers).
    pub fn operators_only<S>(&self, routes: ApiRouter<S>) -> ApiRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes.route_layer(middleware::from_fn_with_state(self.clone(), operator))
    }

    /// `routes` for admins only (a 403, audited, for everyone else).
    pub fn admins_only<S>(&self, routes: ApiRouter<S>) -> ApiRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        routes.route_layer(middleware::from_fn_with_state(self.clone(), admin))
    }

    /// Appends to the audit log. During a database outage the entry waits in a
    /// bounded backlog and is written, in order, when the database is back; a
    /// failure is logged, never shown to the client.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        address: Option<String>,
        result: &str,
        detail: Option<&str>,
    ) {
        let entry = ctrl_proto::AuditEntry {
            id: 0,
            at: chrono::Utc::now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            address,
            result: result.to_owned(),
            detail: detail.map(str::to_owned),
        };
        self.backlog.write(entry).await;
    }
}

/// The routes anyone may call: logging in, and making the first admin by the one-time link.
pub fn public_routes<S>() -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Access: FromRef<S>,
{
    ApiRouter::new().routes(routes!(routes::login)).routes(routes!(routes::first_admin))
}

/// The routes for a known principal (the host wraps them in [`authenticate`]):
/// who am I and logging out for anyone; users, tokens and the audit log for admins.
pub fn routes<S>(access: &Access) -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Access: FromRef<S>,
{
    let anyone = ApiRouter::new().routes(routes!(routes::me)).routes(routes!(routes::logout));
    let admins = ApiRouter::new()
        .routes(routes!(routes::users, routes::add_user))
        .routes(routes!(routes::remove_user))
        .routes(routes!(routes::tokens, routes::create_token))
        .routes(routes!(routes::revoke_token))
        .routes(routes!(routes::audit));
    anyone.merge(access.admins_only(admins))
}
