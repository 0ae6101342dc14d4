//! Config errors through the real binary, and `ctrl check`.

use std::process::Command;

use crate::common::*;

fn run(args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let o = Command::new(BIN).args(args).current_dir(dir).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn typos_name_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[services.web]\ncommand = [\"sleep\", \"1\"]\nautostrat = true\n",
    )
    .unwrap();
    for verb in ["check", "up"] {
        let (ok, _, err) = run(&[verb, "--config", "bad.toml"], dir.path());
        assert!(!ok, "{verb} must fail");
        assert!(
            err.starts_with(
                "ctrl: bad.toml:3:1: services.web.autostrat: unknown field 'autostrat', expected one of"
            ),
            "{verb}: {err}"
        );
    }
    assert!(!dir.path().join("state").exists(), "a bad config starts nothing");
}

#[test]
fn unknown_dependency_and_cycle_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ctrl.toml"),
        "[services.a]\ncommand = \"x\"\ndepends_on = { b = \"healthy\" }\n\
         [services.b]\ncommand = \"x\"\ndepends_on = { a = \"started\", zz = \"completed\" }\n",
    )
    .unwrap();
    let (ok, _, err) = run(&["check"], dir.path());
    assert!(!ok);
    assert!(
        err.starts_with(
            "ctrl: ctrl.toml:6:31: services.b.depends_on.zz: unknown service 'zz'; defined services: a, b\n"
        ),
        "{err}"
    );
    assert!(err.contains("ctrl.toml:3:1: services.a.depends_on: dependency cycle: a -> b -> a"), "{err}");
}

#[test]
fn check_reports_what_would_stop_a_start() {
    let dir = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("ctrl.toml"),
        format!(
            "[services.ghost]\ncommand = \"no-such-binary-xyz --flag\"\n\
             [services.lost]\ncommand = [\"sleep\", \"1\"]\ncwd = \"nowhere\"\n\
             [services.busy]\ncommand = [\"sleep\", \"1\"]\nport = {port}\n\
             [services.fine]\ncommand = [\"sleep\", \"1\"]\n"
        ),
    )
    .unwrap();
    let (ok, out, _) = run(&["check"], dir.path());
    assert!(!ok);
    assert!(out.contains("services.ghost: command 'no-such-binary-xyz' was not found in PATH"), "{out}");
    assert!(
        out.contains("services.lost: working directory") && out.contains("nowhere does not exist"),
        "{out}"
    );
    assert!(
        out.contains(&format!("services.busy: port {port} is already in use by pid {}", std::process::id())),
        "{out}"
    );
    assert!(!out.contains("services.fine"), "{out}");
    drop(holder);
    std::fs::write(dir.path().join("ok.toml"), "[services.fine]\ncommand = [\"sleep\", \"1\"]\n").unwrap();
    let (ok, out, _) = run(&["check", "-c", "ok.toml"], dir.path());
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "ok.toml: ok (1 services)");
    // An LLM upstream's key variable that is not set is named (a note: the daemon's
    // environment may have it).
    std::fs::write(
        dir.path().join("llm.toml"),
        "[llm.upstreams.cloud]\nurl = \"https://api.example.org/v1\"\napi_key_env = \"CTRL_TEST_UNSET_KEY_XYZ\"\n",
    )
    .unwrap();
    let (ok, out, _) = run(&["check", "-c", "llm.toml"], dir.path());
    assert!(ok, "{out}");
    assert!(
        out.contains("llm.upstreams.cloud.api_key_env: $CTRL_TEST_UNSET_KEY_XYZ is not set here"),
        "{out}"
    );
}

#[test]
fn cli_without_a_daemon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(&["status"], dir.path());
    assert!(!ok);
    assert!(err.contains("no daemon is running for") && err.contains("start one with `ctrl up`"), "{err}");
}

#[test]
fn unknown_service_is_not_found() {
    let d = Daemon::start("[services.a]\ncommand = [\"sleep\", \"1000\"]\n");
    for verb in ["start", "stop", "restart", "logs", "events"] {
        let o = d.ctl(&[verb, "nope"]);
        assert!(!o.status.success());
        assert_eq!(String::from_utf8_lossy(&o.stderr).trim(), "ctrl: no service named 'nope'", "{verb}");
    }
}

#[test]
fn the_demo_config_is_valid_and_its_knowledge_folder_exists() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let (ok, out, err) = run(&["check", "--config", "demo.toml"], &examples);
    assert!(ok, "{out}{err}");
    for p in ["knowledge/creators.yaml", "knowledge/coder/_agent.yaml", "knowledge/coder/async-rust.md"] {
        assert!(examples.join(p).is_file(), "{p}");
    }
}

#[test]
fn a_kb_scan_action_needs_a_knowledge_section() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), "[actions.scan]\nkind = \"kb_scan\"\n").unwrap();
    let (ok, _, err) = run(&["check", "--config", "c.toml"], dir.path());
    assert!(!ok);
    assert!(err.contains("actions.scan.kind: kind = \"kb_scan\" needs a [knowledge] section"), "{err}");
    std::fs::write(dir.path().join("c.toml"), "[knowledge]\nroots = []\nextensions = [\".md\"]\n").unwrap();
    let (ok, _, err) = run(&["check", "--config", "c.toml"], dir.path());
    assert!(!ok);
    assert!(err.contains("knowledge.roots: needs at least one folder"), "{err}");
    assert!(err.contains("'.md' is not an extension"), "{err}");
}
