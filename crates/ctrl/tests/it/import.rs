//! `ctrl import`: a config of each format, written after its project's own
//! documented examples, through import, `ctrl check` and `ctrl up`; and files
//! that are not well formed, named with their line.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{BIN, Daemon, fixture, free_port, wait};

/// The fixture folder `name` copied into a new folder, with `from` replaced by `to` in every file.
fn copy_fixture(name: &str, swaps: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("ctrl-import-").tempdir().unwrap();
    for e in std::fs::read_dir(fixture(&format!("import/{name}"))).unwrap() {
        let e = e.unwrap();
        let mut text = std::fs::read_to_string(e.path()).unwrap();
        for (from, to) in swaps {
            text = text.replace(from, to);
        }
        std::fs::write(dir.path().join(e.file_name()), text).unwrap();
    }
    dir
}

fn ctrl(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).stdin(std::process::Stdio::null()).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `ctrl import FILE -o ctrl.toml` then `ctrl check`: the written config.
fn import_and_check(dir: &Path, file: &str) -> String {
    let o = ctrl(dir, &["import", file, "-o", "ctrl.toml"]);
    assert!(o.status.success(), "import {file}: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrote ctrl.toml"), "{}", text(&o));
    let toml = std::fs::read_to_string(dir.join("ctrl.toml")).unwrap();
    let check = ctrl(dir, &["check", "-c", "ctrl.toml"]);
    assert!(check.status.success(), "check of {file}'s import: {}\n{toml}", text(&check));
    toml
}

/// `ctrl up` on the imported config, on a port of its own (the one change made to it).
fn up(dir: tempfile::TempDir, toml: &str) -> Daemon {
    let config = dir.path().join("ctrl.toml");
    std::fs::write(&config, format!("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n{toml}"))
        .unwrap();
    Daemon::adopt(dir, config)
}

fn assert_has(toml: &str, lines: &[&str]) {
    for l in lines {
        assert!(toml.lines().any(|t| t == *l), "no line `{l}` in:\n{toml}");
    }
}

fn log_of(d: &Daemon, service: &str, needle: &str) -> String {
    let path = d.path(&format!("state/logs/{service}.stdout.log"));
    wait(&format!("'{needle}' in {service}'s log"), Duration::from_secs(15), || {
        let t = std::fs::read_to_string(&path).ok()?;
        t.contains(needle).then_some(t)
    })
}

#[test]
fn a_supervisord_conf_imports_checks_and_runs() {
    let dir = copy_fixture("supervisord", &[]);
    let toml = import_and_check(dir.path(), "supervisord.conf");
    assert_has(
        &toml,
        &[
            "[services.theprogramname]",
            "command = \"/bin/sleep 3600\"",
            "cwd = \"/tmp\"",
            "env = { A = \"1\", APP_ENV = \"production\", B = \"2\", GREETING = \"hello, world\" }",
            "restart = \"on-failure\"",
            "start_window = \"1s\"",
            "stop_signal = \"QUIT\"",
            "stop_timeout = \"10s\"",
            "log = { max_size = \"1048576\", keep = 10 }",
            "# supervisord: umask = 022 (no equivalent in ctrl)",
            "# supervisord: priority = 999 (ctrl orders starts by depends_on)",
            "[services.worker_00]",
            "[services.worker_01]",
            "restart = \"always\"",
            "# supervisord: process 1 of 2 of [program:worker]",
        ],
    );
    for key in ["[group:app] programs = theprogramname,worker", "[include] files", "[inet_http_server]"] {
        assert!(toml.contains(&format!("# {key}")), "no note on {key}:\n{toml}");
    }
    let d = up(dir, &toml);
    for s in ["theprogramname", "worker_00", "worker_01"] {
        d.wait_status(s, "running", Duration::from_secs(15));
    }
    log_of(&d, "worker_01", "worker 1 of worker: hello, world production");
}

#[test]
fn a_pm2_ecosystem_imports_checks_and_runs_and_needs_node_only_for_javascript() {
    let port = free_port();
    let dir = copy_fixture("pm2", &[("18081", port.to_string()), ("18082", free_port().to_string())]);
    let toml = import_and_check(dir.path(), "ecosystem.config.js");
    assert_has(
        &toml,
        &[
            "[services.app]",
            "command = [\"node\", \"./app.js\"]",
            "cwd = \".\"",
            &format!("env = {{ NODE_APP_INSTANCE = \"0\", NODE_ENV = \"development\", PORT = \"{port}\" }}"),
            "backoff = { initial = \"4s\", max = \"4s\" }",
            "start_window = \"2s\"",
            "stop_timeout = \"3s\"",
            "[services.worker-0]",
            "env = { NODE_APP_INSTANCE = \"1\" }",
            "backoff = { initial = \"100ms\", max = \"15s\" }",
            "[schedules.restart-app]",
            "cron = \"0 3 * * *\"",
            "# pm2: watch = true (ctrl does not restart on file changes)",
        ],
    );
    assert!(toml.contains("# pm2: env_production = {\"NODE_ENV\":\"production\"}"), "{toml}");

    // A JSON ecosystem needs no node; its user and autorestart map too.
    let o = ctrl(dir.path(), &["import", "ecosystem.json", "-o", "json.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    let json = std::fs::read_to_string(dir.path().join("json.toml")).unwrap();
    assert_has(
        &json,
        &[
            "[services.api]",
            "restart = \"never\"",
            "user = \"nobody\"",
            "env = { GREETING = \"hi\", NODE_APP_INSTANCE = \"0\" }",
        ],
    );
    // Without node, a .config.js says what it needs.
    let o = Command::new(BIN)
        .args(["import", "ecosystem.config.js"])
        .current_dir(dir.path())
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("reading it needs Node.js, which is not installed"), "{}", text(&o));

    let d = up(dir, &toml);
    d.wait_status("app", "running", Duration::from_secs(15));
    log_of(&d, "app", &format!("listening on {port}"));
    for s in ["worker-0", "worker-1"] {
        d.wait_status(s, "running", Duration::from_secs(15));
    }
    log_of(&d, "worker-1", "worker instance 1");
    let schedules = d.ok(&["schedule", "list"]);
    assert!(schedules.contains("restart-app"), "{schedules}");
}

#[test]
fn a_procfile_with_its_env_imports_checks_and_runs() {
    let dir = copy_fixture("procfile", &[]);
    let port = free_port();
    std::fs::write(dir.path().join(".env"), format!("APP_NAME=demo\nPORT={port}\n")).unwrap();
    let toml = import_and_check(dir.path(), "Procfile");
    assert_has(
        &toml,
        &[
            "[services.web]",
            "command = \"python3 -m http.server $PORT --bind 127.0.0.1\"",
            "shell = true",
            "env_file = \".env\"",
            &format!("port = {port}"),
            &format!("env = {{ PORT = \"{}\" }}", port + 100),
            "[services.release]",
            "restart = \"never\"",
        ],
    );
    let d = up(dir, &toml);
    d.wait_status("web", "ready", Duration::from_secs(15));
    log_of(&d, "worker", &format!("worker for demo on {}", port + 100));
    d.wait_status("release", "completed", Duration::from_secs(15));
}

#[test]
fn a_process_compose_file_imports_checks_and_runs_in_dependency_order() {
    let port = free_port();
    let dir = copy_fixture("compose", &[("18083", port.to_string())]);
    let toml = import_and_check(dir.path(), "process-compose.yaml");
    assert_has(
        &toml,
        &[
            "[services.server]",
            &format!("command = [\"bash\", \"-c\", \"python3 -m http.server {port} --bind 127.0.0.1\"]"),
            "depends_on = { setup = \"completed\" }",
            &format!(
                "readiness = {{ http = \"http://127.0.0.1:{port}/\", interval = \"1s\", timeout = \"2s\", \
                 initial_delay = \"0s\", failure_threshold = 3 }}"
            ),
            "stop_signal = \"INT\"",
            "stop_timeout = \"4s\"",
            "backoff = { initial = \"2s\", max = \"2s\" }",
            "[services.client-0]",
            "[services.client-1]",
            "depends_on = { server = \"healthy\" }",
            "liveness = { exec = [\"bash\", \"-c\", \"test -d /proc\"], interval = \"5s\" }",
            "# process-compose: log_level = debug (no equivalent in ctrl)",
        ],
    );
    let d = up(dir, &toml);
    for s in ["client-0", "client-1"] {
        d.wait_status(s, "running", Duration::from_secs(20));
    }
    assert_eq!(d.service("setup")["status"], "completed");
    assert_eq!(d.service("server")["status"], "ready");
    log_of(&d, "client-1", "client of from-the-top as ClientA");
}

#[test]
fn files_that_are_not_well_formed_are_named_with_their_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad.conf",
            "[program:web]\ncommand=/bin/true\n[program:x\n",
            "bad.conf:3:1: '[program:x' is not a section header",
        ),
        ("ecosystem.json", "{\n  \"apps\": [\n    {\"name\": }\n", "ecosystem.json:3:"),
        (
            "Procfile",
            "# jobs\nweb python app.py\n",
            "Procfile:2:1: 'web python app.py' is not 'name: command'",
        ),
        ("compose.yaml", "processes:\n  a:\n    command: [\"x\"\n  b: 1\n", "compose.yaml:4:"),
        (
            "other.conf",
            "[program:a]\ncommand=x\nnumprocs=2\n",
            "other.conf:3:1: numprocs above 1 needs process_name",
        ),
    ];
    for (file, body, expected) in cases {
        std::fs::write(dir.path().join(file), body).unwrap();
        let o = ctrl(dir.path(), &["import", file, "-o", "out.toml"]);
        assert!(!o.status.success(), "{file}");
        assert!(text(&o).contains(expected), "{file}: {}", text(&o));
        assert!(!dir.path().join("out.toml").exists(), "{file}: nothing written");
    }
    std::fs::write(dir.path().join("notes.txt"), "web: x\n").unwrap();
    let o = ctrl(dir.path(), &["import", "notes.txt"]);
    assert!(text(&o).contains("cannot tell the format of notes.txt"), "{}", text(&o));
    let o = ctrl(dir.path(), &["import", "notes.txt", "--format", "procfile"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[services.web]"));
    // An existing output is kept unless --force.
    std::fs::write(dir.path().join("ctrl.toml"), "# mine\n").unwrap();
    let o = ctrl(dir.path(), &["import", "notes.txt", "--format", "procfile", "-o", "ctrl.toml"]);
    assert!(text(&o).contains("exists already"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("ctrl.toml")).unwrap(), "# mine\n");
}
