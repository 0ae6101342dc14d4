//! Agent sessions against a real daemon, its model a scripted fake upstream
//! behind the real gateway (`fake-agent`: the user's message is the script):
//! streamed text and reasoning, parallel tool calls split across chunks, tools
//! acting through the API with the asker's role, unknown tools and bad
//! arguments, the iteration cap, errors mid-stream, the queue, interrupts,
//! replays over SSE and WebSocket, ownership and bad input.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::Daemon;
use crate::common::fake_llm::FakeLlm;
use crate::common::http::{Api, Sse, assert_failure, eventually};

const LIMIT: Duration = Duration::from_secs(20);

/// A daemon with a service `web`, an action `nap` (sleeps) and `[agent]` on `fake-agent`.
async fn daemon(agent: &str) -> (Daemon, FakeLlm) {
    daemon_on("", agent).await
}

async fn daemon_on(before: &str, agent: &str) -> (Daemon, FakeLlm) {
    let tools = if agent.contains("tools =") {
        ""
    } else {
        "tools = [\"services\", \"stats\", \"logs\", \"actions\"]\n"
    };
    let model = FakeLlm::start("model", false).await;
    let config = format!(
        "{before}\n[services.web]\ncommand = [\"sh\", \"-c\", \"echo web is up; exec sleep 1000\"]\n\n\
         [actions.nap]\ncommand = [\"sleep\", \"30\"]\n\n\
         [llm]\ntimeout = \"5s\"\nidle_timeout = \"5s\"\n[llm.upstreams.fake]\nurl = \"{}\"\nmodels = [\"fake-*\"]\n\n\
         [agent]\nmodel = \"fake-agent\"\nmax_iterations = 3\n{tools}{agent}\n",
        model.url
    );
    let d = tokio::task::spawn_blocking(move || {
        let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
        let path = dir.path().join("ctrl.toml");
        std::fs::write(
            &path,
            format!("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n{config}"),
        )
        .unwrap();
        crate::common::add_user(&path, "ann", "admin", "ann-secret-1");
        Daemon::adopt(dir, path)
    })
    .await
    .unwrap();
    d.wait_status("web", "running", LIMIT);
    (d, model)
}

async fn new_session(api: &Api<'_>) -> i64 {
    let (status, body) = api.send_json(reqwest::Method::POST, "/api/sessions", &json!({"title": "t"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["status"], "idle");
    body["data"]["id"].as_i64().unwrap()
}

/// Posts a script; answers its queue position.
async fn say(api: &Api<'_>, id: i64, script: &Value) -> u64 {
    let (status, body) = api
        .send_json(
            reqwest::Method::POST,
            &format!("/api/sessions/{id}/messages"),
            &json!({"content": script.to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["data"]["position"].as_u64().unwrap()
}

/// Events after `after` until the turn ends (a status other than running); all of them.
async fn turn(d: &Daemon, id: i64, after: i64) -> Vec<Value> {
    let mut sse = Sse::open(d, &format!("/api/sessions/{id}/events?after={after}")).await;
    let mut out = Vec::new();
    loop {
        let (name, ev) = sse.next().await.expect("the stream goes on until the turn ends");
        assert_eq!(ev["type"], name.as_str(), "the SSE event name is the type");
        out.push(ev.clone());
        if ev["type"] == "status" && ev["data"]["status"] != "running" {
            return out;
        }
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn deltas(events: &[Value], kind: &str) -> String {
    of_type(events, kind).iter().map(|e| e["data"]["delta"].as_str().unwrap().to_owned()).collect()
}

/// Every tool call of the history has its answer, right after its assistant message.
fn assert_valid_history(messages: &[Value]) {
    for (i, m) in messages.iter().enumerate() {
        let Some(calls) = m["message"]["tool_calls"].as_array() else { continue };
        let answers: Vec<&str> = messages[i + 1..]
            .iter()
            .take_while(|n| n["role"] == "tool")
            .map(|n| n["message"]["tool_call_id"].as_str().unwrap())
            .collect();
        let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(answers, ids, "every call answered, in order: {messages:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_streams_text_and_reasoning_and_runs_parallel_tool_calls_as_the_asker() {
    let (d, model) = daemon("").await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    let script = json!([
        {"think": "Let me check the service.", "text": "Looking at web.",
         "calls": [["services_status", "{\"name\":\"web\"}"], ["logs_tail", "{\"service\":\"web\",\"lines\":5}"]]},
        {"text": "web is running and says it is up."}
    ]);
    assert_eq!(say(&api, id, &script).await, 0, "an idle session takes the message at once");
    let events = turn(&d, id, 0).await;

    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "seq rises by one from 1");
    assert!(events.iter().all(|e| e["session_id"] == id));
    assert_eq!(events[0]["data"]["status"], "running");
    assert_eq!(events[0]["data"]["message"]["content"], script.to_string());
    assert_eq!(deltas(&events, "thinking"), "Let me check the service.");
    assert_eq!(deltas(&events, "text"), "Looking at web.web is running and says it is up.");
    assert!(of_type(&events, "text").len() > 3, "text comes as the model writes it, a word at a time");

    let uses = of_type(&events, "tool_use");
    assert_eq!(uses.len(), 2);
    assert_eq!(uses[0]["data"]["name"], "services_status");
    assert_eq!(uses[0]["data"]["arguments"], "{\"name\":\"web\"}", "split arguments are joined");
    assert_eq!(uses[1]["data"]["arguments"], "{\"service\":\"web\",\"lines\":5}");
    let results = of_type(&events, "tool_result");
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["data"]["ok"] == true), "{results:?}");
    let status: Value = serde_json::from_str(results[0]["data"]["content"].as_str().unwrap()).unwrap();
    assert_eq!((status["name"].as_str(), status["status"].as_str()), (Some("web"), Some("running")));
    assert!(results[1]["data"]["content"].as_str().unwrap().contains("web is up"), "{:?}", results[1]);
    assert_eq!(events.last().unwrap()["data"]["status"], "idle");

    // The model's second call saw both answers, in OpenAI's format.
    assert_eq!(model.calls(), 2);
    let second = model.last();
    let msgs = second["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    let tools: Vec<&Value> = msgs.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["tool_call_id"], "call_0_0");
    assert!(second["tools"].as_array().unwrap().iter().any(|t| t["function"]["name"] == "services_stop"));

    // The history is stored whole and valid; the session shows it.
    let history = api.data(&format!("/api/sessions/{id}/messages")).await;
    let roles: Vec<&str> = history.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool", "assistant"]);
    assert_valid_history(history.as_array().unwrap());
    let s = api.data(&format!("/api/sessions/{id}")).await;
    assert_eq!((s["messages"].as_u64(), s["last_seq"].as_i64()), (Some(5), Some(events.len() as i64)));

    // Tool calls are audited as the asker; the model's usage is the gateway's, under "agent:<asker>".
    let audit = api.data("/api/audit?limit=50").await;
    let tool_rows: Vec<&Value> =
        audit.as_array().unwrap().iter().filter(|a| a["action"] == "agent_tool").collect();
    assert_eq!(tool_rows.len(), 2, "{audit}");
    assert!(
        tool_rows.iter().all(|a| a["actor"] == "token:initial" && a["target"] == format!("session:{id}"))
    );
    let usage = eventually("the agent's usage", LIMIT, || async {
        let rows = api.data("/api/llm/usage?group_by=service").await;
        rows.as_array()?.iter().find(|r| r["service"] == "agent:token:initial" && r["calls"] == 2).cloned()
    })
    .await;
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tool_calls_come_back_as_errors_and_an_endless_loop_stops_at_the_cap() {
    let (d, _model) = daemon("").await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    let script = json!([
        {"calls": [["rm_rf", "{}"], ["services_status", "{\"name\": "], ["services_status", "{\"name\":\"../reload\"}"],
                   ["services_status", "{\"name\":\"nosuch\"}"]]},
        {"text": "Sorry."}
    ]);
    say(&api, id, &script).await;
    let events = turn(&d, id, 0).await;
    let results = of_type(&events, "tool_result");
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r["data"]["ok"] == false), "{results:?}");
    let texts: Vec<&str> = results.iter().map(|r| r["data"]["content"].as_str().unwrap()).collect();
    assert!(texts[0].contains("no tool 'rm_rf'") && texts[0].contains("services_stop"), "{}", texts[0]);
    assert!(texts[1].contains("not JSON"), "{}", texts[1]);
    assert!(texts[2].contains("is not a name"), "{}", texts[2]);
    assert!(texts[3].contains("refused (404)"), "{}", texts[3]);
    assert_eq!(events.last().unwrap()["data"]["status"], "idle", "the loop went on to the answer");

    // A model that never stops calling tools is stopped after max_iterations (3) calls.
    let last = events.last().unwrap()["seq"].as_i64().unwrap();
    say(&api, id, &json!([{"calls": [["stats_now", "{}"]]}])).await;
    let events = turn(&d, id, last).await;
    assert_eq!(of_type(&events, "tool_use").len(), 3);
    let error = of_type(&events, "error");
    assert_eq!(error.len(), 1);
    assert!(error[0]["data"]["message"].as_str().unwrap().contains("max_iterations"), "{error:?}");
    assert_eq!(events.last().unwrap()["data"]["status"], "error");
    assert_eq!(api.data(&format!("/api/sessions/{id}")).await["status"], "error");

    // A model that fails mid-stream: an error event, and the session stays usable.
    let last = events.last().unwrap()["seq"].as_i64().unwrap();
    say(&api, id, &json!([{"text": "one two three", "error": true}])).await;
    let events = turn(&d, id, last).await;
    let error = of_type(&events, "error");
    assert!(error[0]["data"]["message"].as_str().unwrap().contains("overloaded"), "{error:?}");
    let last = events.last().unwrap()["seq"].as_i64().unwrap();
    say(&api, id, &json!([{"text": "fine again"}])).await;
    let events = turn(&d, id, last).await;
    assert_eq!(deltas(&events, "text"), "fine again");
    assert_eq!(events.last().unwrap()["data"]["status"], "idle");
    let history = api.data(&format!("/api/sessions/{id}/messages")).await;
    assert_valid_history(history.as_array().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewers_session_cannot_stop_a_service() {
    let (d, _model) = daemon("").await;
    let out = d.ok(&["token", "create", "--name", "vee", "--role", "viewer"]);
    let viewer = Api { token: out.trim().to_owned(), ..Api::new(&d) };
    let id = new_session(&viewer).await;
    say(
        &viewer,
        id,
        &json!([{"calls": [["services_stop", "{\"name\":\"web\"}"]]}, {"text": "I could not."}]),
    )
    .await;
    let events = turn(&d, id, 0).await;
    let result = of_type(&events, "tool_result")[0];
    assert_eq!(result["data"]["ok"], false);
    let text = result["data"]["content"].as_str().unwrap();
    assert!(text.contains("refused (403)") && text.contains("viewer"), "{text}");
    assert_eq!(d.service("web")["status"], "running", "nothing stopped");
    let api = Api::new(&d);
    let audit = api.data("/api/audit?limit=50").await;
    assert!(
        audit.as_array().unwrap().iter().any(|a| a["action"] == "forbidden" && a["actor"] == "token:vee"),
        "the refusal is audited as the viewer: {audit}"
    );
    // Calls cost money: a viewer's sessions use the configured model.
    let (status, body) =
        viewer.send_json(reqwest::Method::POST, "/api/sessions", &json!({"model": "fake-pricey"})).await;
    assert_failure(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // Sessions are their owner's: a viewer sees its own, an admin all.
    let (status, body) = viewer.get("/api/sessions").await;
    assert_eq!((status, body["data"].as_array().unwrap().len()), (StatusCode::OK, 1));
    let mine = new_session(&api).await;
    let (status, body) = viewer.get(&format!("/api/sessions/{mine}")).await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = viewer
        .send_json(
            reqwest::Method::POST,
            &format!("/api/sessions/{mine}/messages"),
            &json!({"content": "hi"}),
        )
        .await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(api.data("/api/sessions").await.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queue_in_order_and_an_interrupt_stops_the_turn_at_once() {
    let (d, model) = daemon("").await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    let slow = json!([{"text": "word ".repeat(200), "gap_ms": 20}]);
    assert_eq!(say(&api, id, &slow).await, 0);
    let mut sse = Sse::open(&d, &format!("/api/sessions/{id}/events")).await;
    loop {
        let (name, _) = sse.next().await.unwrap();
        if name == "text" {
            break;
        }
    }
    assert_eq!(say(&api, id, &json!([{"text": "second"}])).await, 1, "it waits behind the running turn");
    assert_eq!(say(&api, id, &json!([{"text": "third"}])).await, 2);
    let asked = std::time::Instant::now();
    let (status, body) = api.post(&format!("/api/sessions/{id}/interrupt")).await;
    assert_eq!((status, body["data"]["interrupted"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    loop {
        let (name, ev) = sse.next().await.unwrap();
        if name == "status" {
            assert_eq!(ev["data"]["status"], "interrupted");
            assert_eq!(ev["data"]["dropped"], 2, "queued messages are dropped with the turn");
            break;
        }
    }
    assert!(asked.elapsed() < Duration::from_secs(1), "stopped within a second: {:?}", asked.elapsed());
    eventually("the upstream stream to be closed", LIMIT, || async {
        (model.cancelled() == 1).then_some(())
    })
    .await;
    // What the model had written is kept as its answer.
    let history = api.data(&format!("/api/sessions/{id}/messages")).await;
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "assistant");
    assert!(last["message"]["content"].as_str().unwrap().starts_with("word "), "{history}");

    // Queued messages run one after another, in order.
    let s = api.data(&format!("/api/sessions/{id}")).await;
    let after = s["last_seq"].as_i64().unwrap();
    assert_eq!(say(&api, id, &json!([{"text": "one two three four five six", "gap_ms": 30}])).await, 0);
    assert_eq!(say(&api, id, &json!([{"text": "second"}])).await, 1);
    let first = turn(&d, id, after).await;
    let second = turn(&d, id, first.last().unwrap()["seq"].as_i64().unwrap()).await;
    assert_eq!(deltas(&first, "text"), "one two three four five six");
    assert_eq!(deltas(&second, "text"), "second");

    // An interrupt during a tool: its call is answered "interrupted"; the next turn is valid.
    let after = second.last().unwrap()["seq"].as_i64().unwrap();
    say(
        &api,
        id,
        &json!([{"calls": [["actions_run", "{\"name\":\"nap\"}"], ["stats_now", "{}"]]}, {"text": "ok"}]),
    )
    .await;
    let mut sse = Sse::open(&d, &format!("/api/sessions/{id}/events?after={after}")).await;
    loop {
        let (name, _) = sse.next().await.unwrap();
        if name == "tool_use" {
            break;
        }
    }
    api.post(&format!("/api/sessions/{id}/interrupt")).await;
    let mut results = Vec::new();
    loop {
        let (name, ev) = sse.next().await.unwrap();
        if name == "tool_result" {
            results.push(ev);
        } else if name == "status" {
            break;
        }
    }
    assert_eq!(results.len(), 2, "both calls answered: {results:?}");
    assert!(results.iter().all(|r| r["data"]["content"].as_str().unwrap().starts_with("interrupted")));
    // The job the interrupted tool started is cancelled with it.
    eventually("the nap job to be cancelled", LIMIT, || async {
        let jobs = api.data("/api/jobs").await;
        let nap = jobs.as_array()?.iter().find(|j| j["action"] == "nap")?.clone();
        (nap["status"] == "cancelled").then_some(())
    })
    .await;
    let history = api.data(&format!("/api/sessions/{id}/messages")).await;
    assert_valid_history(history.as_array().unwrap());
    let s = api.data(&format!("/api/sessions/{id}")).await;
    say(&api, id, &json!([{"text": "still here"}])).await;
    let events = turn(&d, id, s["last_seq"].as_i64().unwrap()).await;
    assert_eq!(deltas(&events, "text"), "still here");
}

/// A WebSocket to a session's events, with the daemon's token.
async fn socket(
    d: &Daemon,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{}{path}", d.api_addr()).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", d.token()).parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_dropped_twenty_times_mid_stream_loses_and_repeats_nothing() {
    let (d, _model) = daemon("").await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    say(&api, id, &json!([{"text": "w ".repeat(400), "gap_ms": 4}])).await;
    let mut got: Vec<Value> = Vec::new();
    let mut last = 0;
    for round in 0..20 {
        let mut ws = socket(&d, &format!("/ws/{id}?after={last}")).await;
        // Each connection takes a few events and is dropped without a goodbye.
        for _ in 0..(3 + round % 5) {
            let ev = next_json(&mut ws).await;
            last = ev["seq"].as_i64().unwrap();
            got.push(ev);
        }
        drop(ws);
    }
    let mut ws = socket(&d, &format!("/ws/{id}?after={last}")).await;
    loop {
        let ev = next_json(&mut ws).await;
        got.push(ev.clone());
        if ev["type"] == "status" && ev["data"]["status"] != "running" {
            break;
        }
    }
    // What came equals what is stored, as a fresh replay from the start gives it.
    let mut fresh = socket(&d, &format!("/ws/{id}")).await;
    let mut stored = Vec::new();
    while stored.len() < got.len() {
        stored.push(next_json(&mut fresh).await);
    }
    let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=got.len() as i64).collect::<Vec<_>>(), "0 lost, 0 repeated");
    assert_eq!(got, stored);
    assert_eq!(api.data(&format!("/api/sessions/{id}")).await["last_seq"], got.len() as i64);

    // A message over the socket starts a turn; garbage gets an error and the socket stays.
    fresh.send(Message::Text("not json".into())).await.unwrap();
    let error = next_json(&mut fresh).await;
    assert_eq!(error["type"], "error");
    assert!(error.get("seq").is_none(), "said to this client only");
    fresh
        .send(Message::Text(
            json!({"type": "message", "content": "[{\"text\": \"hi back\"}]"}).to_string().into(),
        ))
        .await
        .unwrap();
    let mut texts = String::new();
    loop {
        let ev = next_json(&mut fresh).await;
        if ev["type"] == "text" {
            texts.push_str(ev["data"]["delta"].as_str().unwrap());
        }
        if ev["type"] == "status" && ev["data"]["status"] == "idle" {
            break;
        }
    }
    assert_eq!(texts, "hi back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_from_last_event_id_and_bad_input_is_refused() {
    let (d, _model) = daemon("").await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    say(&api, id, &json!([{"text": "a b c d e f"}])).await;
    let all = turn(&d, id, 0).await;
    // Last-Event-ID wins over ?after and resumes after it.
    let res = reqwest::Client::new()
        .get(d.url(&format!("/api/sessions/{id}/events?after=1")))
        .bearer_auth(d.token())
        .header("last-event-id", "4")
        .send()
        .await
        .unwrap();
    let mut body = res.bytes_stream();
    let first = tokio::time::timeout(LIMIT, body.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("id: 5\n"), "{text}");
    // An `after` past the last event: live events only.
    let last = all.last().unwrap()["seq"].as_i64().unwrap();
    let mut sse = Sse::open(&d, &format!("/api/sessions/{id}/events?after={}", last + 1000)).await;
    say(&api, id, &json!([{"text": "next"}])).await;
    let (_, ev) = sse.next().await.unwrap();
    assert_eq!(ev["seq"], last + 1, "the next event, not nothing for a thousand seqs");

    // A deleted session is gone, with everything in it.
    let (status, _) = api.call(reqwest::Method::DELETE, &format!("/api/sessions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api
        .send_json(reqwest::Method::POST, &format!("/api/sessions/{id}/messages"), &json!({"content": "hi"}))
        .await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api.get(&format!("/api/sessions/{id}/messages")).await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    let other = new_session(&api).await;
    for bad in [json!({"content": ""}), json!({"content": "x".repeat(40_000)}), json!({"text": "hi"})] {
        let (status, body) =
            api.send_json(reqwest::Method::POST, &format!("/api/sessions/{other}/messages"), &bad).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{bad}: {body}"
        );
        assert_eq!(body["success"], false);
    }
    let (status, body) =
        api.send_json(reqwest::Method::POST, "/api/sessions", &json!({"title": "x".repeat(300)})).await;
    assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let (status, body) = api.get("/api/sessions/notanumber").await;
    assert_failure(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_live_on_postgresql_and_across_a_restart() {
    let url = ctrl_store::testing::postgres().await;
    let (mut d, _model) = daemon_on(&format!("[storage]\nurl = \"{url}\"\n"), "").await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    say(&api, id, &json!([{"calls": [["stats_now", "{}"]]}, {"text": "done"}])).await;
    let before = turn(&d, id, 0).await;
    drop(api);
    let d = tokio::task::spawn_blocking(move || {
        d.stop();
        d.up();
        d
    })
    .await
    .unwrap();
    let api = Api::new(&d);
    let mut sse = Sse::open(&d, &format!("/api/sessions/{id}/events")).await;
    for want in &before {
        let (_, ev) = sse.next().await.unwrap();
        assert_eq!(&ev, want, "the replay after a restart is what was sent");
    }
    say(&api, id, &json!([{"text": "again"}])).await;
    let events = turn(&d, id, before.len() as i64).await;
    assert_eq!(deltas(&events, "text"), "again");
    assert_eq!(events[0]["seq"], before.len() as i64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_computer_tool_drives_a_real_x_display() {
    use crate::common::desktop::{Desktop, HEIGHT, WIDTH};
    let desktop = tokio::task::spawn_blocking(Desktop::start).await.unwrap();
    let agent = format!("[agent.computer]\ndisplay = \"{}\"\n", desktop.display);
    let (d, model) =
        daemon(&agent.replace("[agent.computer]", "tools = [\"computer\"]\n[agent.computer]")).await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    let script = json!([
        {"calls": [["computer_move", "{\"x\":100,\"y\":50}"], ["computer_screenshot", "{}"],
                   ["computer_type", "{\"text\":\"hello; rm -rf /\"}"], ["computer_key", "{\"keys\":\"\"}"]]},
        {"text": "I see the desktop."}
    ]);
    say(&api, id, &script).await;
    let events = turn(&d, id, 0).await;
    let results = of_type(&events, "tool_result");
    assert_eq!(
        results.iter().map(|r| r["data"]["ok"] == true).collect::<Vec<_>>(),
        [true, true, true, false],
        "{results:?}"
    );
    let location = desktop.xdotool(&["getmouselocation"]);
    assert!(location.starts_with("x:100 y:50 "), "{location}");
    let image = results[1]["data"]["image"].as_str().unwrap();
    let png = base64_decode(image.strip_prefix("data:image/png;base64,").unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let size = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!(size, (WIDTH, HEIGHT));
    // The model got the screenshot as an image part after the tool answers.
    let second = model.last();
    let parts =
        second["messages"].as_array().unwrap().iter().find(|m| m["content"].is_array()).unwrap().clone();
    assert!(
        parts["content"][1]["image_url"]["url"].as_str().unwrap().starts_with("data:image/png;base64,iVBOR")
    );
    // A viewer's session cannot use it.
    let out = d.ok(&["token", "create", "--name", "vee", "--role", "viewer"]);
    let viewer = Api { token: out.trim().to_owned(), ..Api::new(&d) };
    let id = new_session(&viewer).await;
    say(&viewer, id, &json!([{"calls": [["computer_move", "{\"x\":5,\"y\":5}"]]}, {"text": "no"}])).await;
    let events = turn(&d, id, 0).await;
    let refused = of_type(&events, "tool_result")[0];
    assert!(refused["data"]["content"].as_str().unwrap().contains("refused (403)"), "{refused}");
    assert!(desktop.xdotool(&["getmouselocation"]).starts_with("x:100 y:50 "), "the pointer did not move");
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// `ctrl chat` with `input` on its stdin (not a terminal): its exit status and stdout.
fn chat_cli(d: &Daemon, args: &[&str], input: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::common::BIN)
        .arg("chat")
        .args(args)
        .arg("--config")
        .arg(&d.config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = crate::common::wait("ctrl chat to end", LIMIT, || child.try_wait().unwrap()).success();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    (out, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_chats_lists_shows_and_deletes_sessions() {
    let (d, _model) = daemon("").await;
    let script =
        json!([{"think": "hm", "calls": [["services_status", "{\"name\":\"web\"}"]]}, {"text": "web runs."}]);
    let d = tokio::task::spawn_blocking(move || {
        let (ok, out) = chat_cli(&d, &["--title", "from the cli"], &format!("{script}\n"));
        assert!(ok, "{out}");
        assert!(out.contains("(thinking) hm"), "{out}");
        assert!(out.contains("→ services_status {\"name\":\"web\"}"), "{out}");
        assert!(out.contains("← ok: {"), "{out}");
        assert!(out.trim_end().ends_with("web runs."), "{out}");
        // A failed turn makes the exit status non-zero.
        let (ok, out) = chat_cli(&d, &["1"], "[{\"text\": \"x\", \"error\": true}]\n");
        assert!(!ok, "{out}");
        assert!(out.contains("error: the model failed while answering"), "{out}");
        let list: Value = serde_json::from_str(&d.ok(&["sessions", "--json"])).unwrap();
        assert_eq!(list[0]["title"], "from the cli");
        assert_eq!(list[0]["status"], "error");
        let shown = d.ok(&["sessions", "show", "1"]);
        assert!(shown.contains("→ services_status") && shown.contains("web runs."), "{shown}");
        assert!(d.ok(&["sessions", "rm", "1"]).contains("deleted session 1"));
        let gone = d.ctl(&["sessions", "show", "1"]);
        assert!(!gone.status.success());
        assert!(String::from_utf8_lossy(&gone.stderr).contains("no session 1"));
        d
    })
    .await
    .unwrap();
    drop(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_run_to_their_end_and_knowledge_is_searched() {
    let dir = tempfile::Builder::new().prefix("ctrl-notes-").tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keeper")).unwrap();
    std::fs::write(
        dir.path().join("keeper/wombats.md"),
        "---\ntitle: Wombat care\n---\nWombats eat grass.\n",
    )
    .unwrap();
    let before = format!(
        "[knowledge]\nroots = [\"{}\"]\nwatch = false\n\n[actions.greet]\ncommand = [\"printf\", \"hello %s\\n\", \"{{who}}\"]\nparams.who = {{ type = \"string\" }}\n\n\
         [actions.wipe]\ncommand = [\"true\"]\nconfirm = true\n",
        dir.path().display()
    );
    let (d, _model) =
        daemon_on(&before, "tools = [\"actions\", \"knowledge\"]\nactions = [\"greet\", \"wipe\"]\n").await;
    let api = Api::new(&d);
    eventually("the first scan", LIMIT, || async {
        (api.data("/api/knowledge/stats").await["files"] == 1).then_some(())
    })
    .await;
    let id = new_session(&api).await;
    let script = json!([
        {"calls": [["actions_run", "{\"name\":\"greet\",\"params\":{\"who\":\"agent\"}}"], ["actions_run", "{\"name\":\"nap\"}"],
                   ["actions_run", "{\"name\":\"wipe\"}"], ["knowledge_search", "{\"q\":\"wombats\"}"], ["actions_list", "{}"]]},
        {"text": "done"}
    ]);
    say(&api, id, &script).await;
    let events = turn(&d, id, 0).await;
    let results = of_type(&events, "tool_result");
    let text = |i: usize| results[i]["data"]["content"].as_str().unwrap().to_owned();
    let greet: Value = serde_json::from_str(&text(0)).unwrap();
    assert_eq!(greet["job"]["status"], "succeeded", "{greet}");
    assert!(greet["output"].to_string().contains("hello agent"), "{greet}");
    assert!(text(1).contains("not one the agent may run"), "{}", text(1));
    assert!(
        !results[2]["data"]["ok"].as_bool().unwrap() && text(2).contains("refused"),
        "confirmations are not the agent's: {}",
        text(2)
    );
    let hits: Value = serde_json::from_str(&text(3)).unwrap();
    assert_eq!(hits["hits"][0]["title"], "Wombat care", "{hits}");
    let listed: Value = serde_json::from_str(&text(4)).unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["greet", "wipe"], "only the allowed actions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_reads_nothing_holds_up_neither_the_loop_nor_the_others() {
    let (d, _model) = daemon("").await;
    let api = Api::new(&d);
    let id = new_session(&api).await;
    // Connected, then never read: its socket's buffers fill within the turn.
    let stuck = socket(&d, &format!("/ws/{id}")).await;
    let words = 50_000;
    say(&api, id, &json!([{"text": "word ", "times": words}])).await;
    let events = turn(&d, id, 0).await;
    assert_eq!(of_type(&events, "text").len(), words, "the other subscriber got every event");
    assert_eq!(
        events.last().unwrap()["data"]["status"],
        "idle",
        "the turn ended while one client read nothing"
    );
    assert_eq!(api.data(&format!("/api/sessions/{id}")).await["last_seq"], events.len() as i64);
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logins_socket_takes_messages_only_from_the_dashboards_own_origin() {
    let (d, _model) = daemon("").await;
    let res = reqwest::Client::new()
        .post(d.url("/api/auth/login"))
        .json(&json!({"username": "ann", "password": "ann-secret-1"}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let id = new_session(&Api::new(&d)).await;
    let attempt = |origin: String| {
        let mut req = format!("ws://{}/ws/{id}", d.api_addr()).into_client_request().unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        req.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    // A page on another port of the same host is the same site to the cookie, not the same origin.
    match attempt("http://127.0.0.1:1".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("expected a 403, got {:?}", other.map(|(_, r)| r.status())),
    }
    // The dashboard's own page may send at once, while its socket still reads the
    // stored events (a read cut halfway once left the database connection stuck).
    let (mut ws, _) = attempt(format!("http://{}", d.api_addr())).await.expect("the dashboard's own origin");
    let hi = json!({"type": "message", "content": "[{\"text\": \"hi\"}]"});
    ws.send(Message::Text(hi.to_string().into())).await.unwrap();
    loop {
        let ev = next_json(&mut ws).await;
        assert_ne!(ev["type"], "error", "{ev}");
        if ev["type"] == "status" && ev["data"]["status"] == "idle" {
            break;
        }
    }
    assert_eq!(Api::new(&d).data(&format!("/api/sessions/{id}")).await["messages"], 2);
}
