//! Agent sessions as clients see them: sessions, their messages, and the events
//! their loop emits (`/api/sessions`, `/ws/{id}`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a session's loop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting for a message.
    Idle,
    /// Working on a turn.
    Running,
    /// Its last turn was stopped by an interrupt (or the daemon stopping).
    Interrupted,
    /// Its last turn ended on an error (the model failed, a limit was reached).
    Error,
}

impl SessionStatus {
    /// The word used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Idle => "idle",
            SessionStatus::Running => "running",
            SessionStatus::Interrupted => "interrupted",
            SessionStatus::Error => "error",
        }
    }

    /// Parses the word back.
    pub fn parse(s: &str) -> Option<SessionStatus> {
        [SessionStatus::Idle, SessionStatus::Running, SessionStatus::Interrupted, SessionStatus::Error]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One agent session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentSession {
    /// Its id.
    pub id: i64,
    /// What it is about.
    pub title: String,
    /// Where its loop is.
    pub status: SessionStatus,
    /// The model it calls.
    pub model: String,
    /// Its own system prompt, when it has one (otherwise `[agent] system_prompt`).
    pub system_prompt: Option<String>,
    /// The user whose session it is; its tools act with that user's role.
    pub owner: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Messages in its history.
    pub messages: u64,
    /// The seq of its last event (0: none yet).
    pub last_seq: i64,
}

/// `POST /api/sessions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// What it is about (default "New session").
    pub title: Option<String>,
    /// The model (default `[agent] model`).
    pub model: Option<String>,
    /// Its own system prompt.
    pub system_prompt: Option<String>,
}

/// One message of a session's history, in OpenAI's chat format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionMessage {
    /// Its place in the history, from 0.
    pub index: i64,
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// The whole message as the model sees it (`content`, `tool_calls`, `tool_call_id`).
    #[schema(value_type = Object)]
    pub message: serde_json::Value,
    /// When it was added.
    pub at: DateTime<Utc>,
}

/// `POST /api/sessions/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// What the user says.
    pub content: String,
}

/// The answer to a posted message: it waits its turn in the session's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueuedMessage {
    /// The message as queued.
    pub message: PostMessage,
    /// Its place in the queue: 0 when it is taken up at once, else how many go first.
    pub position: u32,
}

/// The kinds of events a session emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A piece of the model's answer, as it writes (`{delta}`).
    Text,
    /// A piece of the model's reasoning (`{delta}`).
    Thinking,
    /// The model calls a tool (`{id, name, arguments}`).
    ToolUse,
    /// A tool's answer (`{id, name, ok, content, image?}`).
    ToolResult,
    /// The session's status changed (`{status, reason?, message?, iteration?}`).
    Status,
    /// Something went wrong (`{message}`).
    Error,
}

impl EventType {
    /// The word used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Text => "text",
            EventType::Thinking => "thinking",
            EventType::ToolUse => "tool_use",
            EventType::ToolResult => "tool_result",
            EventType::Status => "status",
            EventType::Error => "error",
        }
    }

    /// Parses the word back.
    pub fn parse(s: &str) -> Option<EventType> {
        [
            EventType::Text,
            EventType::Thinking,
            EventType::ToolUse,
            EventType::ToolResult,
            EventType::Status,
            EventType::Error,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One event of a session: `seq` rises by one per session, and every event is
/// stored before it is sent, so a client that comes back with its last seq gets
/// every later event once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionEvent {
    /// Its place in the session's events, from 1.
    pub seq: i64,
    /// The session.
    pub session_id: i64,
    /// What kind of event.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// What happened; its shape depends on the type.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// A desktop reachable through the VNC bridge (`GET /api/vnc`); its address is not shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VncTargetInfo {
    /// Its name in `/vnc/{target}`.
    pub name: String,
    /// The least role that may connect.
    pub role: ctrl_core::Role,
}
