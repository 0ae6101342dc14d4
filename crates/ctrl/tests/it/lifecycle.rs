//! Reload applies only the difference; a killed daemon's children are killed or adopted.

use std::time::Duration;

use crate::common::*;

fn pid_of(d: &Daemon, name: &str) -> u64 {
    d.wait_status(name, "running", Duration::from_secs(10))["pid"].as_u64().unwrap()
}

#[test]
fn reload_touches_only_changed_services() {
    let d = Daemon::start(
        "[services.same]\ncommand = [\"sleep\", \"1000\"]\n\
         [services.changed]\ncommand = [\"sleep\", \"1000\"]\nenv = { V = \"1\" }\n\
         [services.removed]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let (same, changed, removed) = (pid_of(&d, "same"), pid_of(&d, "changed"), pid_of(&d, "removed"));
    std::fs::write(
        &d.config,
        "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[services.same]\ncommand = [\"sleep\", \"1000\"]\n\
         [services.changed]\ncommand = [\"sleep\", \"1000\"]\nenv = { V = \"2\" }\n\
         [services.added]\ncommand = [\"sleep\", \"1000\"]\n",
    )
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&d.ok(&["reload", "--json"])).unwrap();
    assert_eq!(report["added"], serde_json::json!(["added"]));
    assert_eq!(report["removed"], serde_json::json!(["removed"]));
    assert_eq!(report["changed"], serde_json::json!(["changed"]));
    assert_eq!(report["unchanged"], serde_json::json!(["same"]));
    assert_eq!(pid_of(&d, "same"), same, "an unchanged service keeps its process");
    assert_ne!(pid_of(&d, "changed"), changed);
    pid_of(&d, "added");
    assert!(!alive(removed as u32));
    assert!(!alive(changed as u32));
    let names: Vec<String> = d.services().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["added", "changed", "same"]);
    // The new env reached the new process.
    let environ = std::fs::read(format!("/proc/{}/environ", pid_of(&d, "changed"))).unwrap();
    assert!(environ.split(|b| *b == 0).any(|kv| kv == b"V=2"));
}

#[test]
fn bad_config_on_reload_changes_nothing() {
    let d = Daemon::start("[services.a]\ncommand = [\"sleep\", \"1000\"]\n");
    let pid = pid_of(&d, "a");
    std::fs::write(&d.config, "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n[services.a]\ncommand = [\"sleep\", \"1000\"]\nrestart = \"sometimes\"\n")
        .unwrap();
    let o = d.ctl(&["reload"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ctrl.toml:6:11: services.a.restart: unknown variant 'sometimes'"), "{err}");
    assert_eq!(pid_of(&d, "a"), pid);
}

#[test]
fn sighup_reloads() {
    let d = Daemon::start("[services.a]\ncommand = [\"sleep\", \"1000\"]\n");
    pid_of(&d, "a");
    std::fs::write(
        &d.config,
        "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n[services.b]\ncommand = [\"sleep\", \"1000\"]\n",
    )
    .unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.pid() as i32), nix::sys::signal::Signal::SIGHUP)
        .unwrap();
    wait("b to appear", Duration::from_secs(10), || {
        d.services().iter().any(|s| s["name"] == "b").then_some(())
    });
    pid_of(&d, "b");
    assert!(d.services().iter().all(|s| s["name"] != "a"));
}

#[test]
fn orphans_of_a_killed_daemon_are_killed_by_default() {
    let mut d = Daemon::start(&format!(
        "[services.tree]\ncommand = [\"sh\", \"{}\", \"pids\"]\ncwd = \".\"\nstop_timeout = \"300ms\"\n",
        fixture("tree.sh")
    ));
    let pids = tree_pids(&d);
    d.kill9();
    assert!(pids.iter().all(|p| alive(*p)), "the services outlive a SIGKILLed daemon");
    std::fs::remove_file(d.path("pids")).unwrap();
    d.up();
    let fresh = wait("the new start", Duration::from_secs(10), || {
        let p = pids_in(&d.path("pids"));
        (p.len() == 3).then_some(p)
    });
    for p in &pids {
        assert!(!alive(*p), "orphan {p} of the old daemon is still alive");
    }
    assert_eq!(d.service("tree")["pid"].as_u64(), Some(u64::from(fresh[2])));
}

#[test]
fn orphans_can_be_adopted_and_then_stopped() {
    let mut d = Daemon::start("[services.keep]\ncommand = [\"sleep\", \"1000\"]\non_orphan = \"adopt\"\n");
    let pid = pid_of(&d, "keep");
    d.kill9();
    d.up();
    let s = d.wait_status("keep", "running", Duration::from_secs(10));
    assert_eq!(s["pid"].as_u64(), Some(pid), "the same process, adopted");
    assert_eq!(s["reason"], "adopted from the previous daemon");
    // The adopted process is watched: its death is seen and handled by the restart policy.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let again = wait("a restart after the adopted process died", Duration::from_secs(10), || {
        let s = d.service("keep");
        (s["status"] == "running" && s["pid"].as_u64() != Some(pid)).then_some(s)
    });
    d.ok(&["stop", "keep"]);
    assert!(!alive(again["pid"].as_u64().unwrap() as u32));
}

#[test]
fn a_waiting_dependent_follows_its_dependency_across_a_reload() {
    let base = "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[services.app]\ncommand = [\"sleep\", \"1000\"]\n\
                depends_on = { db = \"healthy\" }\n[services.db]\ncommand = [\"sleep\", \"1000\"]\n";
    let d = Daemon::start(&format!(
        "{}readiness = {{ exec = [\"test\", \"-e\", \"never\"], interval = \"100ms\" }}\n",
        base.trim_start_matches("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n")
    ));
    let app = d.wait_status("app", "starting", Duration::from_secs(5));
    assert_eq!(app["reason"], "waiting for db to be healthy (db is running)");
    // The new db has no readiness probe: running is healthy.
    std::fs::write(&d.config, base).unwrap();
    d.ok(&["reload"]);
    d.wait_status("app", "running", Duration::from_secs(10));
}

#[test]
fn a_crashed_instances_helper_never_blocks_the_port_of_the_next() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "[services.web]\ncommand = [\"sh\", \"-c\", \"python3 -m http.server {port} --bind 127.0.0.1 & sleep 0.5; exit 1\"]\n\
         port = {port}\nrestart = \"always\"\nbackoff = {{ initial = \"0ms\", max = \"0ms\" }}\n\
         start_limit = {{ burst = 100, interval = \"60s\" }}\nstop_timeout = \"3s\"\n"
    ));
    let runs = |events: &[serde_json::Value]| events.iter().filter(|e| e["to"] == "running").count();
    let events = wait("four runs", Duration::from_secs(30), || {
        let events = d.events("web");
        (runs(&events) >= 4).then_some(events)
    });
    let blocked: Vec<_> = events
        .iter()
        .filter(|e| e["reason"].as_str().is_some_and(|r| r.contains("already in use")))
        .collect();
    assert!(blocked.is_empty(), "the old helper held the port: {blocked:?}");
}
