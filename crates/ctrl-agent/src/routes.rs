//! `/api/sessions/…` and `WS /ws/{id}`.
//!
//! Every role may have sessions; a session is seen only by its owner and by
//! admins (to anyone else it does not exist: 404). Its tools act with the role of
//! whoever sent the message, so a viewer's session cannot start services. Every
//! change is audited.

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctrl_access::Access;
use ctrl_core::Role;
use ctrl_proto::{
    AgentSession, Envelope, ErrorCode, ErrorEnvelope, NewSession, PostMessage, QueuedMessage, SessionMessage,
};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Body, Caller, Failure, Path, Principal, ok};
use serde_json::json;

use crate::session::{MAX_QUEUED, Refused};
use crate::{AgentState, Agents, stream};

/// Longest message taken.
const MAX_MESSAGE: usize = 32 * 1024;
/// Longest title, model name or system prompt taken.
const MAX_TITLE: usize = 200;
const MAX_PROMPT: usize = 16 * 1024;

/// The routes (any role; ownership is checked per session).
pub fn routes<S>(_access: &Access) -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AgentState: FromRef<S>,
    Access: FromRef<S>,
{
    ApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, delete))
        .routes(routes!(messages, post_message))
        .routes(routes!(interrupt))
        .routes(routes!(stream::events_sse))
        .routes(routes!(stream::events_ws))
}

/// Whether `p` may see and use `s`.
pub(crate) fn visible(p: &Principal, s: &AgentSession) -> bool {
    p.role.allows(Role::Admin) || *s.owner == *p.owner
}

/// The session `id`, if the caller may see it (404 otherwise, as if it did not exist).
pub(crate) async fn find(agents: &Agents, p: &Principal, id: i64) -> Result<AgentSession, Failure> {
    match agents.store().agent_session(id).await? {
        Some(s) if visible(p, &s) => Ok(s),
        _ => Err(Failure::new(ErrorCode::NotFound, format!("no session {id}"))),
    }
}

/// Queues a message in a session the caller may use; its place in the queue.
pub(crate) async fn queue(
    agents: &Agents,
    by: &Principal,
    s: &AgentSession,
    content: String,
) -> Result<u32, Failure> {
    if content.trim().is_empty() {
        return Err(Failure::new(ErrorCode::Validation, "content must not be empty"));
    }
    if content.len() > MAX_MESSAGE {
        return Err(Failure::new(
            ErrorCode::Validation,
            format!("content must be at most {MAX_MESSAGE} bytes"),
        ));
    }
    let len = content.len();
    let mut sent = agents.handle(s).await?.post(content.clone(), by.clone()).await;
    if sent == Err(Refused::Closed) {
        // Its task had just stopped, idle: the next one takes the message.
        sent = agents.handle(s).await?.post(content, by.clone()).await;
    }
    let position = match sent {
        Ok(p) => p,
        Err(Refused::Full) => {
            return Err(Failure::new(
                ErrorCode::TooManyRequests,
                format!("{MAX_QUEUED} messages already wait in this session"),
            ));
        }
        Err(Refused::Closed) => {
            return Err(Failure::new(
                ErrorCode::Unavailable,
                "the session is closing (deleted, or the daemon stops)",
            ));
        }
    };
    let detail = format!("{len} bytes, position {position}");
    agents
        .access()
        .audit(&by.actor, "session_message", Some(&format!("session:{}", s.id)), None, "ok", Some(&detail))
        .await;
    Ok(position)
}

/// The caller's sessions (an admin's: everyone's), newest first.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions",
    responses((status = 200, body = Envelope<Vec<AgentSession>>), (status = 404, body = ErrorEnvelope)))]
pub async fn list(State(st): State<AgentState>, c: Caller) -> ApiResult<Vec<AgentSession>> {
    let agents = st.get()?;
    let p = &c.principal;
    let owner = (!p.role.allows(Role::Admin)).then_some(&*p.owner);
    ok(agents.store().agent_sessions(owner).await?)
}

/// Makes a session owned by the caller (a token's: by the user who made the token).
#[utoipa::path(post, path = "/api/sessions", tag = "sessions", request_body = NewSession,
    responses((status = 201, body = Envelope<AgentSession>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    State(st): State<AgentState>,
    c: Caller,
    Body(new): Body<NewSession>,
) -> Result<Response, Failure> {
    let agents = st.get()?;
    let config = agents.config();
    let title = new.title.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or("New session");
    let model = new.model.as_deref().map(str::trim).filter(|m| !m.is_empty()).unwrap_or(&config.model);
    if title.len() > MAX_TITLE || model.len() > MAX_TITLE {
        return Err(Failure::new(
            ErrorCode::Validation,
            format!("title and model must be at most {MAX_TITLE} bytes"),
        ));
    }
    if new.system_prompt.as_ref().is_some_and(|p| p.len() > MAX_PROMPT) {
        return Err(Failure::new(
            ErrorCode::Validation,
            format!("system_prompt must be at most {MAX_PROMPT} bytes"),
        ));
    }
    // Calls cost money: a viewer's sessions use the configured model.
    if model != config.model && !c.principal.role.allows(Role::Operator) {
        return Err(Failure::new(
            ErrorCode::Forbidden,
            format!("your role ({}) cannot choose the model; it needs operator", c.principal.role),
        ));
    }
    let owner = &c.principal.owner;
    let s = agents.store().agent_session_add(title, model, new.system_prompt.as_deref(), owner).await?;
    let target = format!("session:{}", s.id);
    let detail = format!("model {model}, owner {owner}");
    agents
        .access()
        .audit(&c.principal.actor, "session_create", Some(&target), c.address, "ok", Some(&detail))
        .await;
    Ok((StatusCode::CREATED, Json(Envelope::ok(s))).into_response())
}

/// One session.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 200, body = Envelope<AgentSession>), (status = 404, body = ErrorEnvelope)))]
pub async fn get_one(
    State(st): State<AgentState>,
    c: Caller,
    Path(id): Path<i64>,
) -> ApiResult<AgentSession> {
    ok(find(st.get()?, &c.principal, id).await?)
}

/// Deletes a session with its history and events (its turn, if any, is stopped first).
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "sessions",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 200, body = Envelope<AgentSession>), (status = 404, body = ErrorEnvelope)))]
pub async fn delete(State(st): State<AgentState>, c: Caller, Path(id): Path<i64>) -> ApiResult<AgentSession> {
    let agents = st.get()?;
    let s = find(agents, &c.principal, id).await?;
    agents.forget(id).await;
    agents.store().agent_session_remove(id).await?;
    let target = format!("session:{id}");
    agents
        .access()
        .audit(&c.principal.actor, "session_delete", Some(&target), c.address, "ok", Some(&s.title))
        .await;
    ok(s)
}

/// A session's history, in OpenAI's chat format.
#[utoipa::path(get, path = "/api/sessions/{id}/messages", tag = "sessions",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 200, body = Envelope<Vec<SessionMessage>>), (status = 404, body = ErrorEnvelope)))]
pub async fn messages(
    State(st): State<AgentState>,
    c: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Vec<SessionMessage>> {
    let agents = st.get()?;
    find(agents, &c.principal, id).await?;
    ok(agents.store().agent_messages(id).await?)
}

/// Queues a message: taken up at once when the session is idle (position 0),
/// else after those before it. Follow the answer on the session's events.
#[utoipa::path(post, path = "/api/sessions/{id}/messages", tag = "sessions", request_body = PostMessage,
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 202, body = Envelope<QueuedMessage>), (status = 404, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
pub async fn post_message(
    State(st): State<AgentState>,
    c: Caller,
    Path(id): Path<i64>,
    Body(m): Body<PostMessage>,
) -> Result<Response, Failure> {
    let agents = st.get()?;
    let s = find(agents, &c.principal, id).await?;
    let position = queue(agents, &c.principal, &s, m.content.clone()).await?;
    Ok((StatusCode::ACCEPTED, Json(Envelope::ok(QueuedMessage { message: m, position }))).into_response())
}

/// Stops the running turn within a second (tool calls under way are answered
/// "interrupted") and drops the queued messages; the session stays usable.
#[utoipa::path(post, path = "/api/sessions/{id}/interrupt", tag = "sessions",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 200, description = "`{interrupted}`: whether a turn was running"),
        (status = 404, body = ErrorEnvelope)))]
pub async fn interrupt(
    State(st): State<AgentState>,
    c: Caller,
    Path(id): Path<i64>,
) -> ApiResult<serde_json::Value> {
    let agents = st.get()?;
    let s = find(agents, &c.principal, id).await?;
    let stopped = agents.handle(&s).await?.interrupt().await;
    let target = format!("session:{id}");
    let result = if stopped { "ok" } else { "idle" };
    agents
        .access()
        .audit(&c.principal.actor, "session_interrupt", Some(&target), c.address, result, None)
        .await;
    ok(json!({"interrupted": stopped}))
}
