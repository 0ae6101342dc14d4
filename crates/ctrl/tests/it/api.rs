//! The HTTP API of a real daemon: every route, the envelope on every error,
//! token auth, ports, and the CLI against it with --url.

use std::time::Duration;

use crate::common::http::{Api, assert_failure, client, eventually};
use crate::common::{Daemon, fixture, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SLEEPER: &str = "[services.sleeper]\ncommand = [\"sleep\", \"1000\"]\n";

#[tokio::test]
async fn system_routes_answer_with_the_latest_sample() {
    let d = Daemon::start(SLEEPER);
    let api = Api::new(&d);
    let stats = api.data("/api/system/stats").await;
    for key in
        ["cpu", "memory", "swap", "disks", "network", "temperatures", "gpus", "uptime_s", "process_count"]
    {
        assert!(stats.get(key).is_some(), "stats lacks {key}: {stats}");
    }
    assert!(stats["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        stats["cpu"]["per_core"].as_array().unwrap().len() as u64,
        stats["cpu"]["count"].as_u64().unwrap()
    );
    assert_eq!(stats["gpus"], serde_json::json!([]), "no NVML here: an empty list, not an error");

    // The sampler runs every second: history grows and the timestamp moves.
    let first = stats["timestamp"].clone();
    eventually("a newer sample", Duration::from_secs(5), || async {
        let s = api.data("/api/system/stats").await;
        (s["timestamp"] != first).then_some(())
    })
    .await;
    let history = api.data("/api/system/history?metric=memory&range=5m").await;
    assert_eq!(history["metric"], "memory");
    assert!(!history["points"].as_array().unwrap().is_empty());
    let day = api.data("/api/system/history?metric=net_rx&range=24h").await;
    assert_eq!(day["step_s"].as_f64(), Some(60.0));

    // Processes: the service's process is attributed to it; sorting and filtering work.
    let sleeper_pid = d.wait_status("sleeper", "running", Duration::from_secs(10))["pid"].as_u64().unwrap();
    let found = eventually("the sleeper in the process list", Duration::from_secs(5), || async {
        let list = api.data("/api/system/processes?q=sleep&limit=100").await;
        list.as_array().unwrap().iter().find(|p| p["pid"] == sleeper_pid).cloned()
    })
    .await;
    assert_eq!(found["service"], "sleeper");
    assert!(found["cmdline"].as_str().unwrap().contains("sleep 1000"));
    let by_mem = api.data("/api/system/processes?sort=memory&limit=5").await;
    let mems: Vec<u64> =
        by_mem.as_array().unwrap().iter().map(|p| p["memory_bytes"].as_u64().unwrap()).collect();
    assert_eq!(mems.len(), 5);
    assert!(mems.windows(2).all(|w| w[0] >= w[1]), "{mems:?}");
    let by_pid = api.data("/api/system/processes?sort=pid&limit=3").await;
    let pids: Vec<u64> = by_pid.as_array().unwrap().iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    assert!(pids.windows(2).all(|w| w[0] < w[1]), "{pids:?}");
    let none = api.data("/api/system/processes?q=no-such-process-name-anywhere").await;
    assert_eq!(none, serde_json::json!([]));

    // The service object carries its tree's usage.
    let s = eventually("the sleeper's memory", Duration::from_secs(5), || async {
        let services = api.data("/api/services").await;
        services[0]["memory_bytes"].as_u64().is_some_and(|m| m > 0).then(|| services[0].clone())
    })
    .await;
    assert_eq!(s["name"], "sleeper");
}

#[tokio::test]
async fn ports_come_from_the_kernel_with_their_owner() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "[services.web]\ncommand = [\"python3\", \"{}\", \"{port}\"]\nport = {port}\n",
        fixture("web.py")
    ));
    let api = Api::new(&d);
    // A listener of this test process is found with our own pid.
    let mine = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let my_port = mine.local_addr().unwrap().port();
    let list = api.data(&format!("/api/system/ports?start={my_port}&end={my_port}")).await;
    let entry = &list.as_array().unwrap()[0];
    assert_eq!(entry["pid"], std::process::id());
    assert_eq!(entry["protocol"], "tcp");
    assert_eq!(entry["address"], "127.0.0.1");
    assert_eq!(entry["service"], Value::Null);
    // A UDP socket too.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let list = api.data(&format!("/api/system/ports?start={udp_port}&end={udp_port}")).await;
    assert!(
        list.as_array().unwrap().iter().any(|p| p["protocol"] == "udp" && p["pid"] == std::process::id())
    );
    // The service's listener is named after the service.
    d.wait_status("web", "ready", Duration::from_secs(10));
    let web = eventually("web's listener", Duration::from_secs(10), || async {
        let list = api.data(&format!("/api/system/ports?start={port}&end={port}")).await;
        list.as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(web["service"], "web", "{web}");
    assert_eq!(web["process"], "python3");
    drop(mine);
}

#[tokio::test]
async fn service_routes_control_the_supervisor() {
    let d = Daemon::start(&format!(
        "{SLEEPER}[services.idle]\ncommand = [\"sleep\", \"1000\"]\nautostart = false\nenv = {{ TOKEN = \"s3cret\" }}\n"
    ));
    let api = Api::new(&d);
    d.wait_status("sleeper", "running", Duration::from_secs(10));
    let one = api.data("/api/services/sleeper/status").await;
    for key in [
        "name",
        "status",
        "pid",
        "port",
        "command",
        "restarts",
        "uptime_s",
        "health",
        "exit_code",
        "cpu_percent",
        "memory_bytes",
        "created_at",
        "updated_at",
    ] {
        assert!(one.get(key).is_some(), "service lacks {key}: {one}");
    }
    let (status, body) = api.post("/api/services/idle/start").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["name"], "idle");
    d.wait_status("idle", "running", Duration::from_secs(10));

    let (status, body) = api.post("/api/services/idle/start").await;
    assert_failure(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(body["error"].as_str().unwrap().contains("already running"), "{body}");

    let (status, body) = api.post("/api/services/idle/stop").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "stopped");
    let (status, body) = api.post("/api/services/idle/stop").await;
    assert_failure(status, &body, StatusCode::CONFLICT, "conflict");

    let before = d.service("sleeper")["pid"].clone();
    let (status, _) = api.post("/api/services/sleeper/restart").await;
    assert_eq!(status, StatusCode::OK);
    let after = d.wait_status("sleeper", "running", Duration::from_secs(10))["pid"].clone();
    assert_ne!(before, after);

    // The settings as run, with env values hidden.
    let cfg = api.data("/api/services/idle/config").await;
    assert_eq!(cfg["command"], json!(["sleep", "1000"]));
    assert_eq!(cfg["autostart"], false);
    assert_eq!(cfg["env"]["TOKEN"], "***");
    assert_eq!(cfg["stop_timeout"], "10s");
    let (status, body) = api.get("/api/services/nope/config").await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");

    let events = api.data("/api/services/idle/events?limit=10").await;
    let tos: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["to"].as_str().unwrap()).collect();
    assert!(tos.ends_with(&["stopping", "stopped"]), "{tos:?}");
    for key in ["service", "from", "to", "pid", "exit_code", "signal", "reason", "at"] {
        assert!(events[0].get(key).is_some(), "event lacks {key}");
    }

    let (status, body) = api.post("/api/services/stop").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].as_array().unwrap().iter().all(|s| s["status"] == "stopped"), "{body}");
    let (status, body) = api.post("/api/services/start").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    d.wait_status("idle", "running", Duration::from_secs(10));

    // Reload: a new service appears, the running ones keep their pid.
    let pid = d.service("sleeper")["pid"].clone();
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, format!("{text}\n[services.added]\ncommand = [\"sleep\", \"1000\"]\n"))
        .unwrap();
    let report = {
        let (status, body) = api.post("/api/reload").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    };
    assert_eq!(report["added"], serde_json::json!(["added"]));
    assert_eq!(d.service("sleeper")["pid"], pid);
    std::fs::write(&d.config, format!("{text}\n[services.added]\ncommand = 7\n")).unwrap();
    let (status, body) = api.post("/api/reload").await;
    assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(body["error"].as_str().unwrap().contains("services.added.command"), "{body}");
}

#[tokio::test]
async fn logs_route_reads_the_last_lines() {
    let d = Daemon::start(
        "[services.talk]\ncommand = [\"sh\", \"-c\", \"echo one; echo two >&2; echo three; sleep 1000\"]\n",
    );
    let api = Api::new(&d);
    let all = eventually("three lines", Duration::from_secs(10), || async {
        let v = api.data("/api/services/talk/logs?lines=10").await;
        (v.as_array().unwrap().len() == 3).then_some(v)
    })
    .await;
    let texts: Vec<&str> = all.as_array().unwrap().iter().map(|l| l["line"].as_str().unwrap()).collect();
    assert!(texts.contains(&"two"));
    let out = api.data("/api/services/talk/logs?lines=1&stream=stdout").await;
    assert_eq!(out, serde_json::json!([{"ts": out[0]["ts"], "stream": "stdout", "line": "three"}]));
}

#[tokio::test]
async fn every_bad_request_gets_the_envelope_and_a_4xx() {
    let d = Daemon::start(SLEEPER);
    let api = Api::new(&d);
    let cases: &[(&str, &str, StatusCode, &str)] = &[
        ("GET", "/api/services/nope/status", StatusCode::NOT_FOUND, "not_found"),
        ("POST", "/api/services/nope/start", StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/api/services/nope/logs", StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/api/services/nope/events", StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/api/services/sleeper/logs?lines=abc", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/services/sleeper/logs?lines=100001", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/services/sleeper/logs?stream=both", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/services/sleeper/logs?follow=maybe", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/services/sleeper/events?limit=0", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/services/sleeper/events?limit=-1", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/processes?limit=0", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/processes?limit=99999999999", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/processes?sort=colour", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/history", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/history?metric=disk", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/history?metric=cpu&range=forever", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/history?metric=cpu&range=25h", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/ports?start=9000&end=80", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/ports?start=70000", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/system/ws", StatusCode::BAD_REQUEST, "bad_request"),
        ("GET", "/api/services/%FF%FE/status", StatusCode::BAD_REQUEST, "bad_request"),
        ("DELETE", "/api/services", StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        ("GET", "/api/services/sleeper/start", StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        ("GET", "/api/no/such/route", StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/nothing-here", StatusCode::NOT_FOUND, "not_found"),
    ];
    for (method, path, want, code) in cases {
        let (status, body) = api.call(method.parse().unwrap(), path).await;
        assert_failure(status, &body, *want, code);
    }
    // An oversized body is refused before it is read.
    let res = client()
        .post(d.url("/api/reload"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_failure(status, &res.json().await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // A body is a JSON object: an array is refused, even where every field is optional.
    for body in ["[null, null]", "  [\"web\"]", "null"] {
        let res = client()
            .post(d.url("/api/hosts"))
            .bearer_auth(&api.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        assert_failure(status, &res.json().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    // The daemon is still fine.
    assert_eq!(api.data("/api/services").await[0]["name"], "sleeper");
}

#[tokio::test]
async fn api_routes_need_the_token_and_public_ones_do_not() {
    let d = Daemon::start(SLEEPER);
    let http = client();
    let token = d.token();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.path("state/token")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let mut answers = Vec::new();
    for (auth, path) in [
        (None, "/api/services"),
        (Some("Bearer wrong"), "/api/services"),
        (Some(&*format!("Bearer {}x", token)), "/api/system/stats"),
        (Some(&*format!("Basic {token}")), "/api"),
        (None, "/api/system/ws"),
        (None, "/api/system/stream"),
        (None, "/api/services/sleeper/logs?follow=true"),
        (None, "/metrics"),
    ] {
        let mut req = http.get(d.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_failure(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        answers.push(body);
    }
    // Missing and wrong tokens get the same answer: no hint which part was wrong.
    assert!(answers.windows(2).all(|w| w[0] == w[1]));

    let ok = |res: reqwest::Response| async move {
        let status = res.status();
        (status, res.text().await.unwrap())
    };
    let (status, _) = ok(http.get(d.url("/api/services")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // A token in the URL is taken only where browsers cannot send a header: the streams.
    let (status, _) =
        ok(http.get(d.url(&format!("/api/services?token={token}"))).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let res = http.get(d.url(&format!("/api/system/stream?token={token}"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(res);

    // Public: the health check, the docs and the root page.
    let health: Value = http.get(d.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["success"], true);
    let h = &health["data"];
    assert_eq!((h["status"].as_str(), h["db"].as_str()), (Some("ok"), Some("ok")));
    assert_eq!(h["services_total"], 1);
    assert!(h["uptime_s"].as_u64().is_some());
    for path in ["/", "/docs/", "/docs/swagger-ui.css", "/redoc", "/redoc-assets/redoc.standalone.js"] {
        let (status, body) = ok(http.get(d.url(path)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!body.is_empty());
    }
    // The tab's icon, where browsers look for it and where the pages name it.
    for path in ["/favicon.ico", "/assets/favicon.svg"] {
        let res = http.get(d.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["content-type"], "image/svg+xml", "{path}");
        assert!(res.text().await.unwrap().starts_with("<svg"), "{path}");
    }
    let page = http.get(d.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<link rel="icon" href="/assets/favicon.svg""#));
    let spec: Value = http.get(d.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in
        ["/api/system/stats", "/api/system/processes", "/api/services/{name}/start", "/health", "/api/reload"]
    {
        assert!(spec["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    // A release build serves the document this debug build describes live: the
    // file it reads must be this one.
    let file = format!("{}/../ctrl-api/openapi.json", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("CTRL_WRITE_OPENAPI").is_some() {
        std::fs::write(&file, serde_json::to_string_pretty(&spec).unwrap() + "\n").unwrap();
    }
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(
        kept == spec,
        "crates/ctrl-api/openapi.json is not the API's document: rewrite it with \
         CTRL_WRITE_OPENAPI=1 cargo test -p ctrl --test it api::"
    );
    // The bundles are kept compressed: sent as they are to clients that take zstd,
    // unpacked for the others; the same text either way.
    let url = d.url("/docs/swagger-ui-bundle.js");
    let plain = http.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 1_000_000 && std::str::from_utf8(&plain).is_ok());
    let packed = http.get(&url).header("accept-encoding", "gzip, zstd").send().await.unwrap();
    assert_eq!(packed.headers()["content-encoding"], "zstd");
    assert_eq!(packed.headers()["vary"], "accept-encoding");
    let packed = packed.bytes().await.unwrap();
    assert!(packed.len() < plain.len() / 3);
    assert_eq!(zstd::stream::decode_all(packed.as_ref()).unwrap(), plain.as_ref());
    // Docs load nothing from the network.
    let redoc = http.get(d.url("/redoc")).send().await.unwrap().text().await.unwrap();
    assert!(!redoc.contains("cdn.") && !redoc.contains("https://"), "redoc page refers to the network");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let d = Daemon::start(SLEEPER);
    let api = Api::new(&d);
    d.wait_status("sleeper", "running", Duration::from_secs(10));
    let _ = api.get("/api/services/nope/status").await;
    let text = eventually("the sleeper's memory in /metrics", Duration::from_secs(5), || async {
        api.data("/api/services").await;
        let req = client().get(d.url("/metrics")).bearer_auth(&api.token);
        let text = req.send().await.unwrap().text().await.unwrap();
        text.contains("ctrl_service_memory_bytes{service=\"sleeper\"}").then_some(text)
    })
    .await;
    for needle in [
        "ctrl_host_memory_total_bytes ",
        "ctrl_service_up{service=\"sleeper\"} 1",
        "ctrl_service_state{service=\"sleeper\",state=\"running\"} 1",
        "ctrl_service_restarts{service=\"sleeper\"} 0",
        "ctrl_service_memory_bytes{service=\"sleeper\"}",
        "ctrl_http_requests_total{method=\"GET\",route=\"/api/services\",status=\"200\"}",
        "ctrl_http_requests_total{method=\"GET\",route=\"/api/services/{name}/status\",status=\"404\"} 1",
        "ctrl_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/services\",le=\"0.005\"}",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
}

#[test]
fn the_cli_talks_to_a_remote_daemon_with_url_and_token() {
    let d = Daemon::start(SLEEPER);
    d.wait_status("sleeper", "running", Duration::from_secs(10));
    let url = d.url("");
    let token = d.token();
    let remote = |args: &[&str], token: &str| {
        std::process::Command::new(crate::common::BIN)
            .args(args)
            .env("CTRL_URL", &url)
            .env("CTRL_TOKEN", token)
            .env("CTRL_STATE_DIR", "/nonexistent")
            .output()
            .unwrap()
    };
    let o = remote(&["status", "--json"], &token);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["name"], "sleeper");
    let o = remote(&["status"], "wrong");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("authentication required"));

    let o = remote(&["stats", "--json"], &token);
    let stats: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(stats["memory"]["total_bytes"].as_u64().unwrap() > 0);
    let o = remote(&["ps", "--json", "-n", "3", "--sort", "memory"], &token);
    let ps: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ps.as_array().unwrap().len(), 3);
    let port = d.api_addr().rsplit_once(':').unwrap().1.to_owned();
    let o = remote(&["ports", "--json", "--start", &port, "--end", &port], &token);
    let ports: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ports[0]["pid"], d.pid());
    assert_eq!(ports[0]["process"], "ctrl");
    let o = remote(&["stop", "sleeper"], &token);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.service("sleeper")["status"], "stopped");

    // Tables for people, through the local socket.
    let table = d.ok(&["ps", "-n", "5"]);
    assert!(table.starts_with("PID "), "{table}");
    assert_eq!(table.lines().count(), 6);
    let stats = d.ok(&["stats"]);
    assert!(stats.starts_with("cpu "), "{stats}");
    let frames = d.ok(&["watch", "--frames", "2", "--interval", "100ms"]);
    // Frame headers only: the watch process itself may be in the process list.
    assert_eq!(frames.lines().filter(|l| l.starts_with("ctrl watch ")).count(), 2, "{frames}");
    assert!(frames.contains("sleeper"));
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let d = Daemon::start_with("cors_origins = [\"http://localhost:3000\"]", SLEEPER);
    let http = client();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, d.url("/api/services"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://localhost:3000");
    let other = preflight("http://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn repeated_process_queries_follow_new_samples() {
    let d = Daemon::start_with("[monitor]\nsample_interval = \"100ms\"", "");
    let api = Api::new(&d);
    let first = api.data("/api/system/processes?sort=pid&limit=1000").await;
    assert!(first.as_array().unwrap().iter().any(|p| p["pid"] == d.pid()));
    // A process started now shows up once a new sample is taken, through the same query.
    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    eventually("the new process in the cached query", Duration::from_secs(5), || async {
        let list = api.data("/api/system/processes?sort=pid&limit=1000").await;
        list.as_array().unwrap().iter().any(|p| p["pid"] == pid).then_some(())
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
}
