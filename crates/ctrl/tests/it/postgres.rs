//! The daemon on PostgreSQL: a slice of every feature (services and events,
//! users, login, tokens and audit, an action's job, a schedule, the knowledge
//! base), and a database outage that the services and their events live through.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::http::{Api, Sse, assert_failure, client, eventually};
use crate::common::{Daemon, add_user, free_port};

/// Writes a config on `url` and starts a daemon on it (`users` added first, by the CLI).
fn daemon_on(url: &str, services: &str, users: &[(&str, &str, &str)]) -> Daemon {
    let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
    let config = dir.path().join("ctrl.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[storage]\nurl = \"{url}\"\n\n{services}"
    );
    std::fs::write(&config, text).unwrap();
    for (name, role, password) in users {
        add_user(&config, name, role, password);
    }
    Daemon::adopt(dir, config)
}

const SLICE: &str = r#"
[services.app]
command = ["sleep", "1000"]
autostart = false

[actions.say]
command = ["printf", "[%s]\n", "{msg}"]
params.msg = { type = "string" }

[schedules.tick]
action = "say"
cron = "* * * * * *"
params = { msg = "tick" }
"#;

#[tokio::test]
async fn every_feature_runs_on_postgres() {
    let url = ctrl_store::testing::postgres().await;
    let mut d = daemon_on(&url, SLICE, &[("ann", "admin", "ann-secret-1")]);
    assert!(!d.path("state/ctrl.db").exists(), "no SQLite file beside a PostgreSQL store");

    // Service control and events.
    d.ok(&["start", "app"]);
    d.wait_status("app", "running", Duration::from_secs(10));
    d.ok(&["stop", "app"]);
    d.wait_status("app", "stopped", Duration::from_secs(10));
    let transitions = |d: &Daemon| -> Vec<String> {
        d.events("app").iter().map(|e| e["to"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(transitions(&d), ["starting", "running", "stopping", "stopped"]);

    // Login, a token made with the session, used, and the audit trail of both.
    let http = client();
    let res = http
        .post(d.url("/api/auth/login"))
        .json(&json!({"username": "ann", "password": "ann-secret-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = res.json::<Value>().await.unwrap()["data"]["csrf_token"].as_str().unwrap().to_owned();
    let res = http
        .post(d.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "ci", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["data"]["token"].as_str().unwrap().to_owned();
    let res = http.get(d.url("/api/services")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let api = Api::new(&d);
    let audit = api.data("/api/audit?limit=50").await;
    let actions: Vec<&str> =
        audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"login") && actions.contains(&"token_created"), "{actions:?}");

    // An action's job, and the schedule's.
    let (status, body) =
        api.send_json(reqwest::Method::POST, "/api/actions/say", &json!({"params": {"msg": "hi"}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_i64().unwrap();
    let job = eventually("the job to succeed", Duration::from_secs(20), || async {
        let j = api.data(&format!("/api/jobs/{id}")).await;
        (j["status"] == "succeeded").then_some(j)
    })
    .await;
    assert_eq!(job["exit_code"], 0);
    eventually("a scheduled run", Duration::from_secs(20), || async {
        let jobs = api.data("/api/jobs?action=say&limit=100").await;
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|j| j["triggered_by"] == "schedule:tick" && j["status"] == "succeeded")
            .then_some(())
    })
    .await;

    // A restart reads it all back from PostgreSQL.
    d.stop();
    d.up();
    assert_eq!(&transitions(&d)[..4], ["starting", "running", "stopping", "stopped"]);
    let res = http.get(d.url("/api/services")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the token outlived the restart");
}

/// A PostgreSQL server of the test's own, to cut and bring back.
struct Server {
    dir: tempfile::TempDir,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::Builder::new().prefix("ctrl-pg-").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let s = Server { dir, port: free_port() };
        s.up();
        s
    }

    fn script(&self, args: &[&str]) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres");
        let mut cmd = Command::new(script);
        cmd.args(args).arg(self.dir.path().join("main"));
        if args[0] == "start" {
            // Stopped with `-m immediate`, a crash: what it acknowledged must survive.
            cmd.arg(self.port.to_string()).arg("durable");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "scripts/postgres {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn up(&self) {
        self.script(&["start"]);
    }

    fn down(&self) {
        self.script(&["stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres");
        let _ = Command::new(script).arg("stop").arg(self.dir.path().join("main")).output();
    }
}

/// Three services that crash and restart all the time.
fn crash_loop() -> String {
    [("a", 3), ("b", 4), ("c", 5)]
        .iter()
        .map(|(name, code)| {
            format!(
                "[services.{name}]\ncommand = [\"sh\", \"-c\", \"exit {code}\"]\nrestart = \"always\"\n\
                 backoff = {{ initial = \"100ms\", max = \"100ms\" }}\n\
                 start_limit = {{ burst = 100000, interval = \"1s\" }}\n\n"
            )
        })
        .collect()
}

async fn metric(api: &Api<'_>, name: &str) -> f64 {
    let text = api.text("/metrics").await;
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// What the live services stream showed, per service, from a point on which it
/// is continuous (a lagging reader gets a snapshot, and starts over from there).
type Seen = Arc<Mutex<(HashMap<String, Vec<(String, String)>>, usize)>>;

/// Reads the services stream in the background until it ends.
fn watch(mut stream: Sse) -> Seen {
    let seen: Seen = Arc::default();
    let out = seen.clone();
    tokio::spawn(async move {
        while let Some((name, m)) = stream.next_or_end().await {
            let mut seen = out.lock().unwrap();
            match name.as_str() {
                "event" => {
                    let e = &m["data"]["event"];
                    let transition =
                        (e["from"].as_str().unwrap().to_owned(), e["to"].as_str().unwrap().to_owned());
                    seen.0.entry(e["service"].as_str().unwrap().to_owned()).or_default().push(transition);
                    seen.1 += 1;
                }
                "snapshot" => seen.0.clear(),
                _ => {}
            }
        }
    });
    seen
}

#[tokio::test]
async fn a_ten_second_outage_loses_no_event() {
    let server = Server::start();
    let d = daemon_on(&server.url(), &crash_loop(), &[]);
    let api = Api::new(&d);
    let seen = watch(Sse::open(&d, "/api/services/stream").await);
    let events = || seen.lock().unwrap().1;

    server.down();
    let cut = Instant::now();
    let cut_at = chrono::Utc::now();
    let before = events();
    // Routes that need the database say so; the rest, and supervision, go on.
    let (status, body) = api.get("/health").await;
    assert_eq!(
        (status, body["data"]["db"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("down")),
        "{body}"
    );
    let (status, body) = api.get("/api/audit?limit=1").await;
    assert_failure(status, &body, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable");
    assert_eq!(api.data("/api/services").await.as_array().unwrap().len(), 3);
    // A token the daemon has not seen cannot be checked now: 503, not 401.
    let res = client().get(d.url("/api/services")).bearer_auth("never-seen").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "store_unavailable");
    // An audited change during the outage: its entry waits and is written later.
    let (status, body) = api.post("/api/services/a/restart?wait=false").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // The outage lasts ten seconds, whatever the checks above took.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed())).await;
    let during = events() - before;
    assert!(during > 30, "services kept crashing and restarting: {during} events");
    assert!(metric(&api, "ctrl_store_events_pending").await > 0.0, "events wait in memory");

    let back_at = chrono::Utc::now();
    server.up();
    eventually("the database back in /health", Duration::from_secs(30), || async {
        (api.get("/health").await.0 == StatusCode::OK).then_some(())
    })
    .await;
    for name in ["a", "b", "c"] {
        let (status, body) = api.post(&format!("/api/services/{name}/stop")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Every service stopped, the stream has shown it: nothing more is published.
    eventually("the stops on the live stream", Duration::from_secs(20), || async {
        let seen = seen.lock().unwrap();
        let ended = ["a", "b", "c"]
            .iter()
            .all(|s| seen.0.get(*s).and_then(|l| l.last()).is_some_and(|(_, to)| to == "stopped"));
        ended.then_some(())
    })
    .await;
    eventually("every event written", Duration::from_secs(30), || async {
        (metric(&api, "ctrl_store_events_pending").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(metric(&api, "ctrl_store_events_dropped_total").await, 0.0);
    let audit = api.data("/api/audit?limit=100").await;
    let restart = audit.as_array().unwrap().iter().find(|e| e["action"] == "restart" && e["target"] == "a");
    let at = restart.expect("the restart made during the outage is in the audit log")["at"].as_str().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    assert!(cut_at <= at && at < back_at, "it keeps the time it happened: {at} in [{cut_at}, {back_at})");
    let live = seen.lock().unwrap().0.clone();
    for (service, live) in &live {
        let stored = api.data(&format!("/api/services/{service}/events?limit=10000")).await;
        let stored: Vec<(String, String)> = stored
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["from"].as_str().unwrap().to_owned(), e["to"].as_str().unwrap().to_owned()))
            .collect();
        assert!(stored.len() >= live.len(), "{service}: {} stored, {} seen", stored.len(), live.len());
        let tail = &stored[stored.len() - live.len()..];
        if let Some(i) = tail.iter().zip(live).position(|(a, b)| a != b) {
            let window = |l: &[(String, String)]| l[i.saturating_sub(3)..(i + 3).min(l.len())].to_vec();
            panic!(
                "{service}: what was seen live is stored, in order; they differ at {i} of {}: stored {:?}, live {:?}",
                live.len(),
                window(tail),
                window(live)
            );
        }
    }
}

#[test]
fn an_unreachable_database_stops_the_start_with_a_clear_error() {
    let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
    let config = dir.path().join("ctrl.toml");
    let port = free_port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/fleet");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[storage]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let out = Command::new(crate::common::BIN).args(["up", "--config"]).arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr
            .contains(&format!("cannot connect to PostgreSQL database 'fleet' on 127.0.0.1:{port} as 'app'")),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// `ctrl db copy` from a daemon's SQLite file to PostgreSQL: refused while the
/// daemon runs, then every row moved and counted, and a daemon on the copy sees them.
#[tokio::test]
async fn db_copy_moves_a_daemons_data_to_postgres() {
    let mut d = crate::common::Daemon::start("[services.app]\ncommand = [\"sleep\", \"1000\"]\n");
    d.wait_status("app", "running", Duration::from_secs(10));
    let sqlite = format!("sqlite://{}", d.path("state/ctrl.db").display());
    let pg = ctrl_store::testing::postgres().await;
    let copy = |extra: &[&str]| {
        Command::new(crate::common::BIN)
            .args(["db", "copy", "--from", &sqlite, "--to", &pg])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = copy(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by a running ctrl daemon; stop it first"), "{err}");

    d.stop();
    let out = copy(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("verified: every table has as many rows in both"), "{text}");
    let events = text.lines().find(|l| l.starts_with("service_events")).unwrap();
    assert_eq!(events.split_whitespace().nth(1), Some("4"), "starting, running, stopping, stopped: {text}");

    let out = copy(&[]);
    assert!(!out.status.success(), "a second copy finds the target full");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --force"));
    assert!(copy(&["--force"]).status.success());

    let config = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, format!("{config}\n[storage]\nurl = \"{pg}\"\n")).unwrap();
    std::fs::remove_file(d.path("state/ctrl.db")).unwrap();
    d.up();
    let seen: Vec<String> = d.events("app").iter().map(|e| e["to"].as_str().unwrap().to_owned()).collect();
    assert_eq!(&seen[..4], ["starting", "running", "stopping", "stopped"]);
}

#[tokio::test]
async fn the_knowledge_base_runs_on_postgres() {
    let url = ctrl_store::testing::postgres().await;
    let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("knowledge/coder")).unwrap();
    std::fs::write(dir.path().join("knowledge/coder/_agent.yaml"), "category: engineering\n").unwrap();
    std::fs::write(
        dir.path().join("knowledge/coder/a.md"),
        "---\ntags: [Rust]\n---\nTokio tasks and wombats.\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("knowledge/coder/b.md"), "Wombats only.\n").unwrap();
    let config = dir.path().join("ctrl.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[storage]\nurl = \"{url}\"\n\n\
         [knowledge]\nroots = [\"knowledge\"]\nwatch = false\n"
    );
    std::fs::write(&config, text).unwrap();
    let mut d = Daemon::adopt(dir, config);
    let api = Api::new(&d);
    let first = eventually("the first scan", Duration::from_secs(20), || async {
        let jobs = api.data("/api/knowledge/jobs").await;
        let j = jobs.as_array()?.first()?.clone();
        j["completed_at"].is_string().then_some(j)
    })
    .await;
    assert_eq!(first["result"]["added"], 2, "{first}");
    let found = api.data("/api/knowledge/search?q=wombats%20tag:rust").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["hits"][0]["path"], "coder/a.md");
    let page = api.data("/api/knowledge/files?category=engineering&tag=RUST").await;
    assert_eq!(page["total"], 1, "{page}");
    // The index lives in the state folder whatever the database: a restart reads nothing.
    d.stop();
    d.up();
    let api = Api::new(&d);
    let again = eventually("the start-up scan", Duration::from_secs(20), || async {
        let jobs = api.data("/api/knowledge/jobs").await;
        let j = jobs.as_array()?.first()?.clone();
        (j["id"] != first["id"] && j["completed_at"].is_string()).then_some(j)
    })
    .await;
    assert_eq!(
        (again["result"]["added"].as_u64(), again["result"]["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
}
