//! One turn: the user's message, then model calls and their tools until the
//! model answers without calling one, or `max_iterations` calls were made.

use ctrl_core::config::AgentConfig;
use ctrl_proto::{EventType, SessionStatus};
use ctrl_web::Principal;
use serde_json::{Value, json};

use crate::Shared;
use crate::history;
use crate::model;
use crate::session::Conversation;
use crate::tools::{self, Toolbox};

/// Why a turn ended before the model's last answer.
#[derive(Debug, thiserror::Error)]
pub enum TurnEnd {
    /// The model could not be reached or answered an error.
    #[error("{0}")]
    Model(String),
    /// The history could not be stored.
    #[error("cannot store the conversation: {0}")]
    Store(#[from] ctrl_store::StoreError),
    /// The model kept calling tools.
    #[error("stopped after {0} model calls ([agent] max_iterations)")]
    Limit(u32),
}

/// Runs one turn for `content`, sent by `by` (the tools act with their role).
pub async fn run(
    conv: &mut Conversation,
    shared: &Shared,
    setup: &AgentConfig,
    content: String,
    by: &Principal,
) -> Result<(), TurnEnd> {
    let index = conv.history.len();
    conv.set_status(
        SessionStatus::Running,
        json!({"message": {"index": index, "content": content}, "by": by.actor.as_ref()}),
    )
    .await;
    conv.append(history::user(&content)).await?;
    let definitions = tools::definitions(setup);
    let system = conv.system_prompt.clone().unwrap_or_else(|| setup.system_prompt.clone());
    let toolbox = Toolbox { api: &shared.loopback, config: setup, principal: by };
    for iteration in 1..=setup.max_iterations {
        let body = history::request(&conv.model, &system, &conv.history, &definitions);
        let answer = model::call(conv, &shared.loopback, by, &body, setup.call_timeout.0).await?;
        let calls: Vec<(String, String, String)> = answer
            .tool_calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let id = if c.id.is_empty() { format!("call_{iteration}_{i}") } else { c.id };
                (id, c.name, c.arguments)
            })
            .collect();
        conv.partial.clear();
        conv.append(history::assistant(&answer.content, &calls)).await?;
        if calls.is_empty() {
            return Ok(());
        }
        let mut images = Vec::new();
        for (id, name, arguments) in &calls {
            conv.emit(
                EventType::ToolUse,
                json!({"id": id, "name": name, "arguments": arguments, "iteration": iteration}),
            )
            .await;
            let out = tools::run(&toolbox, name, arguments, setup.tool_timeout.0).await;
            audit(shared, conv.id, by, name, arguments, out.ok, &out.text).await;
            let mut data = json!({"id": id, "name": name, "ok": out.ok, "content": out.text});
            if let Some(png) = &out.image {
                data["image"] = Value::String(format!("data:image/png;base64,{png}"));
                images.push((id.clone(), png.clone()));
            }
            conv.emit(EventType::ToolResult, data).await;
            let text = if out.ok { out.text } else { format!("error: {}", out.text) };
            conv.append(history::tool(id, &text)).await?;
        }
        for (id, png) in images {
            conv.append(history::image(&id, &png)).await?;
        }
    }
    Err(TurnEnd::Limit(setup.max_iterations))
}

/// Every tool call is in the audit log, under the name of the person who asked.
async fn audit(
    shared: &Shared,
    session: i64,
    by: &Principal,
    tool: &str,
    arguments: &str,
    ok: bool,
    result: &str,
) {
    let mut detail = format!("{tool} {arguments}");
    if !ok {
        detail.push_str(" -> ");
        detail.extend(result.chars().take(200));
    }
    let target = format!("session:{session}");
    // Its own task: an interrupt drops the turn, and must not cancel a write halfway.
    let (access, actor) = (shared.access.clone(), by.actor.clone());
    let result = if ok { "ok" } else { "error" };
    let _ = tokio::spawn(async move {
        access.audit(&actor, "agent_tool", Some(&target), None, result, Some(&detail)).await;
    })
    .await;
}
