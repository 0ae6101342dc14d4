//! `ctrl up` as a container's PID 1 (in a new PID namespace, as `unshare --pid
//! --fork --mount-proc` makes one) and as child subreaper in every run: a
//! service's daemonising grandchild (`setsid`, its parent gone) comes to ctrl,
//! counts in its service and dies with its stop; orphans that exit are reaped.

use std::time::Duration;

use crate::common::{Daemon, alive, wait};

/// Two services: one whose grandchild daemonises (`sleep {long}`), one whose
/// children leave orphans that exit (`sleep {short}`). The numbers tell one
/// test's processes from another's.
fn services(long: &str, short: &str) -> String {
    format!(
        "[services.forker]\ncommand = [\"sh\", \"-c\", \"setsid -f sleep {long}; exec sleep 1000\"]\n\n\
         [services.litter]\ncommand = [\"sh\", \"-c\", \"for i in 1 2 3 4 5; do (sleep {short} &); done; exec sleep 1000\"]\n"
    )
}

/// The pids whose command line is exactly `cmd`.
fn pids_running(cmd: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&line).replace('\0', " ").trim() == cmd && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// A field of `/proc/PID/status`.
fn status_field(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).unwrap_or_default().trim().to_owned()
}

/// The states of `pid`'s children (`Z` for a zombie).
fn child_states(pid: u32) -> Vec<char> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for kid in kids.split_whitespace() {
            let stat = std::fs::read_to_string(format!("/proc/{kid}/stat")).unwrap_or_default();
            if let Some((_, rest)) = stat.rsplit_once(')') {
                out.extend(rest.trim_start().chars().next());
            }
        }
    }
    out
}

/// What both runs must show: the grandchild is the daemon's and the service's,
/// no zombie stays, and the service's stop takes the grandchild.
fn strays_are_reaped_counted_and_stopped(d: &Daemon, long: &str, short: &str) {
    let ctrl = d.pid();
    d.wait_status("forker", "running", Duration::from_secs(10));
    d.wait_status("litter", "running", Duration::from_secs(10));
    let grandchild = wait("the daemonised grandchild", Duration::from_secs(10), || {
        pids_running(&format!("sleep {long}")).first().copied()
    });
    assert_eq!(status_field(grandchild, "PPid"), ctrl.to_string(), "re-parented to ctrl, not to init");
    // It counts in its service: the process list names it.
    wait("the grandchild listed under forker", Duration::from_secs(10), || {
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&d.ok(&["ps", "-q", long, "-n", "50", "--json"])).unwrap_or_default();
        let cmdline = format!("sleep {long}");
        list.iter().any(|p| p["cmdline"] == cmdline && p["service"] == "forker").then_some(())
    });
    // The orphans that exit are reaped: no zombie is left under ctrl.
    wait("the exited orphans reaped", Duration::from_secs(10), || {
        (pids_running(&format!("sleep {short}")).is_empty() && !child_states(ctrl).contains(&'Z'))
            .then_some(())
    });
    // A stop takes the grandchild with the service.
    d.ok(&["stop", "forker"]);
    assert!(!alive(grandchild), "the grandchild died with its service's stop");
    assert_eq!(d.service("litter")["status"], "running", "the other service runs on");
}

#[test]
fn as_pid_1_in_a_container_ctrl_reaps_every_orphan_and_stops_daemonised_grandchildren() {
    let d = Daemon::start_wrapped(&["unshare", "--pid", "--fork", "--mount-proc"], &services("4321", "0.31"));
    let ns_pids = status_field(d.pid(), "NSpid");
    assert!(ns_pids.ends_with("\t1") || ns_pids.ends_with(" 1"), "ctrl is PID 1 in its namespace: {ns_pids}");
    strays_are_reaped_counted_and_stopped(&d, "4321", "0.31");
}

#[test]
fn in_every_run_ctrl_is_the_subreaper_of_its_services() {
    let d = Daemon::start(&services("4322", "0.32"));
    strays_are_reaped_counted_and_stopped(&d, "4322", "0.32");
}

#[test]
fn without_proc_ctrl_says_so_and_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ctrl.toml");
    std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n").unwrap();
    let script =
        format!("mount -t tmpfs none /proc && exec {} up --config {}", crate::common::BIN, config.display());
    let out = std::process::Command::new("timeout")
        .args(["20", "unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("/proc is not mounted") && err.contains("--mount-proc"), "{err}");
}
