//! The LLM gateway against a real daemon and fake model servers on loopback
//! speaking the real wire format: answers, streams and tool calls passed on,
//! the cache, usage and the interaction log; the fault suite (before and after
//! the first byte); keys, budgets, roles and bad input; the CLI; and the
//! official `openai` Python SDK as the client.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::Daemon;
use crate::common::fake_llm::FakeLlm;
use crate::common::http::{Api, eventually};

const LIMIT: Duration = Duration::from_secs(20);

/// A daemon with two upstreams: `alpha` (priority 1, misbehaves as the model's
/// name says) and `beta` (priority 2, always answers).
async fn gateway(extra: &str) -> (Daemon, FakeLlm, FakeLlm) {
    gateway_on("", extra).await
}

/// The same with more of the config (`[storage]`, say) before `[llm]`.
async fn gateway_on(before: &str, extra: &str) -> (Daemon, FakeLlm, FakeLlm) {
    let alpha = FakeLlm::start("alpha", false).await;
    let beta = FakeLlm::start("beta", true).await;
    let config = format!(
        "{before}\n[llm]\ntimeout = \"1s\"\nidle_timeout = \"1s\"\nmax_body = \"64KB\"\ndefault_model = \"fake-ok\"\n{extra}\n\
         [llm.upstreams.alpha]\nurl = \"{}\"\nmodels = [\"fake-*\"]\npriority = 1\n\n\
         [llm.upstreams.beta]\nurl = \"{}\"\nmodels = [\"fake-*\", \"beta-only\"]\npriority = 2\n\n\
         [llm.prices.\"fake-ok\"]\ninput_per_1m = 1000.0\noutput_per_1m = 2000.0\n\n\
         [llm.prices.\"fake-slowstream\"]\ninput_per_1m = 1000.0\noutput_per_1m = 2000.0\n",
        alpha.url, beta.url
    );
    let d = tokio::task::spawn_blocking(move || Daemon::start(&config)).await.unwrap();
    (d, alpha, beta)
}

/// A POST to the gateway with a bearer; the status, headers and body text.
async fn post(
    d: &Daemon,
    bearer: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    post_raw(d, bearer, path, body.to_string(), &[]).await
}

async fn post_raw(
    d: &Daemon,
    bearer: &str,
    path: &str,
    body: String,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = crate::common::http::client().post(d.url(path)).bearer_auth(bearer).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut res = req.header("content-type", "application/json").send().await.unwrap();
    let (status, h) = (res.status(), res.headers().clone());
    // A stream that broke ends in a cut connection, after its error event: what came is kept.
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        body.extend_from_slice(&chunk);
    }
    (status, h, String::from_utf8(body).unwrap())
}

/// The data events of a stream, and whether it ended with `[DONE]`.
fn events(text: &str) -> (Vec<Value>, bool) {
    let mut out = Vec::new();
    let mut done = false;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let data = block.strip_prefix("data: ").unwrap_or_else(|| panic!("not an event: {block:?}"));
        if data == "[DONE]" {
            done = true;
        } else {
            out.push(serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")));
        }
    }
    (out, done)
}

fn content(events: &[Value]) -> String {
    events.iter().filter_map(|e| e.pointer("/choices/0/delta/content").and_then(Value::as_str)).collect()
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The newest interaction rows once `n` are in the log.
async fn log_rows(api: &Api<'_>, n: usize) -> Vec<Value> {
    eventually("the interaction rows", LIMIT, || async {
        let rows = api.data("/api/llm/interactions?limit=200").await;
        let rows = rows.as_array()?.clone();
        (rows.len() >= n).then_some(rows)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_passes_answers_and_streams_on_caches_them_and_counts_them() {
    let (d, alpha, beta) = gateway("").await;
    let token = d.token();
    let api = Api::new(&d);

    // A plain call: unknown fields reach the upstream untouched; the answer comes back as it was.
    let mut body = chat("fake-ok", "hi there");
    body["x_vendor"] = json!({"a": [1, 2]});
    let (s, h, first) = post(&d, &token, "/v1/chat/completions", &body).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(h["x-ctrl-cache"], "miss");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from alpha: hi there");
    assert_eq!(alpha.last()["x_vendor"], json!({"a": [1, 2]}));
    assert_eq!(alpha.calls(), 1);

    // The same again is a cache hit: no upstream call, the same bytes.
    let (_, h, again) = post(&d, &token, "/v1/chat/completions", &body).await;
    assert_eq!((h["x-ctrl-cache"].to_str().unwrap(), again.as_str()), ("hit", first.as_str()));
    assert_eq!(alpha.calls(), 1);
    // `cache: false` and `x-ctrl-cache: no` go upstream; `cache` itself does not.
    let mut uncached = body.clone();
    uncached["cache"] = json!(false);
    let (_, h, _) = post(&d, &token, "/v1/chat/completions", &uncached).await;
    assert_eq!((h["x-ctrl-cache"].to_str().unwrap(), alpha.calls()), ("miss", 2));
    assert!(alpha.last().get("cache").is_none(), "{}", alpha.last());
    let (_, h, _) =
        post_raw(&d, &token, "/v1/chat/completions", body.to_string(), &[("x-ctrl-cache", "no")]).await;
    assert_eq!((h["x-ctrl-cache"].to_str().unwrap(), alpha.calls()), ("miss", 3));

    // A stream: chunks passed on, usage asked of the upstream but not shown to a
    // client that did not ask for it; then replayed byte for byte from the cache.
    let mut streamed = chat("fake-ok", "stream this please");
    streamed["stream"] = json!(true);
    let (s, h, text) = post(&d, &token, "/v1/chat/completions", &streamed).await;
    assert_eq!((s, h["content-type"].to_str().unwrap()), (StatusCode::OK, "text/event-stream"));
    let (evs, done) = events(&text);
    assert!(done, "{text}");
    assert_eq!(content(&evs), "Hello from alpha: stream this please");
    assert!(evs.iter().all(|e| e["usage"].is_null()), "{text}");
    assert_eq!(alpha.last()["stream_options"]["include_usage"], true);
    let calls = alpha.calls();
    let (_, h, replay) = post(&d, &token, "/v1/chat/completions", &streamed).await;
    assert_eq!((h["x-ctrl-cache"].to_str().unwrap(), alpha.calls()), ("hit", calls));
    assert_eq!(replay, text, "a streamed hit is the same bytes");

    // Asked for, the usage chunk comes through; reasoning and tool calls pass as sent.
    streamed["stream_options"] = json!({"include_usage": true});
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &streamed).await;
    let (evs, _) = events(&text);
    let usage = evs.iter().find(|e| !e["usage"].is_null()).unwrap_or_else(|| panic!("no usage: {text}"));
    assert_eq!(usage["usage"]["prompt_tokens"], 3);
    let mut reasoning = chat("fake-reasoning", "why");
    reasoning["stream"] = json!(true);
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &reasoning).await;
    let thought: String = events(&text)
        .0
        .iter()
        .filter_map(|e| e.pointer("/choices/0/delta/reasoning_content").and_then(Value::as_str))
        .collect();
    assert_eq!(thought, "Think first.");
    let mut tools = chat("fake-tools", "what time is it");
    tools["stream"] = json!(true);
    tools["tools"] =
        json!([{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]);
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &tools).await;
    let (evs, done) = events(&text);
    assert!(done);
    let mut args = [String::new(), String::new()];
    for e in &evs {
        for c in e.pointer("/choices/0/delta/tool_calls").and_then(Value::as_array).into_iter().flatten() {
            args[c["index"].as_u64().unwrap() as usize] += c["function"]["arguments"].as_str().unwrap_or("");
        }
    }
    assert_eq!(args, ["{\"tz\":\"UTC\"}".to_string(), "{\"tz\":\"UTC\"}".to_string()]);
    assert_eq!(alpha.last()["tools"][0]["function"]["name"], "get_time");

    // Legacy completions, embeddings, the models of every upstream, and the seed's routes.
    let (s, _, text) =
        post(&d, &token, "/v1/completions", &json!({"model": "fake-ok", "prompt": "once upon"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["choices"][0]["text"], " and so alpha went on");
    let (_, _, text) =
        post(&d, &token, "/v1/completions", &json!({"model": "fake-ok", "prompt": "once", "stream": true}))
            .await;
    let (evs, done) = events(&text);
    let legacy: String =
        evs.iter().filter_map(|e| e.pointer("/choices/0/text").and_then(Value::as_str)).collect();
    assert!(done && legacy == " and so alpha went on", "{text}");
    let (s, _, text) =
        post(&d, &token, "/v1/embeddings", &json!({"model": "fake-ok", "input": ["a b", "c"]})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["data"].as_array().unwrap().len(), 2);
    let res =
        crate::common::http::client().get(d.url("/v1/models")).bearer_auth(&token).send().await.unwrap();
    let models: Value = res.json().await.unwrap();
    let mut ids: Vec<&str> =
        models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["beta-only", "fake-ok", "fake-tools"], "{models}");
    let (s, _, text) = post(&d, &token, "/chat", &json!({"message": "hello"})).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["response"].as_str(), v["cached"].as_bool()),
        (Some("Hello from alpha: hello"), Some(false))
    );
    assert!(v["usage"]["prompt_tokens"].is_u64() && v["processing_ms"].is_f64(), "{v}");
    let (s, _, text) = post(&d, &token, "/test", &json!({})).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((s, v["ok"].as_bool()), (StatusCode::OK, Some(true)), "{v}");
    assert_eq!(v["upstreams"].as_array().unwrap().len(), 2);
    assert_eq!(beta.calls(), 0, "beta stood by");

    // The books: usage per model with cost from the prices, and the interaction log.
    let usage = eventually("usage to be written", LIMIT, || async {
        let rows = api.data("/api/llm/usage?group_by=model").await;
        let row = rows.as_array()?.iter().find(|r| r["model"] == "fake-ok")?.clone();
        (row["calls"] == 11).then_some(row)
    })
    .await;
    assert_eq!(usage["cached"], 2, "{usage}");
    let (p, c) = (usage["prompt_tokens"].as_f64().unwrap(), usage["completion_tokens"].as_f64().unwrap());
    assert!((usage["cost"].as_f64().unwrap() - (p * 1000.0 + c * 2000.0) / 1e6).abs() < 1e-9, "{usage}");
    let rows = log_rows(&api, 13).await;
    let plain = rows.iter().rev().find(|r| r["model"] == "fake-ok" && r["stream"] == false).unwrap();
    assert_eq!((plain["upstream"].as_str(), plain["status"].as_u64()), (Some("alpha"), Some(200)));
    assert_eq!(plain["attempts"][0]["upstream"], "alpha");
    let whole = api.data(&format!("/api/llm/interactions/{}", plain["id"])).await;
    assert_eq!(whole["request"]["x_vendor"], json!({"a": [1, 2]}), "{whole}");
    assert_eq!(whole["response"]["content"], "Hello from alpha: hi there");
    assert!(rows.iter().filter(|r| r["cached"] == true).count() == 2);
    let stream_row = rows.iter().rev().find(|r| r["stream"] == true && r["model"] == "fake-ok").unwrap();
    assert_eq!(stream_row["estimated"], false, "usage came from the upstream: {stream_row}");
    assert!(stream_row["ttfb_ms"].as_f64().unwrap() <= stream_row["processing_ms"].as_f64().unwrap());
    let found = api.data("/api/llm/interactions?q=STREAM%20THIS").await;
    assert!(!found.as_array().unwrap().is_empty(), "search is in any case");

    // A stream without usage from the upstream is counted here and flagged.
    let mut bare = chat("fake-nousage", "count me");
    bare["stream"] = json!(true);
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &bare).await;
    assert!(events(&text).1);
    let row = eventually("the estimated row", LIMIT, || async {
        let rows = api.data("/api/llm/interactions?model=fake-nousage").await;
        rows.as_array()?.first().cloned()
    })
    .await;
    assert_eq!(row["estimated"], true);
    assert!(row["completion_tokens"].as_u64().unwrap() > 0, "{row}");

    // An upstream that closes after its last chunk without `[DONE]`: the answer said it
    // finished, so the stream ends properly.
    let mut unended = chat("fake-nodone", "finish quietly");
    unended["stream"] = json!(true);
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &unended).await;
    let (evs, done) = events(&text);
    assert!(done, "{text}");
    assert_eq!(content(&evs), "Hello from alpha: finish quietly");

    let metrics = api.text("/metrics").await;
    assert!(metrics.contains("ctrl_llm_overhead_seconds_bucket"), "{metrics}");
    assert!(metrics.contains("ctrl_llm_log_dropped_total 0"), "{metrics}");

    // The cache can be emptied.
    let (s, cleared) = api.post("/api/llm/cache/clear").await;
    assert_eq!(s, StatusCode::OK);
    assert!(cleared["data"]["entries"].as_u64().unwrap() >= 3, "{cleared}");
    let (_, h, _) = post(&d, &token, "/v1/chat/completions", &body).await;
    assert_eq!(h["x-ctrl-cache"], "miss");

    // A reload applies a changed [llm]: beta first now.
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, text.replace("priority = 2", "priority = 0")).unwrap();
    stdout(&cli(&d, &["reload"]).await);
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &chat("fake-ok", "who first")).await;
    assert!(text.contains("Hello from beta: who first"), "{text}");
    assert_eq!(api.data("/api/llm/upstreams").await[0]["name"], "beta");
}

/// The newest interaction row of a model, once it is written.
async fn row_of(api: &Api<'_>, model: &str, after: i64) -> Value {
    eventually(&format!("the row of {model}"), LIMIT, || async {
        let rows = api.data(&format!("/api/llm/interactions?model={model}&limit=1")).await;
        let row = rows.as_array()?.first()?.clone();
        (row["id"].as_i64()? > after).then_some(row)
    })
    .await
}

fn attempts(row: &Value) -> Vec<(String, Option<u64>, String)> {
    row["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["upstream"].as_str().unwrap().to_owned(),
                a["status"].as_u64(),
                a["error"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// One answered call of `fake-ok` from `alpha`: a success forgives its failures in a row.
async fn forgive(d: &Daemon) {
    let (s, _, text) = post(d, &d.token(), "/v1/chat/completions", &chat("fake-ok", "still there?")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("Hello from alpha"), "alpha answers again: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_fall_over_before_the_first_byte_and_end_the_stream_with_an_error_after_it() {
    let (d, alpha, beta) = gateway("cache_ttl = \"0\"").await;
    let token = d.token();
    let api = Api::new(&d);

    // Before the first byte, the next upstream answers; the row keeps the chain.
    let mut last = 0;
    for (model, stream, why) in [
        ("fake-500", false, "500 Internal Server Error: the model crashed"),
        ("fake-500", true, "500 Internal Server Error"),
        ("fake-slow", false, "no answer within 1s"),
        ("fake-stall-first", true, "no first chunk within 1s"),
        ("fake-bad-first", true, "malformed first chunk"),
        ("fake-error200", false, "an error in a 200: model not loaded"),
    ] {
        let mut body = chat(model, "fall over");
        body["stream"] = json!(stream);
        let (s, _, text) = post(&d, &token, "/v1/chat/completions", &body).await;
        assert_eq!(s, StatusCode::OK, "{model}: {text}");
        let answer = if stream {
            content(&events(&text).0)
        } else {
            serde_json::from_str::<Value>(&text).unwrap()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(answer, "Hello from beta: fall over", "{model}");
        let row = row_of(&api, model, last).await;
        last = row["id"].as_i64().unwrap();
        let chain = attempts(&row);
        assert_eq!(chain.len(), 2, "{row}");
        assert_eq!(chain[0].0, "alpha");
        assert!(chain[0].2.contains(why), "{model}: {:?}", chain[0]);
        assert_eq!((chain[1].0.as_str(), chain[1].1), ("beta", Some(200)));
        assert_eq!((row["upstream"].as_str(), row["status"].as_u64()), (Some("beta"), Some(200)));
        forgive(&d).await;
    }

    // After the first byte: an in-band error event and no [DONE] (SDKs then raise).
    for (model, why) in [
        ("fake-cut", "broke"),
        ("fake-stall", "no chunk from upstream 'alpha' for 1s"),
        ("fake-malformed", "malformed chunk"),
        ("fake-error", "the model is overloaded"),
    ] {
        let mut body = chat(model, "cut me off");
        body["stream"] = json!(true);
        let (s, _, text) = post(&d, &token, "/v1/chat/completions", &body).await;
        assert_eq!(s, StatusCode::OK);
        let (evs, done) = events(&text);
        assert!(!done, "{model}: no [DONE] after an error: {text}");
        assert_eq!(content(&evs), "Hello from ", "{model}: what came before is passed on");
        let err = evs.last().unwrap();
        assert!(err["error"]["message"].as_str().unwrap().contains(why), "{model}: {err}");
        assert!(!text.contains("\"delta\": \n"), "a malformed chunk is never passed on");
        let row = row_of(&api, model, last).await;
        last = row["id"].as_i64().unwrap();
        assert!(row["error"].as_str().unwrap().contains(why), "{row}");
        assert_eq!(row["upstream"], "alpha");
        forgive(&d).await;
    }

    // A 4xx about the request is the client's: passed on as the upstream said it, no fall-over.
    let calls = beta.calls();
    let (s, _, text) = post(&d, &token, "/v1/chat/completions", &chat("fake-400", "x")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["message"],
        "messages must not be empty"
    );
    assert_eq!(beta.calls(), calls);

    // A client that leaves a stream cancels the upstream's request.
    let cancelled = alpha.cancelled();
    let mut body = chat("fake-stall", "leave early");
    body["stream"] = json!(true);
    let mut res = crate::common::http::client()
        .post(d.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.chunk().await.unwrap().is_some(), "the stream began");
    drop(res);
    let row = row_of(&api, "fake-stall", last).await;
    assert_eq!(row["error"], "the client went away", "{row}");
    eventually("the upstream's request to be dropped", LIMIT, || async {
        (alpha.cancelled() > cancelled).then_some(())
    })
    .await;
    forgive(&d).await;

    // A client that leaves before a whole answer still leaves its row.
    let quick = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let gone = quick
        .post(d.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&chat("fake-slow", "bye"))
        .send()
        .await;
    assert!(gone.is_err());
    let row = row_of(&api, "fake-slow", 0).await;
    let row =
        if row["status"] == 499 { row } else { row_of(&api, "fake-slow", row["id"].as_i64().unwrap()).await };
    assert_eq!(
        (row["status"].as_u64(), row["error"].as_str()),
        (Some(499), Some("the client went away before the answer"))
    );

    // A 429 with retry-after: fall over, and alpha rests as asked.
    let (s, _, _) = post(&d, &token, "/v1/chat/completions", &chat("fake-429", "busy")).await;
    assert_eq!(s, StatusCode::OK);
    let row = row_of(&api, "fake-429", 0).await;
    assert_eq!(attempts(&row)[0].1, Some(429));
    let before = alpha.calls();
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &chat("fake-ok", "who now")).await;
    assert!(text.contains("Hello from beta"), "alpha rests after its 429: {text}");
    assert_eq!(alpha.calls(), before);
    let ups = api.data("/api/llm/upstreams").await;
    assert_eq!(ups[0]["name"], "alpha");
    assert_eq!(
        (ups[0]["healthy"].as_bool(), ups[1]["healthy"].as_bool()),
        (Some(false), Some(true)),
        "{ups}"
    );
    eventually("alpha to be back after its retry-after", LIMIT, || async {
        let (_, _, text) = post(&d, &token, "/v1/chat/completions", &chat("fake-ok", "back?")).await;
        text.contains("Hello from alpha").then_some(())
    })
    .await;

    // Three failures in a row rest an upstream: the next calls skip it.
    for _ in 0..3 {
        post(&d, &token, "/v1/chat/completions", &chat("fake-500", "again")).await;
    }
    let before = alpha.calls();
    let (_, _, text) = post(&d, &token, "/v1/chat/completions", &chat("fake-ok", "skip it")).await;
    assert!(text.contains("Hello from beta") && alpha.calls() == before, "{text}");
}

/// Runs the CLI off the runtime (the fake upstreams live on it).
async fn cli(d: &Daemon, args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (bin, config) = (env!("CARGO_BIN_EXE_ctrl"), d.config.clone());
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin).args(&args).arg("--config").arg(&config).output().unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn openai_error(status: StatusCode, text: &str, want: StatusCode, kind: &str) -> Value {
    assert_eq!(status, want, "{text}");
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_have_budgets_and_models_and_bad_input_gets_openai_errors() {
    let (d, _alpha, _beta) = gateway("").await;
    let token = d.token();
    let api = Api::new(&d);

    // A key from the CLI: shown once, stored hashed.
    let made = cli(
        &d,
        &["llm", "key", "create", "--name", "app", "--budget", "0.05/day", "--models", "fake-ok,fake-slow*"],
    )
    .await;
    let key = stdout(&made).trim().to_owned();
    assert!(key.starts_with("sk-ctrl-") && key.len() > 40, "{key}");
    let db = std::fs::read(d.path("state/ctrl.db")).unwrap();
    assert!(!db.windows(key.len()).any(|w| w == key.as_bytes()), "the key is not stored");

    // Each call reserves its most (the body as prompt, and max_tokens) before it goes and
    // settles its real cost after: 2 prompt and 5 completion tokens, 0.012 here.
    let call = |text: &str| json!({"model": "fake-ok", "max_tokens": 5, "messages": [{"role": "user", "content": text}]});
    let mut statuses = Vec::new();
    for text in ["hi there", "hi again", "and more"] {
        let (s, h, body) = post(&d, &key, "/v1/chat/completions", &call(text)).await;
        if s != StatusCode::OK {
            let v = openai_error(s, &body, StatusCode::TOO_MANY_REQUESTS, "insufficient_quota");
            assert_eq!(v["error"]["code"], "insufficient_quota");
            assert_eq!(h["x-should-retry"], "false", "SDKs must not retry a spent budget");
        }
        statuses.push(s.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429], "0.024 spent, and 0.032 more reserved, is over 0.05");
    // Without max_tokens only the body is reserved (0.016): two more pass, then not.
    let bare = |text: &str| json!({"model": "fake-ok", "messages": [{"role": "user", "content": text}]});
    let mut statuses = Vec::new();
    for text in ["x", "y", "z"] {
        statuses.push(post(&d, &key, "/v1/chat/completions", &bare(text)).await.0.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let keys = api.data("/api/llm/keys").await;
    let spent = keys[0]["spent"].as_f64().unwrap();
    assert!((spent - 0.042).abs() < 1e-9, "0.012 twice and 0.009 twice: {keys}");

    // A key tests no upstreams (that shows their addresses): operators do.
    let (s, _, body) = post(&d, &key, "/test", &json!({})).await;
    openai_error(s, &body, StatusCode::FORBIDDEN, "permission_error");

    // Models the key may not use, and the models it sees.
    let (s, _, body) = post(&d, &key, "/v1/chat/completions", &chat("fake-tools", "x")).await;
    assert_eq!(
        openai_error(s, &body, StatusCode::FORBIDDEN, "permission_error")["error"]["code"],
        "model_not_allowed"
    );
    let res = crate::common::http::client().get(d.url("/v1/models")).bearer_auth(&key).send().await.unwrap();
    let models: Value = res.json().await.unwrap();
    assert_eq!(
        models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect::<Vec<_>>(),
        ["fake-ok"]
    );

    // Calls in flight at once never pass the budget by more than their reservations.
    let made = cli(&d, &["llm", "key", "create", "--name", "burst", "--budget", "0.05/day", "--json"]).await;
    let burst: Value = serde_json::from_str(&stdout(&made)).unwrap();
    let burst_key = burst["key"].as_str().unwrap().to_owned();
    let calls = (0..8).map(|_| {
        let (d, k) = (&d, burst_key.clone());
        async move {
            let body = json!({"model": "fake-slowstream", "max_tokens": 5, "stream": true, "cache": false,
                "messages": [{"role": "user", "content": "go slow"}]});
            post(d, &k, "/v1/chat/completions", &body).await.0
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!((1..8).contains(&ok), "the reservations of calls in flight refuse some: {statuses:?}");
    let spent = eventually("the burst to settle", LIMIT, || async {
        let keys = api.data("/api/llm/keys").await;
        let k = keys.as_array()?.iter().find(|k| k["name"] == "burst")?.clone();
        let spent = k["spent"].as_f64()?;
        ((spent - ok as f64 * 0.012).abs() < 1e-9).then_some(spent)
    })
    .await;
    assert!(spent <= 0.05 + 1e-9, "{spent}");

    // Revoked: refused at once.
    let id = burst["info"]["id"].as_i64().unwrap().to_string();
    assert!(stdout(&cli(&d, &["llm", "key", "revoke", &id]).await).contains("revoked"));
    let (s, _, body) = post(&d, &burst_key, "/v1/chat/completions", &chat("fake-ok", "x")).await;
    assert_eq!(
        openai_error(s, &body, StatusCode::UNAUTHORIZED, "invalid_request_error")["error"]["code"],
        "invalid_api_key"
    );

    // Who may call: keys and operators' tokens; not a viewer, not a stranger.
    let (_, made) =
        api.send_json(reqwest::Method::POST, "/api/tokens", &json!({"name": "look", "role": "viewer"})).await;
    let viewer = made["data"]["token"].as_str().unwrap().to_owned();
    let (s, _, body) = post(&d, &viewer, "/v1/chat/completions", &chat("fake-ok", "x")).await;
    openai_error(s, &body, StatusCode::FORBIDDEN, "permission_error");
    let (s, _, body) = post(&d, "sk-ctrl-nothing", "/v1/chat/completions", &chat("fake-ok", "x")).await;
    openai_error(s, &body, StatusCode::UNAUTHORIZED, "invalid_request_error");
    let res = crate::common::http::client()
        .post(d.url("/v1/chat/completions"))
        .json(&chat("fake-ok", "x"))
        .send()
        .await
        .unwrap();
    let s = res.status();
    openai_error(s, &res.text().await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_request_error");
    let (s, _) =
        Api { d: &d, http: crate::common::http::client(), token: viewer.clone() }.get("/api/llm/keys").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "keys are for admins");
    let (s, _) =
        Api { d: &d, http: crate::common::http::client(), token: viewer }.get("/api/llm/usage").await;
    assert_eq!(s, StatusCode::OK, "usage is for everyone");

    // Bad bodies: OpenAI's shape with the right 4xx, never a 500.
    let (s, _, body) = post_raw(&d, &token, "/v1/chat/completions", "{not json".into(), &[]).await;
    openai_error(s, &body, StatusCode::BAD_REQUEST, "invalid_request_error");
    let (s, _, body) = post(&d, &token, "/v1/chat/completions", &json!({"messages": []})).await;
    assert_eq!(
        openai_error(s, &body, StatusCode::BAD_REQUEST, "invalid_request_error")["error"]["param"],
        "model"
    );
    let (s, _, body) = post(&d, &token, "/v1/chat/completions", &chat("gpt-4o", "x")).await;
    assert_eq!(
        openai_error(s, &body, StatusCode::NOT_FOUND, "invalid_request_error")["error"]["code"],
        "model_not_found"
    );
    let (s, _, body) =
        post(&d, &token, "/v1/chat/completions", &chat("fake-ok", &"x".repeat(70 * 1024))).await;
    openai_error(s, &body, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error");
    let (s, _, body) = post(&d, &token, "/v1/nothing/here", &json!({})).await;
    openai_error(s, &body, StatusCode::NOT_FOUND, "invalid_request_error");
    let (s, _, body) = post(&d, &token, "/chat", &json!({"nothing": 1})).await;
    openai_error(s, &body, StatusCode::BAD_REQUEST, "invalid_request_error");
    assert_eq!(api.data("/health").await["status"], "ok");

    // The CLI reads the books.
    let usage = eventually("usage of the key", LIMIT, || async {
        let o = cli(&d, &["llm", "usage", "--by", "service"]).await;
        let out = stdout(&o);
        out.contains("app").then_some(out)
    })
    .await;
    assert!(usage.contains("burst"), "{usage}");
    let log = stdout(&cli(&d, &["llm", "log", "-n", "50"]).await);
    assert!(log.contains("fake-slowstream") && log.contains("429"), "{log}");
    let id = log.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let one: Value = serde_json::from_str(&stdout(&cli(&d, &["llm", "log", &id, "--json"]).await)).unwrap();
    assert_eq!(one["id"].to_string(), id);
    let keys = stdout(&cli(&d, &["llm", "key", "list"]).await);
    assert!(keys.contains("app") && keys.contains("revoked") && !keys.contains(&key), "{keys}");
    assert!(stdout(&cli(&d, &["llm", "test"]).await).contains("beta"));
    assert_eq!(stdout(&cli(&d, &["llm", "chat", "hey"]).await).trim(), "Hello from alpha: hey");
    let bad = cli(&d, &["llm", "key", "create", "--name", "x", "--budget", "lots"]).await;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("5/day"));

    // Every change is audited.
    let audit = api.data("/api/audit?limit=100").await.to_string();
    assert!(audit.contains("llm_key_created") && audit.contains("llm_key_revoked"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_works_against_the_gateway() {
    let probe = std::process::Command::new("python3").args(["-c", "import openai"]).output().unwrap();
    assert!(
        probe.status.success(),
        "the openai Python SDK is needed (scripts/test installs it): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let (d, _alpha, _beta) = gateway("").await;
    let made = cli(&d, &["llm", "key", "create", "--name", "sdk", "--models", "fake-*", "--json"]).await;
    let key: Value = serde_json::from_str(&stdout(&made)).unwrap();
    let made = cli(&d, &["llm", "key", "create", "--name", "poor", "--budget", "0/day", "--json"]).await;
    let poor: Value = serde_json::from_str(&stdout(&made)).unwrap();
    let (script, base) = (crate::common::fixture("openai_sdk.py"), d.url("/v1"));
    let (k, p) = (key["key"].as_str().unwrap().to_owned(), poor["key"].as_str().unwrap().to_owned());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .args(["60", "python3", &script, &base, &k, &p])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["chat"], "Hello from alpha: hi sdk", "{r}");
    assert_eq!(r["chat_usage"], json!([2, 5]));
    assert_eq!(r["stream"], "Hello from alpha: stream sdk");
    assert_eq!(r["stream_usage"], json!([2, 5]));
    assert_eq!(r["tool_call"], json!(["get_time", {"tz": "UTC"}, "tool_calls"]));
    assert_eq!(r["after_tool"], "It is noon in UTC.");
    assert_eq!(r["embeddings"], json!([2, 8]));
    assert_eq!(r["models"], json!(["fake-ok", "fake-tools"]), "the models the key may use");
    assert_eq!(r["legacy"], " and so alpha went on");
    assert_eq!(r["unknown_model"], json!(["NotFoundError", 404, "model_not_found"]));
    assert_eq!(r["bad_key"], json!(["AuthenticationError", 401, "invalid_api_key"]));
    assert_eq!(r["over_budget"], json!(["RateLimitError", 429, "insufficient_quota"]));
    assert_eq!(r["cut_stream"][0], "APIError", "a cut stream raises, never ends quietly: {r}");
    assert!(r["cut_stream"][2].as_str().unwrap().contains("broke"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_books_are_kept_on_postgres_and_budgets_survive_a_restart() {
    let url = ctrl_store::testing::postgres().await;
    let (mut d, _alpha, _beta) = gateway_on(&format!("[storage]\nurl = \"{url}\"\n"), "").await;
    assert!(!d.path("state/ctrl.db").exists());
    let made = cli(&d, &["llm", "key", "create", "--name", "pg", "--budget", "1/month", "--json"]).await;
    let key: Value = serde_json::from_str(&stdout(&made)).unwrap();
    let secret = key["key"].as_str().unwrap().to_owned();
    for text in ["one", "two"] {
        let mut body = chat("fake-ok", text);
        body["stream"] = json!(text == "two");
        let (s, _, _) = post(&d, &secret, "/v1/chat/completions", &body).await;
        assert_eq!(s, StatusCode::OK);
    }
    let api = Api::new(&d);
    let spent = eventually("usage on PostgreSQL", LIMIT, || async {
        let rows = api.data("/api/llm/usage?group_by=service").await;
        let row = rows.as_array()?.iter().find(|r| r["service"] == "pg")?.clone();
        (row["calls"] == 2).then_some(row["cost"].as_f64()?)
    })
    .await;
    assert!((spent - 0.018).abs() < 1e-9, "1 + 4 tokens, twice: {spent}");
    let rows = log_rows(&api, 2).await;
    assert!(rows.iter().any(|r| r["stream"] == true && r["service"] == "pg"), "{rows:?}");

    // After a restart the key has spent what it had: its spend is read back from usage.
    let dd = tokio::task::spawn_blocking(move || {
        d.stop();
        d.up();
        d
    })
    .await
    .unwrap();
    let api = Api::new(&dd);
    let keys = api.data("/api/llm/keys").await;
    assert!((keys[0]["spent"].as_f64().unwrap() - 0.018).abs() < 1e-9, "{keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_a_prompt_is_kept_when_interactions_are_not_logged() {
    let (d, _alpha, _beta) = gateway("log_interactions = false").await;
    let token = d.token();
    let api = Api::new(&d);
    for model in ["fake-ok", "fake-500", "fake-400", "fake-error"] {
        let mut body = chat(model, "secret-word-123");
        body["stream"] = json!(model == "fake-error");
        post(&d, &token, "/v1/chat/completions", &body).await;
    }
    let rows = log_rows(&api, 4).await;
    let text = json!(rows).to_string();
    for row in &rows {
        let whole = api.data(&format!("/api/llm/interactions/{}", row["id"])).await;
        assert!(whole["request"].is_null() && whole["response"].is_null(), "{whole}");
        assert!(!whole.to_string().contains("secret-word"), "{whole}");
    }
    assert!(!text.contains("the model crashed") && !text.contains("must not be empty"), "{text}");
    assert!(
        text.contains("500 Internal Server Error") && text.contains("the upstream refused the request"),
        "{text}"
    );
    assert!(text.contains("the upstream sent an error"), "{text}");
    assert!(rows.iter().all(|r| r["prompt_tokens"].as_u64().is_some()), "times and tokens are kept");
    assert_eq!(api.data("/api/llm/interactions?q=secret").await, json!([]));
}
