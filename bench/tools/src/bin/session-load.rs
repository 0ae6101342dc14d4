//! `session-load ADDR TOKEN MODEL replay ROUNDS` and `session-load ADDR TOKEN MODEL fanout
//! SUBSCRIBERS`: times an agent session's events over `WS /ws/{id}`. One JSON line out.
//!
//! - replay: one turn whose model streams (the fake upstream decides how many chunks),
//!   then ROUNDS reconnects with `after=0`, each timed from the connect to the last event.
//! - fanout: SUBSCRIBERS sockets on one session, then a turn; each event's latency is
//!   its arrival minus its `at` (stamped by the daemon when the loop emitted it: the
//!   store's write, the broadcast and the socket are all inside).

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A JSON request over a fresh connection; the envelope's data.
async fn call(addr: &str, token: &str, method: &str, path: &str, body: &Value) -> Value {
    let (_, out) = bench_tools::http(addr, token, method, path, &body.to_string()).await;
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{path}: {e}: {out}"));
    assert_eq!(v["success"], true, "{path}: {v}");
    v["data"].clone()
}

async fn socket(addr: &str, token: &str, path: &str) -> Ws {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.expect("websocket").0
}

async fn event(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            _ => continue,
        }
    }
}

/// Reads until the turn ends; the last seq.
async fn until_idle(ws: &mut Ws) -> i64 {
    loop {
        let e = event(ws).await;
        if e["type"] == "status" && e["data"]["status"] != "running" {
            assert_eq!(e["data"]["status"], "idle", "{e}");
            return e["seq"].as_i64().unwrap();
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn session(addr: &str, token: &str, model: &str) -> i64 {
    let s = call(addr, token, "POST", "/api/sessions", &json!({"title": "bench", "model": model})).await;
    s["id"].as_i64().unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, token, model, mode, n] = args.as_slice() else {
        panic!("usage: session-load ADDR TOKEN MODEL replay ROUNDS | fanout SUBSCRIBERS")
    };
    let n: usize = n.parse().expect("a number");
    let id = session(addr, token, model).await;
    let path = format!("/ws/{id}");
    match mode.as_str() {
        "replay" => {
            let mut ws = socket(addr, token, &path).await;
            call(addr, token, "POST", &format!("/api/sessions/{id}/messages"), &json!({"content": "go"})).await;
            let last = until_idle(&mut ws).await;
            drop(ws);
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                let mut ws = socket(addr, token, &format!("{path}?after=0")).await;
                let mut seen = 0i64;
                loop {
                    let e = event(&mut ws).await;
                    let seq = e["seq"].as_i64().unwrap();
                    assert_eq!(seq, seen + 1, "in order, none lost or repeated");
                    seen = seq;
                    if seq == last {
                        break;
                    }
                }
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{}",
                json!({"events": last, "rounds": n, "ms_p50": pct(&times, 0.5), "ms_p95": pct(&times, 0.95),
                    "ms_max": pct(&times, 1.0)})
            );
        }
        "fanout" => {
            let mut subs = Vec::with_capacity(n);
            for _ in 0..n {
                subs.push(socket(addr, token, &path).await);
            }
            let readers: Vec<_> = subs
                .into_iter()
                .map(|mut ws| {
                    tokio::spawn(async move {
                        let mut lat = Vec::new();
                        loop {
                            let e = event(&mut ws).await;
                            let now = chrono::Utc::now();
                            if e["type"] == "text" {
                                let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
                                lat.push((now - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap() as f64 / 1e3);
                            }
                            if e["type"] == "status" && e["data"]["status"] != "running" {
                                return lat;
                            }
                        }
                    })
                })
                .collect();
            call(addr, token, "POST", &format!("/api/sessions/{id}/messages"), &json!({"content": "go"})).await;
            let mut all = Vec::new();
            let mut counts = Vec::new();
            for r in readers {
                let lat = r.await.unwrap();
                counts.push(lat.len());
                all.extend(lat);
            }
            all.sort_by(f64::total_cmp);
            let complete = counts.iter().all(|c| *c == counts[0]);
            println!(
                "{}",
                json!({"subscribers": n, "events_each": counts[0], "all_complete": complete, "samples": all.len(),
                    "ms_p50": pct(&all, 0.5), "ms_p99": pct(&all, 0.99), "ms_max": pct(&all, 1.0)})
            );
        }
        other => panic!("unknown mode {other}"),
    }
}
