//! Agent sessions: `/api/sessions/…` and a session's event stream.

use ctrl_proto::{AgentSession, NewSession, PostMessage, QueuedMessage, SessionEvent, SessionMessage};
use hyper::Method;
use serde_json::Value;

use crate::sse::{Events, FromEvent};
use crate::{Client, Error};

/// A session's stream: every event, whatever its type (a WebSocket frame is one too).
impl FromEvent for SessionEvent {
    fn from_event(_: &str, data: &str) -> Result<Option<Self>, Error> {
        match serde_json::from_str(data) {
            Ok(e) => Ok(Some(e)),
            // A type a newer daemon added is not this client's business.
            Err(e) if e.is_data() => Ok(None),
            Err(e) => Err(Error::Protocol(format!("an event this client does not understand: {e}"))),
        }
    }
}

impl Client {
    /// `GET /api/sessions`.
    pub async fn sessions(&self) -> Result<Vec<AgentSession>, Error> {
        self.get("/api/sessions").await
    }

    /// `POST /api/sessions`.
    pub async fn create_session(&self, new: &NewSession) -> Result<AgentSession, Error> {
        self.call(Method::POST, "/api/sessions", Some(new)).await
    }

    /// `GET /api/sessions/{id}`.
    pub async fn session(&self, id: i64) -> Result<AgentSession, Error> {
        self.get(&format!("/api/sessions/{id}")).await
    }

    /// `DELETE /api/sessions/{id}`.
    pub async fn delete_session(&self, id: i64) -> Result<AgentSession, Error> {
        self.call(Method::DELETE, &format!("/api/sessions/{id}"), None::<&()>).await
    }

    /// `GET /api/sessions/{id}/messages`.
    pub async fn session_messages(&self, id: i64) -> Result<Vec<SessionMessage>, Error> {
        self.get(&format!("/api/sessions/{id}/messages")).await
    }

    /// `POST /api/sessions/{id}/messages`: the message's place in the queue.
    pub async fn post_message(&self, id: i64, content: &str) -> Result<QueuedMessage, Error> {
        let body = PostMessage { content: content.to_owned() };
        self.call(Method::POST, &format!("/api/sessions/{id}/messages"), Some(&body)).await
    }

    /// `POST /api/sessions/{id}/interrupt`: whether a turn was running.
    pub async fn interrupt(&self, id: i64) -> Result<bool, Error> {
        let v: Value = self.call(Method::POST, &format!("/api/sessions/{id}/interrupt"), None::<&()>).await?;
        Ok(v["interrupted"].as_bool().unwrap_or(false))
    }

    /// `GET /api/sessions/{id}/events?after=SEQ`: the events after `after`, then live.
    pub async fn session_events(&self, id: i64, after: i64) -> Result<Events<SessionEvent>, Error> {
        self.events(&format!("/api/sessions/{id}/events?after={after}")).await
    }
}
