//! Restart on crash: backoff timing, the start limit, and no zombies.

use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, Utc};
use serde_json::Value;

fn at(e: &Value) -> DateTime<Utc> {
    e["at"].as_str().unwrap().parse().unwrap()
}

#[test]
fn crash_restarts_with_growing_backoff() {
    let d = Daemon::start(&format!(
        "[services.crashy]\ncommand = [\"sh\", \"{}\", \"3\"]\nrestart = \"on-failure\"\n\
         backoff = {{ initial = \"200ms\", max = \"2s\" }}\nstart_limit = {{ burst = 100, interval = \"60s\" }}\n",
        fixture("crash.sh")
    ));
    wait("four restarts", Duration::from_secs(20), || {
        (d.service("crashy")["restarts"].as_u64() >= Some(4)).then_some(())
    });
    let events = d.events("crashy");
    // Each exit is followed by backoff and a new start; the gap doubles: 200, 400, 800, 1600 ms (-20% jitter).
    let exits: Vec<&Value> = events.iter().filter(|e| e["to"] == "exited").collect();
    assert!(exits.iter().all(|e| e["exit_code"] == 3), "{exits:?}");
    let mut gaps = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e["to"] == "exited"
            && let Some(next) = events[i..].iter().find(|n| n["to"] == "running")
        {
            gaps.push((at(next) - at(e)).num_milliseconds());
        }
    }
    assert!(gaps.len() >= 4, "{events:?}");
    for (i, gap) in gaps.iter().take(4).enumerate() {
        let want = 200i64 << i;
        assert!(
            *gap >= want * 8 / 10 && *gap < want + 400,
            "restart {i}: waited {gap} ms, expected about {want} ms"
        );
    }
}

#[test]
fn start_limit_makes_it_fatal_until_a_manual_start() {
    let d = Daemon::start(&format!(
        "[services.loop]\ncommand = [\"sh\", \"{}\"]\nrestart = \"always\"\n\
         backoff = {{ initial = \"0ms\", max = \"0ms\" }}\nstart_limit = {{ burst = 3, interval = \"60s\" }}\n\
         [services.calm]\ncommand = [\"sleep\", \"1000\"]\n",
        fixture("crash.sh")
    ));
    let s = d.wait_status("loop", "fatal", Duration::from_secs(10));
    assert!(s["reason"].as_str().unwrap().contains("start limit reached: 3 starts within 1m"), "{s}");
    assert_eq!(s["restarts"], 2);
    // The crash loop did not disturb the other service.
    let calm = d.service("calm");
    assert_eq!(calm["status"], "running");
    // Fatal stays fatal…
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.service("loop")["status"], "fatal");
    // …until started by hand, which clears the limit; a start that fails again
    // says so, and is not retried.
    let o = d.ctl(&["start", "loop"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exited with code 1 during start-up; not restarted"), "{err}");
    let events = d.events("loop");
    assert!(events.iter().any(|e| e["from"] == "fatal" && e["to"] == "starting"), "{events:?}");
    let s = d.service("loop");
    assert_eq!((s["status"].as_str(), s["restarts"].as_u64()), (Some("fatal"), Some(2)), "{s}");
    let o = d.ctl(&["start", "calm"]);
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim(), "ctrl: calm: service is already running");
}

#[test]
fn thousands_of_restarts_leave_no_zombies() {
    let d = Daemon::start(
        "[services.blink]\ncommand = [\"true\"]\nrestart = \"always\"\n\
         backoff = { initial = \"0ms\", max = \"0ms\" }\nstart_limit = { burst = 1000000, interval = \"1s\" }\n\
         log = { format = \"raw\" }\n",
    );
    wait("2000 restarts", Duration::from_secs(60), || {
        (d.service("blink")["restarts"].as_u64() >= Some(2000)).then_some(())
    });
    d.ok(&["stop", "blink"]);
    let daemon = d.pid();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] == "Z" && fields[1] == daemon.to_string() {
            zombies.push(entry.file_name());
        }
    }
    assert!(zombies.is_empty(), "zombie children of the daemon: {zombies:?}");
    // Every restart is in the event log: the last 1000 events are whole cycles.
    let events = d.events("blink");
    assert_eq!(events.len(), 1000);
    assert!(events.iter().filter(|e| e["to"] == "running").count() >= 240);
    assert_eq!(events.last().unwrap()["to"], "stopped");
}
