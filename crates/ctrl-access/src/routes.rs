//! Login sessions, users, API tokens and the audit log.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ctrl_core::Role;
use ctrl_proto::{AuditEntry, Envelope, ErrorCode, ErrorEnvelope, Me, TokenInfo, UserInfo};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::Access;
use crate::auth::{COOKIE, SESSION_MAX};
use crate::password::{self, digest, secret};
use ctrl_web::{Address, ApiResult, Body, Caller, Failure, Path, Query, ok};

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Logs in: sets the session cookie. A wrong password and an unknown user get the
/// same answer after the same work; repeated failures wait longer each time (429).
#[utoipa::path(post, path = "/api/auth/login", tag = "access", security(()), request_body = Login,
    responses((status = 200, body = Envelope<Me>), (status = 401, body = ErrorEnvelope),
        (status = 429, body = ErrorEnvelope), (status = 400, body = ErrorEnvelope)))]
pub async fn login(State(st): State<Access>, caller: Address, Body(b): Body<Login>) -> Response {
    let address = caller.0;
    let keys = vec![format!("ip:{}", address.as_deref().unwrap_or("local")), format!("user:{}", b.username)];
    if let Err(wait) = st.limiter.check(&keys, Instant::now()) {
        st.audit(&b.username, "login_failed", None, address, "denied", Some("too many attempts")).await;
        let secs = wait.as_secs().max(1);
        let mut res = Failure::new(
            ErrorCode::TooManyRequests,
            format!("too many failed logins; try again in {secs} s"),
        )
        .into_response();
        if let Ok(v) = secs.to_string().parse() {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        return res;
    }
    let found = match st.store().user_with_hash(&b.username).await {
        Ok(f) => f,
        Err(e) => return Failure::from(e).into_response(),
    };
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, password::decoy().to_owned()),
    };
    let pw = b.password.clone();
    let matches = tokio::task::spawn_blocking(move || password::verify(&pw, &hash)).await.unwrap_or(false);
    let Some(user) = user.filter(|_| matches) else {
        st.limiter.failed(&keys, Instant::now());
        st.audit(&b.username, "login_failed", None, address, "denied", None).await;
        return Failure::new(ErrorCode::Unauthorized, "wrong user name or password").into_response();
    };
    st.limiter.succeeded(&keys);
    logged_in(&st, user.name, user.role, address).await
}

/// Starts a login session for `user`, audits the login, and answers with the
/// session cookie and who is logged in.
async fn logged_in(st: &Access, user: String, role: Role, address: Option<String>) -> Response {
    let (cookie, csrf) = (secret(), secret());
    let expires = Utc::now() + SESSION_MAX;
    if let Err(e) = st.store().add_session(&digest(&cookie), &user, &csrf, address.as_deref(), expires).await
    {
        return Failure::from(e).into_response();
    }
    st.audit(&user, "login", None, address, "ok", None).await;
    let secure = if st.secure_cookies { "; Secure" } else { "" };
    let set = format!(
        "{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_MAX.num_seconds()
    );
    ([(SET_COOKIE, set)], Json(Envelope::ok(Me { user, role, csrf_token: Some(csrf) }))).into_response()
}

/// Hashes a password off the async threads (argon2 takes tens of milliseconds).
async fn hash_password(password: String) -> Result<String, Failure> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|_| Failure::new(ErrorCode::Internal, "internal error"))?
        .map_err(|e| Failure::new(ErrorCode::Internal, e))
}

/// `POST /api/auth/first-admin` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstAdminBody {
    /// The secret of the one-time link `ctrl up` printed.
    pub token: String,
    /// The admin's login name.
    pub username: String,
    /// Their password: at least 8 characters.
    pub password: String,
}

/// Creates the first admin through the one-time link `ctrl up` printed while no
/// user existed, and logs them in. The link works once, for 15 minutes; a used,
/// expired or mistyped one gets 401, and once a user exists, 409.
#[utoipa::path(post, path = "/api/auth/first-admin", tag = "access", security(()), request_body = FirstAdminBody,
    responses((status = 200, body = Envelope<Me>), (status = 401, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope),
        (status = 429, body = ErrorEnvelope), (status = 400, body = ErrorEnvelope)))]
pub async fn first_admin(
    State(st): State<Access>,
    caller: Address,
    Body(b): Body<FirstAdminBody>,
) -> Response {
    let address = caller.0;
    // Its own key: guesses at the link do not slow the same address's logins down.
    let keys = vec![format!("first-admin:{}", address.as_deref().unwrap_or("local"))];
    if let Err(wait) = st.limiter.check(&keys, Instant::now()) {
        let secs = wait.as_secs().max(1);
        return Failure::new(ErrorCode::TooManyRequests, format!("too many attempts; try again in {secs} s"))
            .into_response();
    }
    // The person's typing first: a short password must not use the link up.
    if let Err(e) = check_new_user(&b.username, &b.password) {
        return Failure::new(ErrorCode::Validation, e).into_response();
    }
    let Ok(taken) = st.first_admin.take(&b.token, Instant::now()) else {
        st.limiter.failed(&keys, Instant::now());
        // The name is the caller's choice, not who they are: it goes in the detail.
        let detail = format!("link not valid; name asked for: {}", b.username);
        st.audit("anonymous", "first_admin_failed", None, address, "denied", Some(&detail)).await;
        return Failure::new(
            ErrorCode::Unauthorized,
            "this link is not valid: it was used, it expired (15 minutes) or it is mistyped; \
             restart ctrl up for a new one, or add a user with ctrl user add",
        )
        .into_response();
    };
    let made = async {
        if !st.store().users().await?.is_empty() {
            return Ok(false);
        }
        let hash = hash_password(b.password.clone()).await?;
        Ok::<_, Failure>(st.store().add_user(&b.username, &hash, Role::Admin).await?)
    };
    match made.await {
        Ok(true) => {}
        Ok(false) => {
            let detail = format!("a user exists; name asked for: {}", b.username);
            st.audit("anonymous", "first_admin_failed", None, address, "denied", Some(&detail)).await;
            return Failure::new(
                ErrorCode::Conflict,
                "a user exists already: log in, or ask an admin for an account",
            )
            .into_response();
        }
        Err(e) => {
            st.first_admin.give_back(taken);
            return e.into_response();
        }
    }
    st.audit(
        &b.username,
        "user_added",
        Some(&b.username),
        address.clone(),
        "ok",
        Some("admin, by the one-time link"),
    )
    .await;
    logged_in(&st, b.username, Role::Admin, address).await
}

/// Logs out: ends the session server side and clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "access",
    responses((status = 200, body = Envelope<bool>), (status = 401, body = ErrorEnvelope)))]
pub async fn logout(State(st): State<Access>, c: Caller) -> Response {
    if let Some(id) = &c.principal.session
        && let Err(e) = st.store().remove_session(id).await
    {
        return Failure::from(e).into_response();
    }
    st.audit(&c.principal.actor, "logout", None, c.address, "ok", None).await;
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(SET_COOKIE, clear)], Json(Envelope::ok(true))).into_response()
}

/// Who the request is authenticated as.
#[utoipa::path(get, path = "/api/auth/me", tag = "access",
    responses((status = 200, body = Envelope<Me>), (status = 401, body = ErrorEnvelope)))]
pub async fn me(c: Caller) -> ApiResult<Me> {
    ok(Me { user: c.principal.actor.to_string(), role: c.principal.role, csrf_token: c.principal.csrf })
}

/// Every user (admin).
#[utoipa::path(get, path = "/api/users", tag = "access",
    responses((status = 200, body = Envelope<Vec<UserInfo>>), (status = 403, body = ErrorEnvelope)))]
pub async fn users(State(st): State<Access>) -> ApiResult<Vec<UserInfo>> {
    ok(st.store().users().await?.into_iter().collect())
}

/// `POST /api/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: 1-64 letters, digits, `-`, `_`, `.`, `@`.
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    /// Role.
    pub role: Role,
}

/// Checks a user name and a password; the messages are for people.
pub fn check_new_user(name: &str, password: &str) -> Result<(), String> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !name_ok {
        return Err(format!(
            "'{name}' is not a valid user name: use 1-64 letters, digits, '-', '_', '.' or '@'"
        ));
    }
    if password.chars().count() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    if password.len() > 1024 {
        return Err("the password is longer than 1024 bytes".into());
    }
    Ok(())
}

/// Adds a user (admin). 409 when the name is taken.
#[utoipa::path(post, path = "/api/users", tag = "access", request_body = NewUser,
    responses((status = 200, body = Envelope<UserInfo>), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn add_user(State(st): State<Access>, c: Caller, Body(b): Body<NewUser>) -> ApiResult<UserInfo> {
    check_new_user(&b.name, &b.password).map_err(|e| Failure::new(ErrorCode::Validation, e))?;
    let hash = hash_password(b.password).await?;
    let store = st.store();
    if !store.add_user(&b.name, &hash, b.role).await? {
        return Err(Failure::new(ErrorCode::Conflict, format!("a user named '{}' exists already", b.name)));
    }
    st.audit(&c.principal.actor, "user_added", Some(&b.name), c.address, "ok", Some(b.role.as_str())).await;
    let user = store.users().await?.into_iter().find(|u| u.name == b.name);
    ok(user.ok_or_else(|| Failure::new(ErrorCode::NotFound, "the user is gone already"))?)
}

/// Removes a user, ends their sessions and revokes the tokens they created (admin).
#[utoipa::path(delete, path = "/api/users/{name}", tag = "access",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, body = Envelope<bool>), (status = 404, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
pub async fn remove_user(State(st): State<Access>, c: Caller, Path(name): Path<String>) -> ApiResult<bool> {
    if !st.store().remove_user(&name).await? {
        return Err(Failure::new(ErrorCode::NotFound, format!("no user named '{name}'")));
    }
    st.tokens.clear();
    st.audit(&c.principal.actor, "user_removed", Some(&name), c.address, "ok", None).await;
    ok(true)
}

/// Every API token (admin).
#[utoipa::path(get, path = "/api/tokens", tag = "access",
    responses((status = 200, body = Envelope<Vec<TokenInfo>>), (status = 403, body = ErrorEnvelope)))]
pub async fn tokens(State(st): State<Access>) -> ApiResult<Vec<TokenInfo>> {
    ok(st.store().tokens().await?.into_iter().collect())
}

/// `POST /api/tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for (1-64 characters).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Lifetime, e.g. `30d`, `12h` (default: until revoked).
    pub expires_in: Option<String>,
}

/// Creates a token (admin); the answer is the only time it is shown.
#[utoipa::path(post, path = "/api/tokens", tag = "access", request_body = NewToken,
    responses((status = 200, body = Envelope<TokenInfo>), (status = 422, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
pub async fn create_token(
    State(st): State<Access>,
    c: Caller,
    Body(b): Body<NewToken>,
) -> ApiResult<TokenInfo> {
    if b.name.is_empty() || b.name.chars().count() > 64 || b.name.chars().any(char::is_control) {
        return Err(Failure::new(ErrorCode::Validation, "the token name must be 1-64 printable characters"));
    }
    let expires_at = match b.expires_in.as_deref() {
        None => None,
        Some(s) => {
            let d = humantime::parse_duration(s)
                .map_err(|e| Failure::new(ErrorCode::Validation, format!("expires_in '{s}': {e}")))?;
            let d = chrono::TimeDelta::from_std(d)
                .ok()
                .filter(|d| *d > chrono::TimeDelta::zero() && *d <= chrono::TimeDelta::days(3660))
                .ok_or_else(|| {
                    Failure::new(ErrorCode::Validation, "expires_in must be between 1 s and 10 years")
                })?;
            Some(Utc::now() + d)
        }
    };
    let value = secret();
    let hash = digest(&value);
    let t = st.store().add_token(&b.name, &hash, b.role, Some(&c.principal.actor), expires_at).await?;
    st.tokens.put(&hash, t.clone());
    st.audit(&c.principal.actor, "token_created", Some(&b.name), c.address, "ok", Some(b.role.as_str()))
        .await;
    ok(TokenInfo { token: Some(value), ..t })
}

/// Revokes a token (admin).
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "access",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 200, body = Envelope<TokenInfo>), (status = 404, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
pub async fn revoke_token(State(st): State<Access>, c: Caller, Path(id): Path<i64>) -> ApiResult<TokenInfo> {
    let t = st.store().revoke_token(id).await?;
    let t = t.ok_or_else(|| Failure::new(ErrorCode::NotFound, format!("no token with id {id}")))?;
    st.tokens.clear();
    st.audit(&c.principal.actor, "token_revoked", Some(&t.name), c.address, "ok", Some(&id.to_string()))
        .await;
    ok(t)
}

/// Query of `/api/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many, newest first (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/api/audit", tag = "access", params(AuditQuery),
    responses((status = 200, body = Envelope<Vec<AuditEntry>>), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope)))]
pub async fn audit(State(st): State<Access>, Query(q): Query<AuditQuery>) -> ApiResult<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(Failure::bad_request("limit must be between 1 and 10000"));
    }
    ok(st.store().audit_log(limit).await?)
}
