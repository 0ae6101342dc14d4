//! One task per session owns its conversation: it takes messages in order, runs
//! one turn at a time, and is the only writer of its history and events.
//!
//! A turn is a future the task polls while it keeps answering commands: a
//! message that comes meanwhile queues (its position is answered at once), an
//! interrupt or the turn's deadline drops the future, which stops the model call
//! or the tool where it is (their connections and processes are dropped with
//! it). What the turn left half done is then closed: tool calls without an answer
//! get an "interrupted" one, text the model was writing is kept as its answer.

use std::collections::VecDeque;
use std::sync::Arc;

use ctrl_proto::{AgentSession, EventType, SessionStatus};
use ctrl_store::{NewMessage, Store, StoreError};
use ctrl_web::Principal;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::Shared;
use crate::events::{self, Channel, EventLog};
use crate::history;
use crate::turn::{self, TurnEnd};

/// Messages that may wait in a session's queue.
pub const MAX_QUEUED: usize = 100;
/// A session's task stops after this long idle with no subscriber (it starts again when needed).
const IDLE: std::time::Duration = std::time::Duration::from_secs(300);

/// What others ask of a session's task.
pub enum Command {
    /// A user's message: answered with its place in the queue.
    Post { content: String, by: Principal, reply: oneshot::Sender<Result<u32, Refused>> },
    /// Stop the turn (and drop the queue): answered with whether a turn was running.
    Interrupt { reply: oneshot::Sender<bool> },
    /// Stop for good, once every event is stored (the session is deleted, the daemon stops).
    Close { reply: oneshot::Sender<()> },
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// [`MAX_QUEUED`] messages already wait.
    Full,
    /// The task has ended or is ending.
    Closed,
}

/// How others reach a session's task.
pub struct Handle {
    tx: mpsc::Sender<Command>,
    /// Its events, for subscribers.
    pub channel: Arc<Channel>,
    /// Becomes true once the task has ended and its events are stored.
    finished: watch::Receiver<bool>,
}

impl Handle {
    /// Queues a message; its place in the queue.
    pub async fn post(&self, content: String, by: Principal) -> Result<u32, Refused> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Post { content, by, reply }).await.map_err(|_| Refused::Closed)?;
        rx.await.unwrap_or(Err(Refused::Closed))
    }

    /// Whether the task has ended (it stops when idle and unwatched).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until the ended task's events are all stored.
    pub async fn finished(&self) {
        let _ = self.finished.clone().wait_for(|done| *done).await;
    }

    /// Stops the running turn; whether there was one.
    pub async fn interrupt(&self) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Interrupt { reply }).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Stops the task once its events are stored.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Close { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A session's state, owned by its task.
pub struct Conversation {
    /// The session's id.
    pub id: i64,
    /// The model it calls.
    pub model: String,
    /// Its own system prompt.
    pub system_prompt: Option<String>,
    /// Its messages, as stored.
    pub history: Vec<Value>,
    /// Text of a model answer still being written.
    pub partial: String,
    log: EventLog,
    store: Store,
}

impl Conversation {
    /// Queues an event.
    pub async fn emit(&mut self, kind: EventType, data: Value) {
        self.log.emit(kind, &data).await;
    }

    /// Appends a message to the history and stores it, uncut by an interrupt: a stored
    /// message the history lacked would have its index taken by the next, refused.
    pub async fn append(&mut self, message: Value) -> Result<(), StoreError> {
        let new = NewMessage {
            index: self.history.len() as i64,
            role: message["role"].as_str().unwrap_or("user").to_owned(),
            message: message.to_string(),
        };
        let (store, id) = (self.store.clone(), self.id);
        let write = crate::uncut(async move { store.agent_messages_add(id, &[new]).await });
        // In memory first: a turn dropped while the write finishes leaves both agreeing.
        self.history.push(message);
        let written = write.await;
        if written.is_err() {
            self.history.pop();
        }
        written
    }

    /// Records a new status and tells subscribers.
    pub async fn set_status(&mut self, status: SessionStatus, mut data: Value) {
        let (store, id) = (self.store.clone(), self.id);
        if let Err(e) = crate::uncut(async move { store.agent_session_status(id, status).await }).await {
            tracing::warn!(session = self.id, "cannot store the status {}: {e}", status.as_str());
        }
        data["status"] = json!(status.as_str());
        self.emit(EventType::Status, data).await;
    }

    /// Answers every tool call left without one, so the history stays valid.
    async fn close_dangling(&mut self, why: &str) {
        for id in history::dangling(&self.history) {
            let name = self.history.iter().rev().find_map(|m| {
                m["tool_calls"].as_array()?.iter().find(|c| c["id"] == id.as_str())?["function"]["name"]
                    .as_str()
                    .map(str::to_owned)
            });
            self.emit(EventType::ToolResult, json!({"id": id, "name": name, "ok": false, "content": why}))
                .await;
            if let Err(e) = self.append(history::tool(&id, why)).await {
                tracing::warn!(session = self.id, "cannot close a tool call: {e}");
            }
        }
    }
}

/// How a turn ended.
enum Stop {
    Turn(Result<(), TurnEnd>),
    Interrupted,
    Deadline,
    Closing(Option<oneshot::Sender<()>>),
}

/// Starts the task of a stored session.
pub async fn spawn(shared: Arc<Shared>, session: &AgentSession) -> Result<Handle, StoreError> {
    let store = shared.store.clone();
    let history = store.agent_messages(session.id).await?.into_iter().map(|m| m.message).collect();
    let (log, channel, writer) = events::start(store.clone(), session.id, session.last_seq);
    let mut conv = Conversation {
        id: session.id,
        model: session.model.clone(),
        system_prompt: session.system_prompt.clone(),
        history,
        partial: String::new(),
        log,
        store,
    };
    // A daemon that stopped in the middle of a tool left its call unanswered.
    conv.close_dangling("interrupted: the daemon stopped while this tool ran").await;
    let (tx, rx) = mpsc::channel(16);
    let (done, finished) = watch::channel(false);
    let watched = channel.clone();
    tokio::spawn(async move {
        let closed = run(shared, &mut conv, rx, &watched).await;
        drop(conv);
        // Every event is stored and sent before the close is answered.
        let _ = writer.await;
        done.send_replace(true);
        if let Some(reply) = closed {
            let _ = reply.send(());
        }
    });
    Ok(Handle { tx, channel, finished })
}

/// The next command while idle; `None` when the handles are gone, or after [`IDLE`]
/// with no subscriber (the task ends; it is started again when needed).
async fn idle(rx: &mut mpsc::Receiver<Command>, channel: &Channel) -> Option<Command> {
    loop {
        match tokio::time::timeout(IDLE, rx.recv()).await {
            Ok(cmd) => return cmd,
            Err(_) if !channel.watched() => {
                // Commands sent meanwhile are refused as "closed": their sender starts a new task.
                rx.close();
                while let Some(cmd) = rx.recv().await {
                    match cmd {
                        Command::Post { reply, .. } => drop(reply.send(Err(Refused::Closed))),
                        Command::Interrupt { reply } => drop(reply.send(false)),
                        close @ Command::Close { .. } => return Some(close),
                    }
                }
                return None;
            }
            Err(_) => {}
        }
    }
}

/// Takes messages until closed; answers the close, if one came.
async fn run(
    shared: Arc<Shared>,
    conv: &mut Conversation,
    mut rx: mpsc::Receiver<Command>,
    channel: &Channel,
) -> Option<oneshot::Sender<()>> {
    let mut queue: VecDeque<(String, Principal)> = VecDeque::new();
    loop {
        let (content, by) = match queue.pop_front() {
            Some(next) => next,
            None => match idle(&mut rx, channel).await? {
                Command::Post { content, by, reply } => {
                    let _ = reply.send(Ok(0));
                    (content, by)
                }
                Command::Interrupt { reply } => {
                    let _ = reply.send(false);
                    continue;
                }
                Command::Close { reply } => return Some(reply),
            },
        };
        let setup = shared.config();
        let stop = {
            let turn = turn::run(conv, &shared, &setup, content, &by);
            let deadline = tokio::time::sleep(setup.turn_timeout.0);
            tokio::pin!(turn, deadline);
            loop {
                tokio::select! {
                    done = &mut turn => break Stop::Turn(done),
                    _ = &mut deadline => break Stop::Deadline,
                    cmd = rx.recv() => match cmd {
                        Some(Command::Post { content, by, reply }) => {
                            if queue.len() >= MAX_QUEUED {
                                let _ = reply.send(Err(Refused::Full));
                            } else {
                                queue.push_back((content, by));
                                let _ = reply.send(Ok(queue.len() as u32));
                            }
                        }
                        Some(Command::Interrupt { reply }) => {
                            let _ = reply.send(true);
                            break Stop::Interrupted;
                        }
                        Some(Command::Close { reply }) => break Stop::Closing(Some(reply)),
                        None => break Stop::Closing(None),
                    },
                }
            }
        };
        let (status, data) = match &stop {
            Stop::Turn(Ok(())) => (SessionStatus::Idle, json!({})),
            Stop::Turn(Err(end)) => {
                let msg = end.to_string();
                conv.emit(EventType::Error, json!({"message": msg})).await;
                (SessionStatus::Error, json!({"reason": msg}))
            }
            Stop::Deadline => {
                let msg = format!(
                    "the turn ran past [agent] turn_timeout ({}s) and was stopped",
                    setup.turn_timeout.0.as_secs()
                );
                conv.emit(EventType::Error, json!({"message": msg})).await;
                (SessionStatus::Error, json!({"reason": msg}))
            }
            Stop::Interrupted => {
                let dropped = queue.len();
                queue.clear();
                (SessionStatus::Interrupted, json!({"reason": "interrupted", "dropped": dropped}))
            }
            Stop::Closing(_) => (SessionStatus::Interrupted, json!({"reason": "the session was closed"})),
        };
        if !matches!(stop, Stop::Turn(Ok(()))) {
            conv.close_dangling(history::INTERRUPTED).await;
            if !conv.partial.is_empty() {
                let text = std::mem::take(&mut conv.partial);
                if let Err(e) = conv.append(history::assistant(&text, &[])).await {
                    tracing::warn!(session = conv.id, "cannot keep the cut answer: {e}");
                }
            }
        }
        conv.set_status(status, data).await;
        if let Stop::Closing(reply) = stop {
            return reply;
        }
    }
}
