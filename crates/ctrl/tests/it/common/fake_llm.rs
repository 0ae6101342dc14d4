//! A fake OpenAI-compatible model server on 127.0.0.1, speaking the real wire
//! format: the one thing of the gateway's world that cannot run here is a
//! remote model. The model's name picks the behaviour (`fake-ok`, `fake-cut`,
//! …, see `steps`); a server made `healthy` answers every model as `fake-ok`
//! would, so it can stand behind a failing one. It keeps every request it got,
//! and counts the streams whose client went away before they ended.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub struct FakeLlm {
    /// Base URL, up to `/v1`.
    pub url: String,
    pub state: Arc<Fake>,
}

pub struct Fake {
    name: String,
    healthy: bool,
    /// Every request body, in order.
    pub requests: Mutex<Vec<Value>>,
    /// The headers of every request.
    pub headers: Mutex<Vec<HeaderMap>>,
    /// Streams dropped before their end (the client closed the connection).
    pub cancelled: AtomicUsize,
}

impl FakeLlm {
    pub async fn start(name: &str, healthy: bool) -> FakeLlm {
        let state = Arc::new(Fake {
            name: name.into(),
            healthy,
            requests: Mutex::default(),
            headers: Mutex::default(),
            cancelled: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/completions", post(legacy))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeLlm { url, state }
    }

    pub fn calls(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn last(&self) -> Value {
        self.state.requests.lock().unwrap().last().cloned().unwrap_or(Value::Null)
    }

    pub fn cancelled(&self) -> usize {
        self.state.cancelled.load(Ordering::SeqCst)
    }
}

/// Counts a stream as cancelled when it is dropped before its end.
struct Watch {
    fake: Arc<Fake>,
    ended: bool,
}

impl Watch {
    fn end(&mut self) {
        self.ended = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.ended {
            self.fake.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

enum Step {
    Data(String),
    Raw(&'static str),
    Sleep(Duration),
    Stall,
    Cut,
}

fn words(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.split_whitespace().count() as u64,
        Value::Array(a) => a.iter().map(words).sum(),
        Value::Object(o) => o.get("content").map_or(0, words),
        _ => 0,
    }
}

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .or_else(|| body["prompt"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn scenario<'a>(fake: &Fake, model: &'a str) -> &'a str {
    if fake.healthy { "ok" } else { model.strip_prefix("fake-").unwrap_or("ok") }
}

fn record(fake: &Fake, headers: HeaderMap, body: &Value) {
    fake.requests.lock().unwrap().push(body.clone());
    fake.headers.lock().unwrap().push(headers);
}

fn openai_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": "fake_error", "param": null, "code": null}})),
    )
        .into_response()
}

/// The answers that come before any body: errors and delays.
async fn before(scenario: &str) -> Option<Response> {
    match scenario {
        "429" => {
            let mut r = openai_error(StatusCode::TOO_MANY_REQUESTS, "slow down");
            r.headers_mut().insert("retry-after", "2".parse().unwrap());
            Some(r)
        }
        "500" => Some(openai_error(StatusCode::INTERNAL_SERVER_ERROR, "the model crashed")),
        "400" => Some(openai_error(StatusCode::BAD_REQUEST, "messages must not be empty")),
        "error200" => Some(axum::Json(json!({"error": {"message": "model not loaded"}})).into_response()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            None
        }
        _ => None,
    }
}

fn chunk(name: &str, model: &str, delta: Value, finish: Option<&str>) -> String {
    json!({"id": format!("chatcmpl-{name}"), "object": "chat.completion.chunk", "created": 1700000000,
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    .to_string()
}

async fn chat(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&fake, headers, &body);
    let model = body["model"].as_str().unwrap_or("").to_owned();
    let sc = scenario(&fake, &model).to_owned();
    if let Some(r) = before(&sc).await {
        return r;
    }
    if sc == "agent" {
        return agent(fake, &body, &model);
    }
    let prompt = words(&body["messages"]);
    let has_tool_result = body["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
    let text = if has_tool_result {
        "It is noon in UTC.".to_owned()
    } else {
        format!("Hello from {}: {}", fake.name, last_user(&body))
    };
    let pieces: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": pieces.len(), "total_tokens": prompt + pieces.len() as u64});
    let tools = sc == "tools" && !has_tool_result;
    if body["stream"] != true {
        let message = if tools {
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"UTC\"}"}}]})
        } else if sc == "reasoning" {
            json!({"role": "assistant", "content": text, "reasoning_content": "Think first."})
        } else {
            json!({"role": "assistant", "content": text})
        };
        let finish = if tools { "tool_calls" } else { "stop" };
        return axum::Json(json!({"id": format!("chatcmpl-{}", fake.name), "object": "chat.completion",
            "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}))
        .into_response();
    }
    let include_usage = body["stream_options"]["include_usage"] == true;
    let n = fake.name.clone();
    let mut steps = vec![Step::Data(chunk(&n, &model, json!({"role": "assistant", "content": ""}), None))];
    if tools {
        steps.push(Step::Data(chunk(&n, &model, json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": ""}}]}), None)));
        steps.push(Step::Data(chunk(&n, &model, json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_date", "arguments": "{\"tz\""}}]}), None)));
        steps.push(Step::Data(chunk(
            &n,
            &model,
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"tz\":"}}]}),
            None,
        )));
        steps.push(Step::Data(chunk(&n, &model, json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"UTC\"}"}}, {"index": 1, "function": {"arguments": ":\"UTC\"}"}}]}), None)));
        steps.push(Step::Data(chunk(&n, &model, json!({}), Some("tool_calls"))));
    } else {
        if sc == "reasoning" {
            steps.push(Step::Data(chunk(&n, &model, json!({"reasoning_content": "Think "}), None)));
            steps.push(Step::Data(chunk(&n, &model, json!({"reasoning_content": "first."}), None)));
        }
        for (i, p) in pieces.iter().enumerate() {
            if i == 2 {
                match sc.as_str() {
                    "stall" => steps.push(Step::Stall),
                    // What came before is flushed first (hyper drops unsent bytes when a body fails).
                    "cut" => steps.extend([Step::Sleep(Duration::from_millis(50)), Step::Cut]),
                    "malformed" => steps.push(Step::Raw("data: {\"choices\": [{\"delta\": \n\n")),
                    "error" => steps.push(Step::Data(
                        json!({"error": {"message": "the model is overloaded", "type": "overloaded_error"}})
                            .to_string(),
                    )),
                    _ => {}
                }
            }
            if sc == "slowstream" {
                steps.push(Step::Sleep(Duration::from_millis(30)));
            }
            steps.push(Step::Data(chunk(&n, &model, json!({"content": p}), None)));
        }
        steps.push(Step::Data(chunk(&n, &model, json!({}), Some("stop"))));
    }
    match sc.as_str() {
        "stall-first" => steps.insert(0, Step::Stall),
        "bad-first" => steps.insert(0, Step::Raw("data: not json\n\n")),
        _ => {}
    }
    if include_usage && sc != "nousage" {
        steps.push(Step::Data(
            json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk",
            "created": 1700000000, "model": model, "choices": [], "usage": usage})
            .to_string(),
        ));
    }
    if sc != "nodone" {
        steps.push(Step::Raw("data: [DONE]\n\n"));
    }
    sse(fake, steps)
}

fn sse(fake: Arc<Fake>, steps: Vec<Step>) -> Response {
    let watch = Watch { fake, ended: false };
    let stream =
        futures_util::stream::unfold((steps.into_iter(), watch), |(mut steps, mut watch)| async move {
            loop {
                match steps.next() {
                    None => {
                        watch.end();
                        return None;
                    }
                    Some(Step::Sleep(d)) => tokio::time::sleep(d).await,
                    Some(Step::Stall) => std::future::pending::<()>().await,
                    Some(Step::Cut) => {
                        watch.end();
                        return Some((Err(std::io::Error::other("cut")), (steps, watch)));
                    }
                    Some(Step::Raw(r)) => {
                        return Some((Ok(Bytes::from_static(r.as_bytes())), (steps, watch)));
                    }
                    Some(Step::Data(d)) => {
                        return Some((Ok(Bytes::from(format!("data: {d}\n\n"))), (steps, watch)));
                    }
                }
            }
        });
    Response::builder().header("content-type", "text/event-stream").body(Body::from_stream(stream)).unwrap()
}

async fn legacy(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&fake, headers, &body);
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if let Some(r) = before(scenario(&fake, &model)).await {
        return r;
    }
    let text = format!(" and so {} went on", fake.name);
    let prompt = words(&body["prompt"]);
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": 4, "total_tokens": prompt + 4});
    let piece = |t: &str, finish: Option<&str>| {
        json!({"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "text": t, "logprobs": null, "finish_reason": finish}]})
    };
    if body["stream"] != true {
        let mut v = piece(&text, Some("stop"));
        v["usage"] = usage;
        return axum::Json(v).into_response();
    }
    let mut steps: Vec<Step> =
        text.split_inclusive(' ').map(|p| Step::Data(piece(p, None).to_string())).collect();
    steps.push(Step::Data(piece("", Some("stop")).to_string()));
    if body["stream_options"]["include_usage"] == true {
        let mut u = piece("", None);
        u["choices"] = json!([]);
        u["usage"] = usage;
        steps.push(Step::Data(u.to_string()));
    }
    steps.push(Step::Raw("data: [DONE]\n\n"));
    sse(fake, steps)
}

async fn embeddings(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&fake, headers, &body);
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v: Vec<f64> = (0..8).map(|k| ((s.len() * 31 + k * 7) % 100) as f64 / 100.0).collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|s| s.split_whitespace().count() as u64).sum();
    axum::Json(json!({"object": "list", "data": data, "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
    .into_response()
}

async fn models(State(fake): State<Arc<Fake>>) -> Response {
    let ids = ["fake-ok", "fake-tools", &format!("{}-only", fake.name)].map(|id| id.to_string());
    let data: Vec<Value> =
        ids.iter().map(|id| json!({"id": id, "object": "model", "owned_by": fake.name})).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// `fake-agent`: a model scripted by the conversation's last user message, a JSON
/// array of steps, one per model call of the turn (the last repeats):
/// `{"think": …, "text": …, "times": N (the text so many times), "calls": [[name,
/// arguments], …], "gap_ms": …, "error": true, "cut": true}`. Text and reasoning come a word per chunk; the
/// calls come in parallel, each one's arguments split across two chunks.
fn agent(fake: Arc<Fake>, body: &Value, model: &str) -> Response {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let at = messages.iter().rposition(|m| m["role"] == "user" && m["content"].is_string()).unwrap_or(0);
    let script = messages.get(at).and_then(|m| m["content"].as_str()).unwrap_or("");
    let steps: Vec<Value> =
        serde_json::from_str(script).unwrap_or_else(|_| vec![json!({"text": format!("You said: {script}")})]);
    let iteration = messages[at..].iter().filter(|m| m["role"] == "assistant").count();
    let step = steps.get(iteration).or(steps.last()).cloned().unwrap_or(Value::Null);
    let gap = Duration::from_millis(step["gap_ms"].as_u64().unwrap_or(0));
    let n = "agent";
    let mut out = vec![Step::Data(chunk(n, model, json!({"role": "assistant", "content": ""}), None))];
    let mut push = |delta: Value| {
        if !gap.is_zero() {
            out.push(Step::Sleep(gap));
        }
        out.push(Step::Data(chunk(n, model, delta, None)));
    };
    for w in step["think"].as_str().unwrap_or("").split_inclusive(' ') {
        push(json!({"reasoning_content": w}));
    }
    let text = step["text"].as_str().unwrap_or("").repeat(step["times"].as_u64().unwrap_or(1) as usize);
    for w in text.split_inclusive(' ') {
        push(json!({"content": w}));
    }
    let calls = step["calls"].as_array().cloned().unwrap_or_default();
    for (i, c) in calls.iter().enumerate() {
        let name = c[0].as_str().unwrap_or("");
        push(
            json!({"tool_calls": [{"index": i, "id": format!("call_{iteration}_{i}"), "type": "function", "function": {"name": name, "arguments": ""}}]}),
        );
    }
    for half in 0..2 {
        for (i, c) in calls.iter().enumerate() {
            let args = c[1].as_str().unwrap_or("");
            let mid = args.len() / 2;
            let part = if half == 0 { &args[..mid] } else { &args[mid..] };
            push(json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}));
        }
    }
    if step["error"] == true {
        out.push(Step::Data(
            json!({"error": {"message": "the model is overloaded", "type": "overloaded_error"}}).to_string(),
        ));
        return sse(fake, out);
    }
    if step["cut"] == true {
        out.extend([Step::Sleep(Duration::from_millis(50)), Step::Cut]);
        return sse(fake, out);
    }
    let finish = if calls.is_empty() { "stop" } else { "tool_calls" };
    out.push(Step::Data(chunk(n, model, json!({}), Some(finish))));
    out.push(Step::Raw("data: [DONE]\n\n"));
    sse(fake, out)
}
