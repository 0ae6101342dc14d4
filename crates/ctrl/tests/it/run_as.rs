//! `user`, `group` and `limits`: a service and an action run as another user,
//! in that user's groups, with the limits set, and a user who cannot enter the
//! working directory or does not exist is named before anything starts.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::{Daemon, wait};

/// The uid and gid of Debian's `nobody` and `nogroup`.
const NOBODY: &str = "65534";

fn assert_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests start processes as 'nobody', which needs root: run the suite as root, as scripts/test does"
    );
}

/// A field of `/proc/PID/status`, its words.
fn status_words(pid: u64, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).unwrap_or_default();
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn a_service_and_an_action_run_as_their_user_in_its_groups_with_their_limits() {
    assert_root();
    // Somewhere `nobody` may enter, and (below) a folder it may not.
    let work = tempfile::Builder::new().prefix("ctrl-run-as-").tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work_dir = work.path().display();
    let d = Daemon::start(&format!(
        r#"
[services.as-nobody]
command = "id -u; id -g; ulimit -n; ulimit -c; echo home=$HOME user=$USER log=$CTRL_LOG; exec sleep 1000"
shell = true
cwd = "{work_dir}"
user = "nobody"
limits = {{ nofile = 1234, core = 0 }}
# Its check runs as nobody too: ready only then.
readiness = {{ exec = ["sh", "-c", "test $(id -u) = {NOBODY}"], interval = "100ms" }}

[services.locked-out]
command = ["sleep", "1000"]
cwd = "locked"
user = "nobody"
autostart = false

[actions.whoami]
command = ["sh", "-c", "id -un; id -gn; ulimit -n"]
cwd = "{work_dir}"
user = "nobody"
group = "daemon"
limits = {{ nofile = 777 }}
"#
    ));
    let svc = d.wait_status("as-nobody", "ready", Duration::from_secs(10));
    let pid = svc["pid"].as_u64().unwrap();
    // The kernel's view: every uid and gid is nobody's, and the limit is set hard and soft.
    assert_eq!(status_words(pid, "Uid"), vec![NOBODY; 4]);
    assert_eq!(status_words(pid, "Gid"), vec![NOBODY; 4]);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let nofile = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    assert_eq!(nofile.split_whitespace().collect::<Vec<_>>()[3..5], ["1234", "1234"], "{nofile}");
    // The service's own view, through its log.
    let log = d.path("state/logs/as-nobody.stdout.log");
    let out = wait("the service's output", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("home=").then_some(text)
    });
    let lines: Vec<&str> = out.lines().map(|l| l.splitn(3, ' ').nth(2).unwrap_or("")).collect();
    // The daemon's own environment (CTRL_LOG here) stays the daemon's.
    assert_eq!(lines, [NOBODY, NOBODY, "1234", "0", "home=/nonexistent user=nobody log="], "{out}");

    // A working directory the user cannot enter: named, nothing started.
    std::fs::create_dir(d.path("locked")).unwrap();
    std::fs::set_permissions(d.path("locked"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let refused = d.ctl(&["start", "locked-out"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("is not readable by user 'nobody'"), "{stderr}");
    assert!(d.service("locked-out")["pid"].is_null());

    // An action: as nobody, in the group asked for, with its own limit.
    assert_eq!(d.ok(&["run", "whoami"]), "nobody\ndaemon\n777\n");
}

#[test]
fn an_unknown_user_or_group_is_named_with_file_line_and_column() {
    assert_root();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        "[server]\nstate_dir = \"state\"\n\n[services.web]\ncommand = [\"sleep\", \"9\"]\n\
         user = \"no-such-user-here\"\n\n[actions.tidy]\ncommand = [\"true\"]\nuser = \"root\"\n\
         group = \"no-such-group-here\"\n",
    )
    .unwrap();
    let run = |verb: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctrl"))
            .args([verb, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let file = config.display();
    for verb in ["check", "up"] {
        let (ok, out) = run(verb);
        assert!(!ok, "{verb}: {out}");
        assert!(
            out.contains(&format!(
                "{file}:6:1: services.web.user: unknown user 'no-such-user-here' on this machine"
            )),
            "{verb}: {out}"
        );
        assert!(
            out.contains(&format!(
                "{file}:11:1: actions.tidy.group: unknown group 'no-such-group-here' on this machine"
            )),
            "{verb}: {out}"
        );
    }
    assert!(!dir.path().join("state").exists(), "a refused config starts nothing");
}
