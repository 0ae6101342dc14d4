//! What an answer said, put together from its body or its stream: the text,
//! reasoning and tool calls for the interaction log, and the usage for accounting.

use serde_json::{Value, json};

use crate::call::{Endpoint, estimate_tokens};

/// Token counts an upstream reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt: u64,
    /// Completion tokens.
    pub completion: u64,
}

/// One tool call, its fragments merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    /// Its id (from the first fragment).
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments' JSON text, concatenated.
    pub arguments: String,
}

/// The answer so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    /// The text of the first choice.
    pub content: String,
    /// Its `reasoning_content`.
    pub reasoning: String,
    /// Its tool calls, by index.
    pub tool_calls: Vec<ToolCall>,
    /// Why it ended.
    pub finish_reason: Option<String>,
    /// What the upstream reported.
    pub usage: Option<Usage>,
    /// Embedding vectors returned.
    pub embeddings: usize,
}

/// Tokens of a call and whether they were counted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens.
    pub prompt: u64,
    /// Completion tokens.
    pub completion: u64,
    /// True when the upstream gave no usage.
    pub estimated: bool,
}

/// Token counts above this are an upstream's error: they are cut here, so that no sum
/// of them can overflow.
pub const MAX_TOKENS: u64 = 1_000_000_000;

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?.as_object()?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).map(|t| t.min(MAX_TOKENS));
    let prompt = n("prompt_tokens").or_else(|| n("input_tokens"));
    let completion = n("completion_tokens").or_else(|| n("output_tokens"));
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    Some(Usage { prompt: prompt.unwrap_or(0), completion: completion.unwrap_or(0) })
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl Tally {
    /// The tally of a whole (non-streamed) answer.
    pub fn of_body(endpoint: Endpoint, body: &Value) -> Tally {
        let mut t = Tally { usage: usage_of(body), ..Tally::default() };
        if endpoint == Endpoint::Embeddings {
            t.embeddings = body.get("data").and_then(Value::as_array).map_or(0, Vec::len);
            return t;
        }
        if let Some(c) = body.get("choices").and_then(Value::as_array).and_then(|c| c.first()) {
            t.finish_reason = text(c, "finish_reason").map(str::to_owned);
            match c.get("message") {
                Some(m) => t.add_delta(m),
                None => t.content.push_str(text(c, "text").unwrap_or("")),
            }
        }
        t
    }

    /// Adds one streamed chunk.
    pub fn add_chunk(&mut self, chunk: &Value) {
        if let Some(u) = usage_of(chunk) {
            self.usage = Some(u);
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else { return };
        for c in choices.iter().filter(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0) {
            if let Some(r) = text(c, "finish_reason") {
                self.finish_reason = Some(r.to_owned());
            }
            match c.get("delta") {
                Some(d) => self.add_delta(d),
                None => self.content.push_str(text(c, "text").unwrap_or("")),
            }
        }
    }

    /// A message or a delta: text, reasoning, tool-call fragments merged by index.
    fn add_delta(&mut self, d: &Value) {
        self.content.push_str(text(d, "content").unwrap_or(""));
        self.reasoning.push_str(text(d, "reasoning_content").or_else(|| text(d, "reasoning")).unwrap_or(""));
        let Some(calls) = d.get("tool_calls").and_then(Value::as_array) else { return };
        for (pos, call) in calls.iter().enumerate() {
            let i = call.get("index").and_then(Value::as_u64).map_or(pos, |i| i as usize).min(127);
            if self.tool_calls.len() <= i {
                self.tool_calls.resize(i + 1, ToolCall::default());
            }
            let slot = &mut self.tool_calls[i];
            if let Some(id) = text(call, "id") {
                slot.id = id.to_owned();
            }
            if let Some(f) = call.get("function") {
                if let Some(n) = text(f, "name") {
                    slot.name.push_str(n);
                }
                slot.arguments.push_str(text(f, "arguments").unwrap_or(""));
            }
        }
    }

    /// Tokens: the upstream's, else counted from the prompt's and the answer's characters.
    pub fn tokens(&self, prompt_chars: usize) -> Tokens {
        match self.usage {
            Some(u) => Tokens { prompt: u.prompt, completion: u.completion, estimated: false },
            None => {
                let answer = self.content.chars().count()
                    + self.reasoning.chars().count()
                    + self.tool_calls.iter().map(|c| c.name.len() + c.arguments.len()).sum::<usize>();
                Tokens {
                    prompt: estimate_tokens(prompt_chars),
                    completion: estimate_tokens(answer),
                    estimated: true,
                }
            }
        }
    }

    /// The answer as the interaction log keeps it.
    pub fn summary(&self) -> Value {
        let mut v = json!({ "content": self.content, "finish_reason": self.finish_reason });
        if !self.reasoning.is_empty() {
            v["reasoning_content"] = json!(self.reasoning);
        }
        if !self.tool_calls.is_empty() {
            v["tool_calls"] = self
                .tool_calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
        }
        if self.embeddings > 0 {
            v = json!({ "embeddings": self.embeddings });
        }
        v
    }
}

/// The upstream's error inside a stream (`data: {"error": …}`), as a message.
pub fn in_band_error(chunk: &Value) -> Option<String> {
    let e = chunk.get("error")?;
    if e.is_null() {
        return None;
    }
    Some(e.get("message").and_then(Value::as_str).map_or_else(|| e.to_string(), str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_fragments_merge_by_index() {
        let mut t = Tally::default();
        for c in [
            json!({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_time","arguments":""}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"ls","arguments":"{\"p\":"}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"tz\":"}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"UTC\"}"}},{"index":1,"function":{"arguments":"1}"}}]}}]}),
            json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
            json!({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}),
        ] {
            t.add_chunk(&c);
        }
        assert_eq!(t.tool_calls.len(), 2);
        assert_eq!(t.tool_calls[0].id, "call_1");
        assert_eq!(t.tool_calls[0].arguments, "{\"tz\":\"UTC\"}");
        assert_eq!(t.tool_calls[1].arguments, "{\"p\":1}");
        assert_eq!(t.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(t.tokens(100), Tokens { prompt: 12, completion: 7, estimated: false });
    }

    #[test]
    fn without_usage_tokens_are_estimated() {
        let mut t = Tally::default();
        t.add_chunk(
            &json!({"choices":[{"index":0,"delta":{"content":"abcdefgh","reasoning_content":"ijkl"}}]}),
        );
        t.add_chunk(&json!({"choices":null,"usage":null}));
        assert_eq!(t.tokens(9), Tokens { prompt: 3, completion: 3, estimated: true });
        assert_eq!(t.summary()["reasoning_content"], "ijkl");
    }

    #[test]
    fn whole_answers_of_each_route() {
        let chat = json!({"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}});
        let t = Tally::of_body(Endpoint::Chat, &chat);
        assert_eq!((t.content.as_str(), t.usage), ("hi", Some(Usage { prompt: 3, completion: 1 })));
        let legacy =
            json!({"object":"text_completion","choices":[{"index":0,"text":"yo","finish_reason":"length"}]});
        assert_eq!(Tally::of_body(Endpoint::Completions, &legacy).content, "yo");
        let emb = json!({"data":[{"embedding":[0.1]},{"embedding":[0.2]}],"usage":{"prompt_tokens":4,"total_tokens":4}});
        let t = Tally::of_body(Endpoint::Embeddings, &emb);
        assert_eq!(t.summary(), json!({"embeddings": 2}));
        assert_eq!(t.tokens(0), Tokens { prompt: 4, completion: 0, estimated: false });
    }

    #[test]
    fn errors_in_a_stream_are_found() {
        assert_eq!(in_band_error(&json!({"error":{"message":"overloaded"}})).as_deref(), Some("overloaded"));
        assert_eq!(in_band_error(&json!({"choices":[]})), None);
        assert_eq!(in_band_error(&json!({"error":null})), None);
    }
}
