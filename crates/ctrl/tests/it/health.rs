//! Dependencies with conditions, readiness and liveness probes, port conflicts.

use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, Utc};
use serde_json::Value;

fn first(events: &[Value], to: &str) -> DateTime<Utc> {
    let e = events.iter().find(|e| e["to"] == to).unwrap_or_else(|| panic!("no {to} in {events:?}"));
    e["at"].as_str().unwrap().parse().unwrap()
}

#[test]
fn dependencies_wait_for_completed_and_healthy() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "[services.setup]\ncommand = \"sh -c 'sleep 0.5; echo prepared'\"\n\
         [services.web]\ncommand = [\"python3\", \"{web}\", \"{port}\"]\nport = {port}\n\
         depends_on = {{ setup = \"completed\" }}\n\
         readiness = {{ http = \"http://127.0.0.1:{port}/health\", interval = \"200ms\" }}\n\
         [services.worker]\ncommand = [\"sleep\", \"1000\"]\ndepends_on = {{ web = \"healthy\", setup = \"completed\" }}\n",
        web = fixture("web.py")
    ));
    d.wait_status("worker", "running", Duration::from_secs(15));
    let (setup, web, worker) = (d.events("setup"), d.events("web"), d.events("worker"));
    let setup_done = first(&setup, "completed");
    assert!(first(&web, "running") >= setup_done);
    let web_ready = first(&web, "ready");
    assert!(first(&worker, "running") >= web_ready, "worker ran before web was healthy");
    assert_eq!(d.service("setup")["exit_code"], 0);
    assert_eq!(d.service("web")["health"], "healthy");
    // While waiting, the reason said what for.
    let waiting = worker.iter().find(|e| e["to"] == "starting").unwrap();
    assert_eq!(waiting["reason"], "autostart");
}

#[test]
fn readiness_and_liveness_fail_and_recover() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "[services.web]\ncommand = [\"python3\", \"{web}\", \"{port}\"]\ncwd = \".\"\n\
         readiness = {{ http = \"http://127.0.0.1:{port}/health\", interval = \"100ms\", failure_threshold = 2 }}\n\
         liveness = {{ exec = [\"test\", \"!\", \"-e\", \"kill-me\"], interval = \"100ms\", timeout = \"3s\", failure_threshold = 3 }}\n",
        web = fixture("web.py")
    ));
    let ready = d.wait_status("web", "ready", Duration::from_secs(10));
    let pid = ready["pid"].clone();
    // Readiness fails: ready -> running, unhealthy; the process is kept.
    std::fs::write(d.path("sick"), "").unwrap();
    let s = d.wait_status("web", "running", Duration::from_secs(5));
    assert_eq!((s["health"].as_str(), &s["pid"]), (Some("unhealthy"), &pid));
    assert!(s["reason"].as_str().unwrap().starts_with("readiness failed: http http://127.0.0.1:"), "{s}");
    assert!(s["reason"].as_str().unwrap().contains("HTTP 503"), "{s}");
    // …and recovers.
    std::fs::remove_file(d.path("sick")).unwrap();
    let s = d.wait_status("web", "ready", Duration::from_secs(5));
    assert_eq!(s["pid"], pid);
    // Liveness fails: the service is restarted with the reason recorded.
    std::fs::write(d.path("kill-me"), "").unwrap();
    wait("a liveness restart", Duration::from_secs(10), || {
        d.events("web")
            .into_iter()
            .find(|e| e["reason"].as_str().is_some_and(|r| r.starts_with("liveness failed: exec test")))
    });
    std::fs::remove_file(d.path("kill-me")).unwrap();
    let s = d.wait_status("web", "ready", Duration::from_secs(10));
    assert_ne!(s["pid"], pid, "a new process after the liveness restart");
    assert_eq!(s["restarts"], 1);
}

#[test]
fn port_taken_by_another_process_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let d = Daemon::start(&format!(
        "[services.web]\ncommand = [\"sleep\", \"1000\"]\nport = {port}\nrestart = \"never\"\n\
         [services.other]\ncommand = [\"sleep\", \"1000\"]\n"
    ));
    let s = d.wait_status("web", "exited", Duration::from_secs(10));
    let me = std::process::id();
    let want = format!("port {port} is already in use by pid {me} (");
    assert!(s["reason"].as_str().unwrap().starts_with(&want), "{s}");
    assert_eq!(d.service("other")["status"], "running");
    let events = d.events("web");
    assert!(events.iter().any(|e| e["reason"].as_str().is_some_and(|r| r.starts_with(&want))), "{events:?}");
    // Once the port is free, a manual start works.
    drop(holder);
    d.ok(&["start", "web"]);
    d.wait_status("web", "running", Duration::from_secs(5));
}

#[test]
fn missing_executable_and_cwd_are_visible_and_others_keep_running() {
    let d = Daemon::start(
        "[services.ghost]\ncommand = [\"no-such-program-xyz\"]\nrestart = \"never\"\n\
         [services.nowhere]\ncommand = [\"sleep\", \"1\"]\ncwd = \"does/not/exist\"\nrestart = \"never\"\n\
         [services.fine]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let g = d.wait_status("ghost", "exited", Duration::from_secs(5));
    assert_eq!(g["reason"], "command 'no-such-program-xyz' was not found in PATH");
    let n = d.wait_status("nowhere", "exited", Duration::from_secs(5));
    assert!(n["reason"].as_str().unwrap().ends_with("does/not/exist does not exist"), "{n}");
    assert_eq!(d.service("fine")["status"], "running");
}
