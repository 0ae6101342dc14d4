//! Stopping: the stop signal to the whole group, then SIGKILL; shutdown order.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn stop_escalates_to_sigkill_of_the_whole_tree() {
    let d = Daemon::start(&format!(
        "[services.tree]\ncommand = [\"sh\", \"{}\", \"pids\"]\ncwd = \".\"\nstop_timeout = \"700ms\"\n",
        fixture("tree.sh")
    ));
    let pids = tree_pids(&d);
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");
    let leader = d.service("tree")["pid"].as_u64().unwrap() as u32;
    assert_eq!(pids[2], leader);
    let t = Instant::now();
    let out = d.ok(&["stop", "tree"]);
    let took = t.elapsed();
    assert!(out.contains("tree: stopped"), "{out}");
    assert!(
        took >= Duration::from_millis(650),
        "SIGTERM was ignored, so the stop waits for the timeout ({took:?})"
    );
    for p in &pids {
        assert!(!alive(*p), "pid {p} survived the stop");
    }
    let events = d.events("tree");
    let kill =
        events.iter().find(|e| e["reason"].as_str().is_some_and(|r| r.contains("sent SIGKILL"))).unwrap();
    assert_eq!(kill["to"], "stopping");
    let last = events.last().unwrap();
    assert_eq!((last["to"].as_str(), last["signal"].as_str()), (Some("stopped"), Some("SIGKILL")));
}

#[test]
fn sigterm_to_the_daemon_stops_everything_in_reverse_dependency_order() {
    let mut d = Daemon::start(
        "[services.db]\ncommand = [\"sleep\", \"1000\"]\n\
         [services.api]\ncommand = [\"sleep\", \"1000\"]\ndepends_on = { db = \"started\" }\n\
         [services.web]\ncommand = [\"sleep\", \"1000\"]\ndepends_on = { api = \"started\" }\n",
    );
    for s in ["db", "api", "web"] {
        d.wait_status(s, "running", Duration::from_secs(10));
    }
    let pids: Vec<u32> =
        ["db", "api", "web"].iter().map(|s| d.service(s)["pid"].as_u64().unwrap() as u32).collect();
    let status = d.stop();
    assert!(status.success(), "daemon exit: {status:?}");
    for p in pids {
        assert!(!alive(p), "pid {p} outlived the daemon");
    }
    // The order is visible in the daemon's console output: web, then api, then db.
    let log = d.log();
    let pos = |s: &str| {
        log.find(&format!("{s:<16}  stopped")).unwrap_or_else(|| panic!("no stop of {s} in\n{log}"))
    };
    assert!(pos("web") < pos("api") && pos("api") < pos("db"), "{log}");
}

#[test]
fn a_second_signal_kills_at_once() {
    let mut d = Daemon::start(&format!(
        "[services.stubborn]\ncommand = [\"sh\", \"{}\", \"pids\"]\ncwd = \".\"\nstop_timeout = \"120s\"\n",
        fixture("tree.sh")
    ));
    let pids = tree_pids(&d);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    wait("the stop to begin", Duration::from_secs(20), || {
        d.log().contains("stopping every service").then_some(())
    });
    d.signal(nix::sys::signal::Signal::SIGINT);
    // Without the second signal this would wait out the 120 s stop timeout.
    let status = d.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    for p in pids {
        assert!(!alive(p), "pid {p} survived");
    }
}
