//! A requested start, restart or stop answers with its outcome: up (ready, or
//! alive for its start window), or failed with the reason (the port's holder,
//! or the exit and the last lines of stderr) and not retried behind the back of
//! the person who asked. The CLI exits non-zero on a failure, as `systemctl start`.

use std::time::Duration;

use reqwest::StatusCode;

use crate::common::http::{Api, assert_failure};
use crate::common::{Daemon, fixture, free_port};

const SERVICES: &str = r#"
[services.broken]
command = ["sh", "-c", "echo 'config.yaml: no such file' >&2; echo 'giving up' >&2; exit 3"]
autostart = false
restart = "always"

[services.idle]
command = ["sleep", "3600"]
autostart = false
start_window = "300ms"

[services.once]
command = ["true"]
autostart = false
restart = "on-failure"
"#;

#[tokio::test]
async fn a_start_answers_up_or_why_not_and_a_failed_start_is_not_retried() {
    let (port, web_port) = (free_port(), free_port());
    let d = Daemon::start(&format!(
        "{SERVICES}\n[services.taken]\ncommand = [\"sleep\", \"3600\"]\nport = {port}\nautostart = false\n\n\
         [services.web]\ncommand = [\"python3\", \"{}\", \"{web_port}\"]\nport = {web_port}\nautostart = false\n\
         readiness = {{ http = \"http://127.0.0.1:{web_port}/health\", interval = \"100ms\" }}\n",
        fixture("web.py")
    ));
    let api = Api::new(&d);

    // Up: a plain service once alive for its start window, one with a readiness
    // probe once ready, a one-shot once completed.
    let (code, body) = api.post("/api/services/idle/start").await;
    assert_eq!((code, body["data"]["status"].as_str()), (StatusCode::OK, Some("running")), "{body}");
    let (code, body) = api.post("/api/services/web/start").await;
    assert_eq!((code, body["data"]["status"].as_str()), (StatusCode::OK, Some("ready")), "{body}");
    let (code, body) = api.post("/api/services/once/start").await;
    assert_eq!((code, body["data"]["status"].as_str()), (StatusCode::OK, Some("completed")), "{body}");

    // The port is held (by this test): 409 port_in_use naming the holder; fatal, no retry loop.
    let holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, body) = api.post("/api/services/taken/start").await;
    assert_failure(code, &body, StatusCode::CONFLICT, "port_in_use");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains(&format!("port {port} is already in use by pid {}", std::process::id())), "{msg}");
    let taken = d.service("taken");
    assert_eq!(taken["status"], "fatal", "{taken}");
    assert!(taken["reason"].as_str().unwrap().contains("not restarted"), "{taken}");
    drop(holder);

    // It exits during start-up: 422 start_failed with its exit and stderr; fatal, no retry loop.
    let (code, body) = api.post("/api/services/broken/start").await;
    assert_failure(code, &body, StatusCode::UNPROCESSABLE_ENTITY, "start_failed");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("exited with code 3 during start-up"), "{msg}");
    assert!(
        msg.contains("config.yaml: no such file") && msg.contains("giving up"),
        "the last stderr lines: {msg}"
    );
    let broken = d.service("broken");
    assert_eq!(
        (broken["status"].as_str(), broken["restarts"].as_u64()),
        (Some("fatal"), Some(0)),
        "{broken}"
    );
    let events: Vec<String> =
        d.events("broken").iter().map(|e| e["to"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["starting", "running", "fatal"], "one try, no backoff");

    // A restart reports the same way.
    let (code, body) = api.post("/api/services/broken/restart").await;
    assert_failure(code, &body, StatusCode::UNPROCESSABLE_ENTITY, "start_failed");

    // Not waiting: 202 at once, the start going on.
    d.ok(&["stop", "idle"]);
    let (code, body) = api.post("/api/services/idle/start?wait=false").await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert!(matches!(body["data"]["status"].as_str(), Some("starting" | "running")), "{body}");
    let (code, body) = api.post("/api/services/idle/restart?timeout=forever").await;
    assert_failure(code, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    // A start nobody waits on is left to the restart policy: it backs off and retries.
    let (code, _) = api.post("/api/services/broken/start?wait=false").await;
    assert_eq!(code, StatusCode::ACCEPTED);
    d.wait_status("broken", "backoff", Duration::from_secs(10));
    d.ok(&["stop", "broken"]);

    // The CLI prints the outcome and exits non-zero on a failure.
    let out = d.ctl(&["start", "broken"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exited with code 3 during start-up") && err.contains("giving up"), "{err}");
    d.ok(&["stop", "web"]);
    assert_eq!(d.ok(&["start", "web"]).trim(), "web: ready");
    assert_eq!(d.ok(&["restart", "idle", "--timeout", "5s"]).trim(), "idle: running");
}
