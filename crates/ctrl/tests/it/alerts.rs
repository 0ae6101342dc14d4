//! Alerts against a real daemon and a real webhook receiver on loopback: a crash
//! loop is one alert and one recovery, job failures alert, host thresholds
//! fire, every format has its shape, failed deliveries are retried.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::Daemon;
use crate::common::http::{Api, assert_failure, eventually};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Method;
use serde_json::{Value, json};

/// What the receiver got: channel, headers, body.
type Got = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// A webhook receiver: `/hook/{name}` answers 200, `/flaky/{name}` answers 500
/// to its first two requests.
async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let fails = Arc::new(Mutex::new(0u32));
    let record = |got: &Got, name: String, headers: HeaderMap, body: String| {
        got.lock().unwrap().push((name, headers, body));
    };
    let app = axum::Router::new()
        .route(
            "/hook/{name}",
            post(
                move |State((got, _)): State<(Got, Arc<Mutex<u32>>)>,
                      Path(name): Path<String>,
                      h: HeaderMap,
                      body: String| async move {
                    record(&got, name, h, body);
                    StatusCode::OK
                },
            ),
        )
        .route(
            "/flaky/{name}",
            post(
                |State((got, fails)): State<(Got, Arc<Mutex<u32>>)>,
                 Path(name): Path<String>,
                 h: HeaderMap,
                 body: String| async move {
                    let mut n = fails.lock().unwrap();
                    *n += 1;
                    if *n <= 2 {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    got.lock().unwrap().push((name, h, body));
                    StatusCode::OK
                },
            ),
        )
        .with_state((got.clone(), fails));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn bodies(got: &Got, channel: &str) -> Vec<String> {
    got.lock().unwrap().iter().filter(|(c, _, _)| c == channel).map(|(_, _, b)| b.clone()).collect()
}

fn config(hooks: &str) -> String {
    format!(
        r#"
[services.loop]
command = ["sh", "-c", "if [ -f ok ]; then exec sleep 1000; fi; sleep 0.2; exit 1"]
restart = "always"
backoff = {{ initial = "100ms", max = "200ms" }}
start_limit = {{ burst = 1000, interval = "60s" }}

[actions.fail]
command = ["false"]

[alerts.channels.json]
url = "{hooks}/hook/json"

[alerts.channels.slack]
url = "{hooks}/hook/slack"
format = "slack"

[alerts.channels.discord]
url = "{hooks}/hook/discord"
format = "discord"

[alerts.channels.ntfy]
url = "{hooks}/hook/ntfy"
format = "ntfy"

[alerts.channels.flaky]
url = "{hooks}/flaky/flaky"

[alerts.channels.down]
url = "http://127.0.0.1:9/nothing"

[alerts.rules.crashes]
on = ["crash", "fatal"]
services = ["loop"]
channels = ["json"]
recover_after = "1s"

[alerts.rules.jobs]
on = ["job_failed", "job_timed_out"]
channels = ["slack"]

[alerts.rules.memory]
on = ["memory"]
above = 1
for = "1s"
channels = ["discord"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_alerts_once_and_recovers_once() {
    let (hooks, got) = receiver().await;
    let d = Daemon::start(&config(&hooks));
    let api = Api::new(&d);
    // Several crashes while the loop goes on…
    eventually("three restarts", Duration::from_secs(20), || async {
        let s = api.data("/api/services/loop/status").await;
        (s["restarts"].as_u64().unwrap_or(0) >= 3).then_some(())
    })
    .await;
    let firing = bodies(&got, "json");
    assert_eq!(firing.len(), 1, "one alert for the whole loop: {firing:?}");
    let alert: Value = serde_json::from_str(&firing[0]).unwrap();
    assert_eq!(alert["alert"]["state"], "firing");
    assert_eq!(alert["alert"]["subject"], "loop");
    assert_eq!(alert["alert"]["kind"], "crash");
    // …then it is fixed and runs steadily: one recovery.
    std::fs::write(d.path("ok"), "").unwrap();
    let recovered = eventually("the recovery", Duration::from_secs(20), || async {
        let b = bodies(&got, "json");
        (b.len() >= 2).then_some(b)
    })
    .await;
    let recovery: Value = serde_json::from_str(&recovered[1]).unwrap();
    assert_eq!(recovery["alert"]["state"], "resolved", "{recovery}");
    assert!(recovery["alert"]["message"].as_str().unwrap().contains("more not sent"), "{recovery}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(bodies(&got, "json").len(), 2, "nothing after the recovery");

    let listed = api.data("/api/alerts?limit=100").await;
    let crash: Vec<&Value> = listed.as_array().unwrap().iter().filter(|a| a["rule"] == "crashes").collect();
    assert_eq!(crash.len(), 2);
    assert!(crash.iter().all(|a| a["deliveries"][0]["ok"] == true), "{listed}");

    // A failing job alerts in Slack's shape; memory over 1% for 1 s in Discord's.
    let (_, res) = api.send_json(Method::POST, "/api/actions/fail", &json!({})).await;
    assert_eq!(res["success"], true, "{res}");
    let slack =
        eventually("the job alert", Duration::from_secs(10), || async { bodies(&got, "slack").pop() }).await;
    let slack: Value = serde_json::from_str(&slack).unwrap();
    assert!(slack["text"].as_str().unwrap().contains("[FIRING] fail: job failed"), "{slack}");
    let discord =
        eventually("the memory alert", Duration::from_secs(10), || async { bodies(&got, "discord").pop() })
            .await;
    let discord: Value = serde_json::from_str(&discord).unwrap();
    assert!(discord["content"].as_str().unwrap().contains("[FIRING] memory: memory high"), "{discord}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(bodies(&got, "discord").len(), 1, "a threshold fires once while it holds");
    let rules = api.data("/api/alerts/rules").await;
    let memory = rules.as_array().unwrap().iter().find(|r| r["name"] == "memory").unwrap();
    assert_eq!(memory["firing"], json!(["memory"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sends_have_each_format_and_retry_failed_deliveries() {
    let (hooks, got) = receiver().await;
    let d = Daemon::start(&config(&hooks));
    let api = Api::new(&d);
    for ch in ["json", "slack", "discord", "ntfy"] {
        let (status, res) = api.send_json(Method::POST, "/api/alerts/test", &json!({"channel": ch})).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        assert_eq!(res["data"]["deliveries"][0]["ok"], true, "{res}");
    }
    let all = got.lock().unwrap().clone();
    let by = |c: &str| all.iter().find(|(n, _, _)| n == c).cloned().unwrap();
    let json_body: Value = serde_json::from_str(&by("json").2).unwrap();
    assert_eq!(json_body["alert"]["state"], "test");
    assert!(
        serde_json::from_str::<Value>(&by("slack").2).unwrap()["text"]
            .as_str()
            .unwrap()
            .starts_with("[TEST]")
    );
    assert!(
        serde_json::from_str::<Value>(&by("discord").2).unwrap()["content"]
            .as_str()
            .unwrap()
            .starts_with("[TEST]")
    );
    let (_, ntfy_headers, ntfy_body) = by("ntfy");
    assert!(ntfy_body.starts_with("[TEST]"));
    assert_eq!(ntfy_headers["priority"], "low");
    assert!(ntfy_headers["title"].to_str().unwrap().starts_with("ctrl:"));

    // 500, 500, then 200: delivered on the third try.
    let (_, res) = api.send_json(Method::POST, "/api/alerts/test", &json!({"channel": "flaky"})).await;
    let delivery = &res["data"]["deliveries"][0];
    assert_eq!((delivery["ok"].as_bool(), delivery["attempts"].as_u64()), (Some(true), Some(3)), "{res}");
    // Nobody listening: four tries, then a recorded failure.
    let (_, res) = api.send_json(Method::POST, "/api/alerts/test", &json!({"channel": "down"})).await;
    let delivery = &res["data"]["deliveries"][0];
    assert_eq!((delivery["ok"].as_bool(), delivery["attempts"].as_u64()), (Some(false), Some(4)), "{res}");
    assert!(delivery["error"].as_str().unwrap().contains("connect"), "{res}");
    let (status, res) = api.send_json(Method::POST, "/api/alerts/test", &json!({"channel": "nope"})).await;
    assert_failure(status, &res, StatusCode::NOT_FOUND, "not_found");
    // Channel URLs are secrets: only names and formats are shown.
    let channels = api.data("/api/alerts/channels").await;
    assert!(!channels.to_string().contains("127.0.0.1"), "{channels}");
}
