//! Actions and jobs against a real daemon: parameters that try to break out,
//! timeouts and cancels that must take the whole process group, progress and
//! results, concurrency, roles, schedules, and backups with retention, restore
//! and download.

use std::time::Duration;

use crate::common::http::{Api, assert_failure, eventually};
use crate::common::{Daemon, alive, pids_in};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ACTIONS: &str = r#"
[actions.say]
command = ["printf", "[%s]\n", "{msg}"]
params.msg = { type = "string" }

[actions.show]
command = ["cat", "{file}"]
params.file = { type = "path", root = "data" }

[actions.count]
command = ["printf", "%s\n", "{n}", "{mode}", "{flag}"]
params.n = { type = "int", min = 1, max = 10 }
params.mode = { type = "enum", values = ["fast", "slow"], default = "fast" }
params.flag = { type = "bool", default = false }

[actions.hang]
command = ["sh", "-c", "echo $$ > hang.pid; sleep 300 & echo $! >> hang.pid; wait"]
timeout = "1s"

[actions.wait]
command = ["sh", "-c", "echo $$ > wait.pid; sleep 300 & echo $! >> wait.pid; wait"]

[actions.steps]
command = ["sh", "-c", "echo '::progress 3/10'; echo working; echo '::result {{\"files\": 3}}' ; echo oops >&2; exit 3"]

[actions.slow]
command = ["sleep", "0.3"]
concurrency = 1

[actions.danger]
command = ["true"]
confirm = true
role = "admin"

[actions.docs]
kind = "backup"
source = { path = "docs" }
target = "docs"
retention = { keep = 2 }

[actions.dump]
kind = "backup"
source = { command = ["printf", "dumped data"] }
target = "db"
ext = "sql"

[actions.big]
kind = "backup"
source = { path = "big" }
target = "big"

[actions.restore-docs]
kind = "restore"
target = "docs"
into = "restored"
"#;

fn daemon() -> Daemon {
    let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/sub")).unwrap();
    std::fs::write(dir.path().join("data/ok.txt"), "inside\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("data/link-out")).unwrap();
    std::fs::create_dir_all(dir.path().join("docs/deep")).unwrap();
    std::fs::write(dir.path().join("docs/a.md"), "# A\n").unwrap();
    std::fs::write(dir.path().join("docs/deep/b.md"), "b".repeat(100_000)).unwrap();
    std::os::unix::fs::symlink("a.md", dir.path().join("docs/link.md")).unwrap();
    let config = dir.path().join("ctrl.toml");
    std::fs::write(&config, format!("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n{ACTIONS}"))
        .unwrap();
    Daemon::adopt(dir, config)
}

async fn run(api: &Api<'_>, action: &str, body: Value) -> (StatusCode, Value) {
    api.send_json(Method::POST, &format!("/api/actions/{action}"), &body).await
}

/// Runs an action and waits for its job to end; returns the ended job.
async fn run_to_end(api: &Api<'_>, action: &str, body: Value) -> Value {
    let (status, res) = run(api, action, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{res}");
    wait_job(api, res["data"]["id"].as_i64().unwrap()).await
}

async fn wait_job(api: &Api<'_>, id: i64) -> Value {
    eventually(&format!("job {id} to end"), Duration::from_secs(20), || async move {
        let job = api.data(&format!("/api/jobs/{id}")).await;
        (!matches!(job["status"].as_str(), Some("queued" | "running"))).then_some(job)
    })
    .await
}

async fn output(api: &Api<'_>, id: i64) -> Vec<String> {
    let lines = api.data(&format!("/api/jobs/{id}/logs")).await;
    lines.as_array().unwrap().iter().map(|l| l["line"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn parameters_never_run_anything_extra_nor_leave_their_root() {
    let d = daemon();
    let api = Api::new(&d);
    // Shell syntax stays one argument of printf: it is printed, never run.
    let payloads =
        ["a; touch T1", "$(touch T2)", "`touch T3`", "x || touch T4 && touch T5", "two words", "a -n"];
    for p in payloads {
        let job = run_to_end(&api, "say", json!({"params": {"msg": p}})).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(output(&api, job["id"].as_i64().unwrap()).await, [format!("[{p}]")]);
    }
    for t in ["T1", "T2", "T3", "T4", "T5"] {
        assert!(!d.path(t).exists(), "{t} was created");
    }
    // Control characters and NUL are refused before anything runs.
    // So are values that would read as options.
    for bad in ["line\ntouch T6", "nul\u{0}x", "tab\tx", "-n", "--output=T7"] {
        let (status, body) = run(&api, "say", json!({"params": {"msg": bad}})).await;
        assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    // Paths: inside the root only, symlinks followed before the check.
    let job = run_to_end(&api, "show", json!({"params": {"file": "ok.txt"}})).await;
    assert_eq!(output(&api, job["id"].as_i64().unwrap()).await, ["inside"]);
    for bad in ["../secret.txt", "/etc/passwd", "sub/../../secret.txt", "link-out", "a\u{0}b", ""] {
        let (status, body) = run(&api, "show", json!({"params": {"file": bad}})).await;
        assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(!body["error"].as_str().unwrap().contains(d.dir.path().to_str().unwrap()), "{body}");
    }
    // Types, ranges, defaults, unknown and missing parameters.
    let job = run_to_end(&api, "count", json!({"params": {"n": 3}})).await;
    assert_eq!(output(&api, job["id"].as_i64().unwrap()).await, ["3", "fast", "false"]);
    assert_eq!(job["params"], json!({"n": 3, "mode": "fast", "flag": false}));
    for params in [
        json!({"n": 11}),
        json!({"n": "3; id"}),
        json!({"n": 2, "mode": "turbo"}),
        json!({}),
        json!({"n": 1, "x": 1}),
    ] {
        let (status, body) = run(&api, "count", json!({"params": params})).await;
        assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let (status, body) = run(&api, "nope", json!({})).await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api.send_json(Method::POST, "/api/actions/say", &json!("not an object")).await;
    assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

#[tokio::test]
async fn a_job_over_its_timeout_is_timed_out_and_its_whole_group_is_gone() {
    let d = daemon();
    let api = Api::new(&d);
    let job = run_to_end(&api, "hang", json!({})).await;
    assert_eq!(job["status"], "timed_out", "{job}");
    assert!(job["error"].as_str().unwrap().contains("timeout of 1s"), "{job}");
    let pids = pids_in(&d.path("hang.pid"));
    assert_eq!(pids.len(), 2, "{pids:?}");
    for p in pids {
        assert!(!alive(p), "pid {p} of the job survived");
    }
    let listed = api.data("/api/jobs?status=timed_out").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn cancel_stops_a_running_job_and_its_children() {
    let d = daemon();
    let api = Api::new(&d);
    let (_, res) = run(&api, "wait", json!({})).await;
    let id = res["data"]["id"].as_i64().unwrap();
    let pids = crate::common::wait("the job's pids", Duration::from_secs(10), || {
        let p = pids_in(&d.path("wait.pid"));
        (p.len() == 2).then_some(p)
    });
    let (status, body) = api.post(&format!("/api/jobs/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "cancelled", "{body}");
    assert!(pids.iter().all(|p| !alive(*p)), "{pids:?}");
    let (status, body) = api.post(&format!("/api/jobs/{id}/cancel")).await;
    assert_failure(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body) = api.post("/api/jobs/999999/cancel").await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn progress_result_exit_code_and_followed_output() {
    let d = daemon();
    let api = Api::new(&d);
    let (_, res) = run(&api, "steps", json!({})).await;
    let id = res["data"]["id"].as_i64().unwrap();
    // Following from the start gets every line, then the ended job.
    let text = api.text(&format!("/api/jobs/{id}/logs?follow=true")).await;
    assert!(text.contains("\"line\":\"working\""), "{text}");
    assert!(text.contains("\"line\":\"oops\""), "{text}");
    let last = text.rsplit("event: job\ndata: ").next().expect("a final job event");
    let ended: Value = serde_json::from_str(last.lines().next().unwrap()).unwrap();
    assert_eq!(ended["status"], "failed");
    assert_eq!(ended["exit_code"], 3);
    assert_eq!(ended["progress"], 30.0);
    assert_eq!(ended["progress_label"], "3/10");
    assert_eq!(ended["result"], json!({"files": 3}));
    assert_eq!(api.data(&format!("/api/jobs/{id}")).await, ended);
    let err = api.data(&format!("/api/jobs/{id}/logs?stream=stderr")).await;
    assert_eq!(err.as_array().unwrap().len(), 1, "{err}");
}

#[tokio::test]
async fn concurrency_queues_runs_one_after_another() {
    let d = daemon();
    let api = Api::new(&d);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, res) = run(&api, "slow", json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(res["data"]["id"].as_i64().unwrap());
    }
    let queued = api.data("/api/jobs?action=slow&status=queued").await;
    assert!(!queued.as_array().unwrap().is_empty(), "with concurrency 1, some wait: {queued}");
    let mut jobs = Vec::new();
    for id in ids {
        jobs.push(wait_job(&api, id).await);
    }
    for pair in jobs.windows(2) {
        let (done, next) =
            (pair[0]["completed_at"].as_str().unwrap(), pair[1]["started_at"].as_str().unwrap());
        assert!(next >= done, "a run started before the previous ended: {pair:?}");
    }
    // Pages: newest first, `before` continues.
    let page = api.data("/api/jobs?action=slow&limit=2").await;
    let page: Vec<i64> = page.as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(page.len(), 2);
    let rest = api.data(&format!("/api/jobs?action=slow&before={}", page[1])).await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn roles_and_confirmation_gate_actions() {
    let d = daemon();
    let api = Api::new(&d);
    let (_, viewer) =
        api.send_json(Method::POST, "/api/tokens", &json!({"name": "v", "role": "viewer"})).await;
    let (_, operator) =
        api.send_json(Method::POST, "/api/tokens", &json!({"name": "o", "role": "operator"})).await;
    let as_ =
        |t: &Value| Api { d: &d, http: api.http.clone(), token: t["data"]["token"].as_str().unwrap().into() };
    let (status, body) = run(&as_(&viewer), "say", json!({"params": {"msg": "hi"}})).await;
    assert_failure(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = run(&as_(&operator), "danger", json!({"confirm": true})).await;
    assert_failure(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = run(&api, "danger", json!({})).await;
    assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(body["error"].as_str().unwrap().contains("confirm"), "{body}");
    assert_eq!(run_to_end(&api, "danger", json!({"confirm": true})).await["status"], "succeeded");
    // Viewers read jobs but cannot cancel them.
    let (status, _) = as_(&viewer).get("/api/jobs").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = as_(&viewer).post("/api/jobs/1/cancel").await;
    assert_failure(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let audit = api.data("/api/audit?limit=100").await;
    let denied = audit.as_array().unwrap().iter().filter(|e| e["action"] == "forbidden").count();
    assert!(denied >= 3, "{audit}");
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "run" && e["target"] == "action:danger"));
    // The action list carries the schema a form is built from.
    let actions = api.data("/api/actions").await;
    let count = actions.as_array().unwrap().iter().find(|a| a["name"] == "count").unwrap();
    assert_eq!(count["params"][0]["name"], "flag");
    assert_eq!(
        count["params"][2],
        json!({"name": "n", "type": "int", "description": null, "pattern": null,
        "values": null, "min": 1, "max": 10, "default": null, "required": true})
    );
}

#[tokio::test]
async fn schedules_fire_persist_and_refuse_bad_input() {
    let d = daemon();
    let api = Api::new(&d);
    let body = json!({"name": "tick", "action": "say", "cron": "* * * * * *", "params": {"msg": "tick"}});
    let (status, res) = api.send_json(Method::POST, "/api/schedules", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    assert_eq!(res["data"]["next_runs"].as_array().unwrap().len(), 5, "{res}");
    let job = eventually("the schedule to fire", Duration::from_secs(5), || async {
        let jobs = api.data("/api/jobs?action=say").await;
        jobs.as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(job["triggered_by"], "schedule:tick");
    // Each run is its own job, at its second.
    let ended = wait_job(&api, job["id"].as_i64().unwrap()).await;
    assert_eq!(ended["status"], "succeeded");
    let (status, res) = api.send_json(Method::PATCH, "/api/schedules/tick", &json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["data"]["next_runs"], json!([]));
    // Any field can change; a new time counts from now and keeps it disabled.
    let change = json!({"cron": "daily@03:30", "timezone": "Europe/Berlin", "params": {"msg": "later"}});
    let (status, res) = api.send_json(Method::PATCH, "/api/schedules/tick", &change).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        (res["data"]["expression"].as_str(), res["data"]["params"]["msg"].as_str()),
        (Some("0 30 3 * * *"), Some("later"))
    );
    assert_eq!(res["data"]["next_runs"], json!([]));
    for bad in
        [json!({"cron": "61 * * * *"}), json!({"params": {"msg": "a\nb"}}), json!({"timezone": "Mars/Base"})]
    {
        let (status, res) = api.send_json(Method::PATCH, "/api/schedules/tick", &bad).await;
        assert_failure(status, &res, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let (status, res) = api.send_json(Method::PATCH, "/api/schedules/tick", &json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert!(res["data"]["next_runs"][0].as_str().unwrap().ends_with(":30:00Z"), "{res}");
    api.send_json(Method::PATCH, "/api/schedules/tick", &json!({"enabled": false})).await;
    let listed = api.data("/api/schedules").await;
    assert_eq!(listed[0]["enabled"], false);
    assert!(listed[0]["last_job_id"].as_i64().is_some());
    let (status, res) = api.send_json(Method::POST, "/api/schedules", &body).await;
    assert_failure(status, &res, StatusCode::CONFLICT, "conflict");
    for bad in [
        json!({"name": "x", "action": "say", "cron": "61 * * * *", "params": {"msg": "a"}}),
        json!({"name": "x", "action": "say", "cron": "daily@02:00", "timezone": "Mars/Base", "params": {"msg": "a"}}),
        json!({"name": "x", "action": "say", "cron": "daily@02:00", "params": {"msg": "a\nb"}}),
        json!({"name": "../x", "action": "say", "cron": "daily@02:00", "params": {"msg": "a"}}),
        json!({"name": "x", "action": "restore-docs", "cron": "daily@02:00"}),
    ] {
        let (status, res) = api.send_json(Method::POST, "/api/schedules", &bad).await;
        assert_failure(status, &res, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let (status, res) = api.call(Method::DELETE, "/api/schedules/tick").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, res) = api.call(Method::DELETE, "/api/schedules/tick").await;
    assert_failure(status, &res, StatusCode::NOT_FOUND, "not_found");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn backups_archive_keep_by_retention_restore_and_download() {
    let d = daemon();
    let api = Api::new(&d);
    // Before its first backup, a configured target is an empty list, not a 404.
    assert_eq!(api.data("/api/backups/db").await, json!([]));
    let (status, body) = api.get("/api/backups/nowhere").await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    let mut made = Vec::new();
    for _ in 0..3 {
        let job = run_to_end(&api, "docs", json!({})).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["progress"], 100.0, "{job}");
        made.push(job["result"]["file"].as_str().unwrap().to_owned());
    }
    let files = api.data("/api/backups/docs").await;
    let names: Vec<&str> = files.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    // keep = 2: the two newest, newest first.
    assert_eq!(names, [made[2].as_str(), made[1].as_str()], "{files}");
    assert!(!d.path(&format!("state/backups/docs/{}", made[0])).exists());
    assert!(!d.path(&format!("state/backups/docs/{}.sha256", made[0])).exists());
    let bytes = std::fs::read(d.path(&format!("state/backups/docs/{}", made[2]))).unwrap();
    assert_eq!(files[0]["sha256"], sha256_hex(&bytes));
    assert_eq!(files[0]["size_bytes"], bytes.len());
    let targets = api.data("/api/backups").await;
    let counts: Vec<(&str, u64)> = targets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["target"].as_str().unwrap(), t["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("big", 0), ("db", 0), ("docs", 2)], "configured targets are listed, empty ones too");

    // Restore asks for confirmation, then unpacks the same tree.
    let (status, body) = run(&api, "restore-docs", json!({"params": {"file": made[2]}})).await;
    assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let job = run_to_end(&api, "restore-docs", json!({"params": {"file": made[2]}, "confirm": true})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        std::fs::read(d.path("restored/deep/b.md")).unwrap(),
        std::fs::read(d.path("docs/deep/b.md")).unwrap()
    );
    assert_eq!(std::fs::read_link(d.path("restored/link.md")).unwrap().to_str(), Some("a.md"));
    let (status, body) =
        run(&api, "restore-docs", json!({"params": {"file": "../../ctrl.toml"}, "confirm": true})).await;
    assert_failure(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // A dump command's output is the backup.
    let job = run_to_end(&api, "dump", json!({})).await;
    let file = job["result"]["file"].as_str().unwrap();
    assert!(file.ends_with(".sql"), "{job}");
    let url = d.url(&format!("/api/backups/db/{file}"));
    let full = api.http.get(&url).bearer_auth(&api.token).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    assert!(full.headers()["content-disposition"].to_str().unwrap().contains(file));
    assert_eq!(full.bytes().await.unwrap().as_ref(), b"dumped data");
    let part = api.http.get(&url).bearer_auth(&api.token).header("range", "bytes=7-").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"data");
    for bad in [
        "/api/backups/db/..%2F..%2Fctrl.db",
        "/api/backups/..%2Fstate/token",
        "/api/backups/db/.hidden",
        "/api/backups/db/nope.sql",
    ] {
        let res = api.http.get(d.url(bad)).bearer_auth(&api.token).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{bad}: {status} {body}"
        );
        assert_eq!(body["success"], false);
    }
}

#[tokio::test]
async fn a_big_backup_downloads_in_constant_memory() {
    let d = daemon();
    let api = Api::new(&d);
    let dir = d.path("state/backups/big");
    std::fs::create_dir_all(&dir).unwrap();
    // 1 GiB, sparse: cheap to make, real bytes to send.
    let f = std::fs::File::create(dir.join("2026-11-22_00-00-00.bin")).unwrap();
    f.set_len(1 << 30).unwrap();
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    let before = rss(d.pid());
    let mut res = api
        .http
        .get(d.url("/api/backups/big/2026-11-22_00-00-00.bin"))
        .bearer_auth(&api.token)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    let (mut total, mut peak) = (0u64, before);
    while let Some(chunk) = res.chunk().await.unwrap() {
        total += chunk.len() as u64;
        if total % (64 << 20) < chunk.len() as u64 {
            peak = peak.max(rss(d.pid()));
        }
    }
    assert_eq!(total, 1 << 30);
    assert!(peak < before + 32 * 1024 * 1024, "RSS grew from {before} to {peak} bytes");
}

#[test]
fn the_cli_runs_lists_follows_schedules_and_lists_backups() {
    let d = daemon();
    assert_eq!(d.ok(&["run", "say", "-p", "msg=a; touch T9"]), "[a; touch T9]\n");
    assert!(!d.path("T9").exists());
    let failed = d.ctl(&["run", "steps"]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&failed.stdout), "working\n", "marker lines are not shown");
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("oops") && err.contains("failed: exit code 3"), "{err}");
    // Without a terminal, an action that asks for confirmation needs --yes.
    let refused = d.ctl(&["run", "danger"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    d.ok(&["run", "danger", "--yes"]);
    let id = d.ok(&["run", "slow", "--detach"]).trim().parse::<i64>().unwrap();
    let jobs: Vec<Value> = serde_json::from_str(&d.ok(&["jobs", "--json", "--action", "slow"])).unwrap();
    assert_eq!(jobs[0]["id"], id);
    assert!(d.ok(&["job", "logs", "-f", &id.to_string()]).is_empty());
    let shown: Value = serde_json::from_str(&d.ok(&["job", "show", &id.to_string(), "--json"])).unwrap();
    assert_eq!(shown["status"], "succeeded");
    let table = d.ok(&["jobs"]);
    assert!(table.starts_with("ID") && table.contains("steps") && table.contains("failed"), "{table}");
    assert!(d.ok(&["actions"]).contains("restore-docs"));

    d.ok(&[
        "schedule",
        "add",
        "nightly",
        "--action",
        "docs",
        "--cron",
        "daily@03:30",
        "--timezone",
        "Europe/Berlin",
    ]);
    let list: Vec<Value> = serde_json::from_str(&d.ok(&["schedule", "list", "--json"])).unwrap();
    assert_eq!(list[0]["expression"], "0 30 3 * * *");
    assert_eq!(list[0]["next_runs"].as_array().unwrap().len(), 5);
    assert!(d.ok(&["schedule", "disable", "nightly"]).contains("no"));
    d.ok(&["schedule", "rm", "nightly"]);
    assert!(!d.ctl(&["schedule", "rm", "nightly"]).status.success());

    d.ok(&["run", "docs"]);
    assert!(d.ok(&["backups"]).contains("docs"));
    assert!(d.ok(&["backups", "docs"]).contains(".tar.zst"));
}

#[tokio::test]
async fn cancelling_an_archive_stops_it_and_leaves_no_partial_file() {
    let d = daemon();
    let api = Api::new(&d);
    std::fs::create_dir_all(d.path("big")).unwrap();
    // 4 GiB, sparse: minutes to archive, nothing to store.
    std::fs::File::create(d.path("big/zeros")).unwrap().set_len(4 << 30).unwrap();
    let (_, res) = run(&api, "big", json!({})).await;
    let id = res["data"]["id"].as_i64().unwrap();
    eventually("the archive to make progress", Duration::from_secs(20), || async {
        let j = api.data(&format!("/api/jobs/{id}")).await;
        (j["progress"].as_f64().unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await;
    let asked = std::time::Instant::now();
    let (status, body) = api.post(&format!("/api/jobs/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "cancelled", "{body}");
    assert!(asked.elapsed() < Duration::from_secs(5), "the cancel took {:?}", asked.elapsed());
    let left: Vec<_> =
        std::fs::read_dir(d.path("state/backups/big")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The typed client's job streams over WebSockets: every job on `/api/jobs/ws`,
/// one job's lines and end on `/api/jobs/{id}/ws`.
#[tokio::test]
async fn the_typed_client_follows_jobs_over_websockets() {
    use ctrl_proto::JobUpdate;
    let d = daemon();
    let api = ctrl_client::Client::url(&format!("http://{}", d.api_addr()), Some(d.token()), None).unwrap();
    let mut all = api.jobs_socket().await.unwrap();
    let params = [("msg".to_owned(), ctrl_core::config::ParamValue::Text("hi".into()))].into_iter().collect();
    let job = api.run_action("say", params, false).await.unwrap();
    let mut one = api.job_socket(job.id).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match all.next().await.unwrap() {
                Some(JobUpdate::Job(j)) if j.id == job.id && j.status.is_final() => return j,
                Some(_) => {}
                None => panic!("the jobs socket closed"),
            }
        }
    })
    .await
    .expect("the job's end on the jobs socket");
    assert_eq!(ended.status, ctrl_core::JobStatus::Succeeded);
    let mut lines = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(update) = one.next().await.unwrap() {
            match update {
                JobUpdate::Log(l) => lines.push(l.line),
                JobUpdate::Job(j) if j.status.is_final() => return,
                JobUpdate::Job(_) => {}
            }
        }
    })
    .await
    .expect("the job's own socket to end");
    assert_eq!(lines, ["[hi]"]);
}

#[tokio::test]
async fn a_job_left_running_by_a_killed_daemon_is_stopped_and_cancelled_at_the_next_start() {
    let mut d = daemon();
    let api = Api::new(&d);
    let (status, res) = run(&api, "wait", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{res}");
    let id = res["data"]["id"].as_i64().unwrap();
    let pids = crate::common::wait("the job's two processes", Duration::from_secs(10), || {
        let p = pids_in(&d.path("wait.pid"));
        (p.len() == 2).then_some(p)
    });
    // The job's process is on record before the daemon dies.
    let store =
        ctrl_store::Store::open(&format!("sqlite://{}", d.path("state/ctrl.db").display())).await.unwrap();
    eventually("the job's process on record", Duration::from_secs(10), || async {
        let running = store.running_job_processes().await.unwrap();
        running.iter().any(|(job, pid, _)| *job == id && *pid == pids[0]).then_some(())
    })
    .await;
    store.close().await;
    d.kill9();
    assert!(pids.iter().all(|p| alive(*p)), "a killed daemon leaves its job's processes running");
    d.up();
    assert!(pids.iter().all(|p| !alive(*p)), "the next start stopped them, the whole group");
    let job = Api::new(&d).data(&format!("/api/jobs/{id}")).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(job["error"].as_str().unwrap().contains("the daemon was killed while it ran"), "{job}");
}
