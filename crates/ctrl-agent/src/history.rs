//! A session's conversation in OpenAI's chat format, and what the loop asks the
//! model: pure functions over JSON values, tested without I/O.
//!
//! The model's API refuses an assistant message whose `tool_calls` lack a `tool`
//! answer each, so a turn cut short (an interrupt, a deadline, a daemon that
//! stopped) is closed by answering every dangling call with an error result.

use serde_json::{Value, json};

/// What a tool call cut short answers.
pub const INTERRUPTED: &str = "interrupted: the user stopped the turn before this tool ran or finished";

/// How many of the newest screenshots the model is sent; older ones become a note.
pub const KEEP_IMAGES: usize = 3;

/// A user's message.
pub fn user(content: &str) -> Value {
    json!({"role": "user", "content": content})
}

/// The model's answer: its text and the tools it calls (`(id, name, arguments)`).
pub fn assistant(content: &str, calls: &[(String, String, String)]) -> Value {
    let mut m = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        m["tool_calls"] = calls
            .iter()
            .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
            .collect();
    }
    m
}

/// A tool's answer to the call `id`.
pub fn tool(id: &str, content: &str) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": content})
}

/// A screenshot, given to the model as an image part of a user message (tool
/// messages carry text only in OpenAI's format).
pub fn image(call_id: &str, png_base64: &str) -> Value {
    json!({"role": "user", "content": [
        {"type": "text", "text": format!("The screenshot taken by tool call {call_id}:")},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png_base64}")}},
    ]})
}

/// The ids of tool calls of the last assistant message that have no answer yet.
pub fn dangling(history: &[Value]) -> Vec<String> {
    let Some(at) = history.iter().rposition(|m| m["role"] == "assistant") else { return Vec::new() };
    let answered: Vec<&str> = history[at + 1..]
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    history[at]["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .filter(|id| !answered.contains(id))
        .map(str::to_owned)
        .collect()
}

/// The body of one model call: the system prompt, the history (older screenshots
/// left out), the tools, streamed with usage.
pub fn request(model: &str, system: &str, history: &[Value], tools: &[Value]) -> Value {
    let images = history.iter().filter(|m| has_image(m)).count();
    let mut skip = images.saturating_sub(KEEP_IMAGES);
    let mut messages = Vec::with_capacity(history.len() + 1);
    messages.push(json!({"role": "system", "content": system}));
    for m in history {
        if skip > 0 && has_image(m) {
            skip -= 1;
            messages.push(json!({"role": "user", "content": "(an older screenshot, left out)"}));
        } else {
            messages.push(m.clone());
        }
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools.to_vec());
    }
    body
}

fn has_image(m: &Value) -> bool {
    m["content"].as_array().is_some_and(|parts| parts.iter().any(|p| p["type"] == "image_url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> (String, String, String) {
        (id.into(), "services_list".into(), "{}".into())
    }

    #[test]
    fn dangling_calls_are_those_without_an_answer() {
        let mut h = vec![user("hi"), assistant("", &[call("a"), call("b"), call("c")])];
        assert_eq!(dangling(&h), ["a", "b", "c"]);
        h.push(tool("b", "ok"));
        assert_eq!(dangling(&h), ["a", "c"]);
        h.push(tool("a", "ok"));
        h.push(tool("c", "ok"));
        assert!(dangling(&h).is_empty());
        h.push(assistant("done", &[]));
        assert!(dangling(&h).is_empty(), "a plain answer calls nothing");
        assert!(dangling(&[]).is_empty());
    }

    #[test]
    fn only_the_last_calls_can_dangle() {
        let h = vec![
            assistant("", &[call("old")]),
            tool("old", "ok"),
            user("next"),
            assistant("", &[call("new")]),
        ];
        assert_eq!(dangling(&h), ["new"]);
    }

    #[test]
    fn a_request_keeps_the_newest_screenshots_only() {
        let mut h = vec![user("look")];
        for i in 0..5 {
            h.push(image(&format!("c{i}"), "AAAA"));
        }
        let body = request("m", "sys", &h, &[json!({"type": "function"})]);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 7);
        assert_eq!(messages[0], json!({"role": "system", "content": "sys"}));
        let kept: Vec<bool> = messages[2..].iter().map(has_image).collect();
        assert_eq!(kept, [false, false, true, true, true]);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["tools"].as_array().map(Vec::len), Some(1));
        assert!(request("m", "s", &h, &[]).get("tools").is_none(), "no tools, no key");
    }

    #[test]
    fn an_answer_with_calls_lists_them_as_functions() {
        let m =
            assistant("let me look", &[("id1".into(), "logs_tail".into(), "{\"service\":\"web\"}".into())]);
        assert_eq!(m["tool_calls"][0]["function"]["name"], "logs_tail");
        assert_eq!(m["tool_calls"][0]["type"], "function");
        assert!(assistant("hi", &[]).get("tool_calls").is_none());
    }
}
