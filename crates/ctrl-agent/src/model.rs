//! One model call, through the daemon's own LLM gateway (so its fall-over,
//! budgets, usage and cost apply), streamed: text and reasoning become events as
//! the model writes them.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use bytes::Bytes;
use ctrl_core::Role;
use ctrl_llm::sse::Splitter;
use ctrl_llm::tally::{Tally, in_band_error};
use ctrl_proto::EventType;
use ctrl_web::Principal;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::session::Conversation;
use crate::turn::TurnEnd;
use ctrl_web::Loopback;

/// The gateway's caller for a session's turn: the agent feature (an operator, as the
/// admin who configured `[agent]` allowed), its usage counted as `agent:<asker>`.
fn agent(asker: &Principal) -> Principal {
    let name: Arc<str> = Arc::from(format!("agent:{}", asker.actor));
    Principal { actor: name.clone(), role: Role::Operator, csrf: None, session: None, owner: name }
}

/// Asks the model for `asker`; answers its whole reply once it ends.
pub async fn call(
    conv: &mut Conversation,
    api: &Loopback,
    asker: &Principal,
    body: &Value,
    timeout: Duration,
) -> Result<Tally, TurnEnd> {
    let deadline = tokio::time::Instant::now() + timeout;
    let late = || {
        TurnEnd::Model(format!(
            "the model call took longer than [agent] call_timeout ({}s)",
            timeout.as_secs()
        ))
    };
    let caller = agent(asker);
    let sent = api.send(&caller, Method::POST, "/v1/chat/completions", Some(Bytes::from(body.to_string())));
    let res = tokio::time::timeout_at(deadline, sent).await.map_err(|_| late())?.map_err(TurnEnd::Model)?;
    let status = res.status();
    if !status.is_success() {
        let bytes = http_body_util::Limited::new(res.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let msg = v["error"]["message"].as_str().unwrap_or("no message");
        return Err(TurnEnd::Model(format!("the model call failed ({}): {msg}", status.as_u16())));
    }
    let mut body = res.into_body().into_data_stream();
    let mut splitter = Splitter::default();
    let mut tally = Tally::default();
    loop {
        let frame = tokio::time::timeout_at(deadline, body.next()).await.map_err(|_| late())?;
        let bytes = match frame {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(TurnEnd::Model(format!("the model's answer broke off: {e}"))),
            None => break,
        };
        splitter.push(&bytes);
        while let Some(event) = splitter.next_event().map_err(|e| TurnEnd::Model(e.to_string()))? {
            if event.is_done() {
                return Ok(tally);
            }
            let chunk: Value = serde_json::from_str(&event.data)
                .map_err(|_| TurnEnd::Model("the model sent a chunk that is not JSON".into()))?;
            if let Some(msg) = in_band_error(&chunk) {
                return Err(TurnEnd::Model(format!("the model failed while answering: {msg}")));
            }
            tally.add_chunk(&chunk);
            let delta = &chunk["choices"][0]["delta"];
            if let Some(t) = delta["reasoning_content"].as_str().or_else(|| delta["reasoning"].as_str())
                && !t.is_empty()
            {
                conv.emit(EventType::Thinking, json!({"delta": t})).await;
            }
            if let Some(t) = delta["content"].as_str()
                && !t.is_empty()
            {
                conv.partial.push_str(t);
                conv.emit(EventType::Text, json!({"delta": t})).await;
            }
        }
    }
    // Ended without `[DONE]`: whole only if the model said it had finished.
    if tally.finish_reason.is_some() {
        Ok(tally)
    } else {
        Err(TurnEnd::Model("the model's answer was cut off".into()))
    }
}
