//! Live streams of a real daemon: WebSocket and SSE for host samples and
//! service changes, log follow, auth on upgrade, and a clean close at shutdown.

use std::time::Duration;

use crate::common::Daemon;
use crate::common::http::Sse;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SLEEPER: &str = "[services.sleeper]\ncommand = [\"sleep\", \"1000\"]\n";

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(d: &Daemon, path: &str) -> Ws {
    let url = format!(
        "ws://{}{path}{}token={}",
        d.api_addr(),
        if path.contains('?') { "&" } else { "?" },
        d.token()
    );
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next text message as JSON (pings are answered by the library).
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = timeout(Duration::from_secs(10), ws.next()).await.expect("a message within 10 s");
        match msg.expect("the stream is open").expect("a good frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn system_ws_sends_a_sample_every_interval() {
    let d = Daemon::start_with("ws_interval = \"200ms\"\n[monitor]\nsample_interval = \"100ms\"", SLEEPER);
    let mut a = ws(&d, "/api/system/ws").await;
    let mut b = ws(&d, "/api/system/ws").await;
    let mut stamps = Vec::new();
    for _ in 0..4 {
        let m = next_json(&mut a).await;
        assert_eq!(m["success"], true);
        assert!(m["data"]["memory"]["total_bytes"].as_u64().unwrap() > 0);
        stamps.push(m["data"]["timestamp"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap());
        assert!(next_json(&mut b).await["data"]["cpu"].is_object());
    }
    // One sample per ws_interval (200 ms) although the sampler takes one every 100 ms.
    let gaps: Vec<i64> = stamps.windows(2).map(|w| (w[1] - w[0]).num_milliseconds()).collect();
    assert!(gaps.iter().all(|g| *g > 0), "samples move forward: {gaps:?}");
    assert!(gaps.iter().sum::<i64>() >= 3 * 150, "about one sample per interval: {gaps:?}");
    a.close(None).await.unwrap();
    // Other clients are unaffected by one leaving.
    next_json(&mut b).await;
}

#[tokio::test]
async fn websocket_upgrades_need_the_token() {
    let d = Daemon::start(SLEEPER);
    let plain = format!("ws://{}/api/system/ws", d.api_addr());
    let err = tokio_tungstenite::connect_async(&plain).await.unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    let wrong = format!("{plain}?token=nope");
    match tokio_tungstenite::connect_async(&wrong).await.unwrap_err() {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    // Browsers may pass the token as a subprotocol next to "ctrl", which is echoed back.
    let mut req = plain.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", format!("ctrl, bearer.{}", d.token()).parse().unwrap());
    let (mut s, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(res.headers()["sec-websocket-protocol"], "ctrl");
    assert_eq!(next_json(&mut s).await["success"], true);
}

#[tokio::test]
async fn services_ws_sends_a_snapshot_then_each_change_at_once() {
    let d = Daemon::start(SLEEPER);
    d.wait_status("sleeper", "running", Duration::from_secs(10));
    let mut s = ws(&d, "/api/services/ws").await;
    let first = next_json(&mut s).await;
    assert_eq!(first["type"], "snapshot");
    assert_eq!(first["data"][0]["name"], "sleeper");

    let ctl = tokio::task::spawn_blocking({
        let config = d.config.clone();
        move || {
            std::process::Command::new(crate::common::BIN)
                .args(["stop", "sleeper", "--config"])
                .arg(config)
                .output()
        }
    });
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("stopped") {
        let m = next_json(&mut s).await;
        let received = Utc::now();
        assert_eq!(m["type"], "event", "{m}");
        let e = &m["data"]["event"];
        let at: DateTime<Utc> = e["at"].as_str().unwrap().parse().unwrap();
        let delay = received - at;
        assert!(delay < chrono::Duration::milliseconds(100), "a change took {delay:?} to arrive");
        assert_eq!(m["data"]["service"]["name"], "sleeper");
        seen.push(e["to"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["stopping", "stopped"]);
    assert!(ctl.await.unwrap().unwrap().status.success());
}

#[tokio::test]
async fn sse_streams_match_the_websockets() {
    let d = Daemon::start_with("ws_interval = \"200ms\"", SLEEPER);
    d.wait_status("sleeper", "running", Duration::from_secs(10));
    let mut stats = Sse::open(&d, "/api/system/stream").await;
    let (name, m) = stats.next().await.unwrap();
    assert_eq!(name, "stats");
    assert!(m["data"]["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats.next().await.unwrap().0, "stats");

    let mut services = Sse::open(&d, "/api/services/stream").await;
    let (name, m) = services.next().await.unwrap();
    assert_eq!((name.as_str(), m["type"].as_str()), ("snapshot", Some("snapshot")));
    d.ok(&["restart", "sleeper"]);
    let (name, m) = services.next().await.unwrap();
    assert_eq!(name, "event");
    assert_eq!(m["data"]["event"]["service"], "sleeper");
    assert_eq!(m["data"]["event"]["to"], "stopping");
}

#[tokio::test]
async fn log_follow_streams_the_backlog_then_new_lines() {
    let d = Daemon::start(
        "[services.ticker]\ncommand = [\"sh\", \"-c\", \"echo first; while true; do echo tick $(date +%s%N); sleep 0.1; done\"]\n",
    );
    let mut follow = Sse::open(&d, "/api/services/ticker/logs?follow=true&lines=1000&stream=stdout").await;
    let (name, first) = follow.next().await.unwrap();
    assert_eq!(name, "log");
    assert_eq!(first["line"], "first");
    assert_eq!(first["stream"], "stdout");
    // Lines printed after the request keep arriving, in order.
    let mut ticks = Vec::new();
    while ticks.len() < 5 {
        let (_, l) = follow.next().await.unwrap();
        let n: u128 = l["line"].as_str().unwrap().strip_prefix("tick ").unwrap().parse().unwrap();
        ticks.push(n);
    }
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
    // The CLI follows the same stream.
    let out = tokio::task::spawn_blocking({
        let config = d.config.clone();
        move || {
            let mut child = std::process::Command::new(crate::common::BIN)
                .args(["logs", "ticker", "-f", "-n", "1", "--config"])
                .arg(config)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
            let mut lines = Vec::new();
            for _ in 0..3 {
                let mut l = String::new();
                std::io::BufRead::read_line(&mut reader, &mut l).unwrap();
                lines.push(l);
            }
            child.kill().unwrap();
            child.wait().unwrap();
            lines
        }
    })
    .await
    .unwrap();
    assert!(out.iter().all(|l| l.contains(" stdout tick ")), "{out:?}");
}

#[tokio::test]
async fn streams_close_cleanly_when_the_daemon_stops() {
    let mut d = Daemon::start(SLEEPER);
    let mut s = ws(&d, "/api/services/ws").await;
    assert_eq!(next_json(&mut s).await["type"], "snapshot");
    let mut sse = Sse::open(&d, "/api/system/stream").await;
    sse.next().await.unwrap();
    d.signal(nix::sys::signal::Signal::SIGTERM);
    // The services stream shows the shutdown, then a close frame "going away".
    let close = loop {
        let msg = timeout(Duration::from_secs(20), s.next()).await.expect("close within 20 s");
        match msg {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close frame with a code").code), 1001);
    // The SSE stream ends instead of hanging.
    let ended = timeout(Duration::from_secs(20), async { while sse.next().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the SSE stream did not end");
    assert!(d.wait_exit(Duration::from_secs(30)).success());
}

/// The typed client's streams: the services WebSocket and SSE as `ServiceUpdate`s,
/// a followed log as `LogLine`s, errors with their stable code.
#[tokio::test]
async fn the_typed_client_reads_every_kind_of_stream() {
    use ctrl_proto::ServiceUpdate;
    let d = Daemon::start_with("ws_interval = \"200ms\"", SLEEPER);
    d.wait_status("sleeper", "running", Duration::from_secs(10));
    let api = ctrl_client::Client::url(&format!("http://{}", d.api_addr()), Some(d.token()), None).unwrap();
    let mut ws = api.services_socket().await.unwrap();
    let mut sse = api.services_stream().await.unwrap();
    for first in [ws.next().await.unwrap(), sse.next().await.unwrap()] {
        match first {
            Some(ServiceUpdate::Snapshot(all)) => assert_eq!(all[0].name, "sleeper"),
            other => panic!("a snapshot first, got {other:?}"),
        }
    }
    api.control("sleeper", "restart").await.unwrap();
    for next in [ws.next().await.unwrap(), sse.next().await.unwrap()] {
        match next {
            Some(ServiceUpdate::Event(change)) => assert_eq!(change.event.to.as_str(), "stopping"),
            other => panic!("an event, got {other:?}"),
        }
    }
    let mut stats = api.stats_socket().await.unwrap();
    assert!(stats.next().await.unwrap().unwrap().memory.total_bytes > 0);
    let err = api.service("nobody").await.unwrap_err();
    assert_eq!(err.code(), Some(ctrl_proto::ErrorCode::NotFound), "{err}");
    let bad =
        ctrl_client::Client::url(&format!("http://{}", d.api_addr()), Some("wrong".into()), None).unwrap();
    assert_eq!(bad.services().await.unwrap_err().code(), Some(ctrl_proto::ErrorCode::Unauthorized));
}
