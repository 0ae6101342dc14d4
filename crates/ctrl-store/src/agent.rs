//! `agent_sessions`, `agent_messages` and `agent_events`: agent sessions, their
//! histories and their events. Messages and events are only ever appended.

use chrono::{DateTime, Utc};
use ctrl_proto::{AgentSession, EventType, SessionMessage, SessionStatus};

use crate::db::{self, Arg, Row};
use crate::{Store, StoreError};

/// Events per multi-row insert (6 arguments each).
const EVENT_CHUNK: usize = 32;

/// An event as stored: its data is the JSON text, so a replay sends it unparsed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Its place in the session's events, from 1.
    pub seq: i64,
    /// What kind of event.
    pub kind: EventType,
    /// The JSON text of its data.
    pub data: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A message to append to a history.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Its place in the history.
    pub index: i64,
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// The JSON text of the whole message.
    pub message: String,
}

const SESSION: &str = "SELECT s.*, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM agent_messages m WHERE m.session_id = s.id) AS messages, \
    (SELECT CAST(COALESCE(MAX(e.seq), 0) AS BIGINT) FROM agent_events e WHERE e.session_id = s.id) AS last_seq \
    FROM agent_sessions s";

fn session_of(r: &Row) -> Result<AgentSession, StoreError> {
    let status: String = r.get("status")?;
    Ok(AgentSession {
        id: r.get("id")?,
        title: r.get("title")?,
        status: SessionStatus::parse(&status).unwrap_or(SessionStatus::Error),
        model: r.get("model")?,
        system_prompt: r.get("system_prompt")?,
        owner: r.get("owner")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        messages: u64::try_from(r.get::<i64>("messages")?).unwrap_or(0),
        last_seq: r.get("last_seq")?,
    })
}

impl Store {
    /// Makes a session, idle and empty.
    pub async fn agent_session_add(
        &self,
        title: &str,
        model: &str,
        system_prompt: Option<&str>,
        owner: &str,
    ) -> Result<AgentSession, StoreError> {
        let now = Utc::now();
        let row = db::query(
            "INSERT INTO agent_sessions (title, status, model, system_prompt, owner, created_at, updated_at) \
             VALUES ($1, 'idle', $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(title)
        .bind(model)
        .bind(system_prompt.map(str::to_owned))
        .bind(owner)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(AgentSession {
            id: row.get("id")?,
            title: title.to_owned(),
            status: SessionStatus::Idle,
            model: model.to_owned(),
            system_prompt: system_prompt.map(str::to_owned),
            owner: owner.to_owned(),
            created_at: now,
            updated_at: now,
            messages: 0,
            last_seq: 0,
        })
    }

    /// Sessions, newest first: every one, or one owner's.
    pub async fn agent_sessions(&self, owner: Option<&str>) -> Result<Vec<AgentSession>, StoreError> {
        let rows = match owner {
            Some(o) => {
                db::query(format!("{SESSION} WHERE s.owner = $1 ORDER BY s.id DESC"))
                    .bind(o)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => db::query(format!("{SESSION} ORDER BY s.id DESC")).fetch_all(&self.pool).await?,
        };
        rows.iter().map(session_of).collect()
    }

    /// One session.
    pub async fn agent_session(&self, id: i64) -> Result<Option<AgentSession>, StoreError> {
        let row = db::query(format!("{SESSION} WHERE s.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(session_of).transpose()
    }

    /// Sets a session's status.
    pub async fn agent_session_status(&self, id: i64, status: SessionStatus) -> Result<(), StoreError> {
        db::query("UPDATE agent_sessions SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .bind(Utc::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks every session that was running as interrupted (at start-up: the
    /// daemon that ran them stopped); returns how many.
    pub async fn agent_sessions_interrupted(&self) -> Result<u64, StoreError> {
        db::query(
            "UPDATE agent_sessions SET status = 'interrupted', updated_at = $1 WHERE status = 'running'",
        )
        .bind(Utc::now())
        .execute(&self.pool)
        .await
    }

    /// Removes a session with its history and events; false when there was none.
    pub async fn agent_session_remove(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        db::query("DELETE FROM agent_events WHERE session_id = $1").bind(id).execute(&mut tx).await?;
        db::query("DELETE FROM agent_messages WHERE session_id = $1").bind(id).execute(&mut tx).await?;
        let gone = db::query("DELETE FROM agent_sessions WHERE id = $1").bind(id).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// A session's history, in order.
    pub async fn agent_messages(&self, session_id: i64) -> Result<Vec<SessionMessage>, StoreError> {
        let rows =
            db::query("SELECT idx, role, message, at FROM agent_messages WHERE session_id = $1 ORDER BY idx")
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.get("message")?;
                Ok(SessionMessage {
                    index: r.get("idx")?,
                    role: r.get("role")?,
                    message: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
                    at: r.get("at")?,
                })
            })
            .collect()
    }

    /// Appends messages to a history, all or none.
    pub async fn agent_messages_add(
        &self,
        session_id: i64,
        messages: &[NewMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for m in messages {
            db::query(
                "INSERT INTO agent_messages (session_id, idx, role, message, at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(session_id)
            .bind(m.index)
            .bind(m.role.as_str())
            .bind(m.message.as_str())
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        db::query("UPDATE agent_sessions SET updated_at = $2 WHERE id = $1")
            .bind(session_id)
            .bind(now)
            .execute(&mut tx)
            .await?;
        tx.commit().await
    }

    /// Appends events, in one transaction of multi-row statements.
    pub async fn agent_events_add(&self, session_id: i64, events: &[StoredEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in events.chunks(EVENT_CHUNK) {
            let sql = format!(
                "INSERT INTO agent_events (session_id, seq, type, data, at) VALUES {}",
                db::placeholders(chunk.len(), 5)
            );
            let mut q = db::query(sql);
            for e in chunk {
                q = q
                    .bind(session_id)
                    .bind(e.seq)
                    .bind(e.kind.as_str())
                    .bind(Arg::Text(Some(e.data.clone())))
                    .bind(e.at);
            }
            q.execute(&mut tx).await?;
        }
        tx.commit().await
    }

    /// A session's events after `after`, in order, at most `limit`.
    pub async fn agent_events(
        &self,
        session_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = db::query(
            "SELECT seq, type, data, at FROM agent_events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(session_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get("type")?;
                Ok(StoredEvent {
                    seq: r.get("seq")?,
                    kind: EventType::parse(&kind).unwrap_or(EventType::Error),
                    data: r.get("data")?,
                    at: r.get("at")?,
                })
            })
            .collect()
    }
}
