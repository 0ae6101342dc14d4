//! The knowledge base against a real daemon and a real folder: the first scan
//! and what it reports about bad files, search with the query syntax, files,
//! agents and creators, incremental scans and restarts that read nothing, an
//! index rebuilt when it is gone, roles, the CLI, and live re-indexing as files
//! are created, saved by rename, renamed and deleted.

use std::path::Path;
use std::time::Duration;

use crate::common::http::{Api, assert_failure, eventually};
use crate::common::{Daemon, wait};
use reqwest::StatusCode;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

/// A knowledge folder with good notes and every kind of bad one.
fn notes(root: &Path, outside: &Path) {
    let put = |rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    put("coder/_agent.yaml", b"level: senior\ncategory: engineering\n");
    put(
        "coder/builds.md",
        b"---\ntitle: Fast builds\ncreator: c1\ntags: [rust, perf]\nconfidence: 0.9\n---\n\
          # Linking\nLink with mold to cut incremental build times.\n\n## Caches\nUse sccache. See [mold](https://github.com/rui314/mold).\n",
    );
    put(
        "coder/notes/async.md",
        b"# Async runtimes\nTokio schedules tasks on worker threads; a blocking call stalls the runtime.\n",
    );
    put("writer/style.md", b"+++\ntitle = \"House style\"\ncategory = \"editing\"\ntags = [\"style\"]\n+++\nShort sentences. Active voice. No jargon.\n");
    put("writer/broken.md", b"---\ntitle: [never closed\n---\nThis body is still indexed: zanzibar.\n");
    put("writer/latin1.md", b"caf\xe9 cr\xe8me zanzibar\n");
    put("writer/image.md", b"\x89PNG\r\n\x1a\n\0\0\0binary");
    put("loose.md", b"---\nagent: ops\n---\nRotate the logs weekly.\n");
    put(".obsidian/hidden.md", b"hidden zanzibar\n");
    put("coder/picture.png", b"not a note");
    put(
        "creators.yaml",
        b"- id: c1\n  name: Ann\n  platform: youtube\n  topics: [rust]\n- id: c2\n  name: Bo\n",
    );
    std::fs::write(outside.join("secret.md"), b"outside zanzibar secret").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.md"), root.join("writer/leak.md")).unwrap();
}

fn kb_daemon(watch: bool) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    notes(&dir.path().join("knowledge"), outside.path());
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[knowledge]\nroots = [\"knowledge\"]\n\
             creators = \"knowledge/creators.yaml\"\nwatch = {watch}\n"
        ),
    )
    .unwrap();
    (Daemon::adopt(dir, config), outside)
}

/// The newest scan job once it has ended.
async fn last_scan(api: &Api<'_>, after: i64) -> Value {
    eventually("a scan to end", LIMIT, || async {
        let jobs = api.data("/api/knowledge/jobs").await;
        let j = jobs.as_array()?.first()?.clone();
        (j["id"].as_i64()? > after && j["completed_at"].is_string()).then_some(j)
    })
    .await
}

async fn search(api: &Api<'_>, q: &str) -> Value {
    api.data(&format!("/api/knowledge/search?q={}", ctrl_client::segment(q))).await
}

fn paths(answer: &Value) -> Vec<String> {
    let mut p: Vec<String> =
        answer["hits"].as_array().unwrap().iter().map(|h| h["path"].as_str().unwrap().to_owned()).collect();
    p.sort();
    p
}

#[tokio::test]
async fn a_scan_indexes_the_folder_and_search_finds_what_the_syntax_says() {
    let (mut d, outside) = kb_daemon(false);
    let api = Api::new(&d);
    let scan = last_scan(&api, 0).await;
    assert_eq!(scan["job_type"], "kb_scan");
    assert_eq!(scan["status"], "succeeded", "{scan}");
    let r = &scan["result"];
    assert_eq!(
        (r["added"].as_u64(), r["changed"].as_u64(), r["removed"].as_u64()),
        (Some(7), Some(0), Some(0)),
        "{r}"
    );
    let problems: Vec<String> =
        r["errors"].as_array().unwrap().iter().map(|e| format!("{} {}", e["path"], e["error"])).collect();
    let named = |path: &str, what: &str| problems.iter().any(|p| p.contains(path) && p.contains(what));
    assert!(named("writer/broken.md", "front matter (YAML): line 3"), "{problems:?}");
    assert!(named("writer/latin1.md", "not UTF-8"), "{problems:?}");
    assert!(named("writer/image.md", "binary"), "{problems:?}");
    assert!(named("writer/leak.md", "outside the root"), "{problems:?}");
    assert_eq!(problems.len(), 4, "{problems:?}");

    let stats = api.data("/api/knowledge/stats").await;
    assert_eq!(
        (stats["files"].as_u64(), stats["agents"].as_u64(), stats["creators"].as_u64()),
        (Some(7), Some(3), Some(2))
    );
    assert_eq!(stats["index_docs"], 7);
    assert!(stats["index_bytes"].as_u64().unwrap() > 0 && stats["last_scan_at"].is_string(), "{stats}");

    // Words must all match; the agent's category applies to files without their own.
    let a = search(&api, "mold incremental").await;
    assert_eq!(paths(&a), vec!["coder/builds.md"]);
    let hit = &a["hits"][0];
    assert_eq!((hit["title"].as_str(), hit["agent"].as_str()), (Some("Fast builds"), Some("coder")));
    assert!(hit["score"].as_f64().unwrap() > 0.0);
    let snippet: Vec<char> = hit["snippet"].as_str().unwrap().chars().collect();
    let marked: Vec<String> = hit["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            snippet[h[0].as_u64().unwrap() as usize..h[1].as_u64().unwrap() as usize]
                .iter()
                .collect::<String>()
                .to_lowercase()
        })
        .collect();
    assert!(
        marked.contains(&"mold".to_string()) && marked.contains(&"incremental".to_string()),
        "{marked:?} in {hit}"
    );
    assert_eq!(search(&api, "mold tokio").await["total"], 0);
    assert_eq!(paths(&search(&api, "\"blocking call\"").await), vec!["coder/notes/async.md"]);
    assert_eq!(search(&api, "\"call blocking\"").await["total"], 0);
    assert_eq!(paths(&search(&api, "runtim*").await), vec!["coder/notes/async.md"]);
    // Bad notes are still searchable by their body; hidden folders and links out are not.
    assert_eq!(paths(&search(&api, "zanzibar").await), vec!["writer/broken.md", "writer/latin1.md"]);
    assert_eq!(paths(&search(&api, "zanzibar -caf").await), vec!["writer/broken.md"]);
    let by_agent = search(&api, "zanzibar agent:writer").await;
    assert_eq!(by_agent["total"], 2);
    assert_eq!(by_agent["agents"]["writer"], 2);
    assert_eq!(search(&api, "mold agent:writer").await["total"], 0);
    assert_eq!(paths(&search(&api, "tag:perf").await), vec!["coder/builds.md"]);
    assert_eq!(
        paths(&search(&api, "category:engineering").await),
        vec!["coder/builds.md", "coder/notes/async.md"]
    );
    assert_eq!(paths(&search(&api, "category:editing").await), vec!["writer/style.md"]);
    assert_eq!(paths(&search(&api, "creator:c1 link").await), vec!["coder/builds.md"]);
    assert_eq!(paths(&search(&api, "logs").await), vec!["loose.md"]);
    assert_eq!(search(&api, "logs").await["hits"][0]["agent"], "ops");
    let counts = search(&api, "the").await;
    assert_eq!(counts["agents"]["coder"], 1, "{counts}");

    // What a person may type never fails the server.
    for q in ["\"unclosed phrase", "AND OR NOT", "*", "a:b:c", "((()))", "title:x^2~", "-only", "\u{1F600}"] {
        let (status, body) = api.get(&format!("/api/knowledge/search?q={}", ctrl_client::segment(q))).await;
        assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{q}: {status} {body}");
    }
    let (status, body) = api.get("/api/knowledge/search?q=%20%20").await;
    assert_failure(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let long = "w".repeat(10 * 1024);
    let (status, body) = api.get(&format!("/api/knowledge/search?q={long}")).await;
    assert_failure(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.get("/api/knowledge/search?q=x&limit=0").await;
    assert_failure(status, &body, StatusCode::BAD_REQUEST, "bad_request");

    // Agents, files, one file, creators.
    let agents = api.data("/api/knowledge/agents").await;
    let coder = agents.as_array().unwrap().iter().find(|a| a["name"] == "coder").unwrap().clone();
    assert_eq!(
        (coder["level"].as_str(), coder["category"].as_str(), coder["files"].as_u64()),
        (Some("senior"), Some("engineering"), Some(2))
    );
    let page = api.data("/api/knowledge/files?agent=writer&limit=2").await;
    assert_eq!((page["total"].as_u64(), page["items"].as_array().unwrap().len()), (Some(4), 2));
    assert_eq!(api.data("/api/knowledge/files?tag=rust").await["total"], 1);
    assert_eq!(api.data("/api/knowledge/agents/coder/files").await["total"], 2);
    let (status, body) = api.get("/api/knowledge/agents/nobody/files").await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    let id = a["hits"][0]["file_id"].as_i64().unwrap();
    let f = api.data(&format!("/api/knowledge/files/{id}")).await;
    assert!(f["content"].as_str().unwrap().starts_with("---\ntitle: Fast builds"), "{f}");
    assert_eq!(f["front_matter"]["tags"], serde_json::json!(["rust", "perf"]));
    assert_eq!(f["insights"]["headings"][1], serde_json::json!({"level": 2, "text": "Caches"}));
    assert_eq!(f["insights"]["links"], serde_json::json!(["https://github.com/rui314/mold"]));
    assert_eq!(
        (f["category"].as_str(), f["confidence"].as_f64(), f["creator"].as_str()),
        (Some("engineering"), Some(0.9), Some("c1"))
    );
    assert_eq!(f["sha256"].as_str().map(str::len), Some(64));
    for bad in ["999999", "-1", "x", "1%2F..%2F..%2Fetc%2Fpasswd"] {
        let (status, body) = api.get(&format!("/api/knowledge/files/{bad}")).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{bad}: {status} {body}"
        );
        assert_eq!(body["success"], false);
    }
    let creators = api.data("/api/knowledge/creators").await;
    assert_eq!(creators[0]["files"], 1);
    assert_eq!(api.data("/api/knowledge/creators/c1").await["file_list"][0]["file_path"], "coder/builds.md");
    let (status, body) = api.get("/api/knowledge/creators/nobody").await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");

    // A file swapped for a link out of the root is no longer served.
    let root = d.path("knowledge");
    std::fs::remove_file(root.join("coder/notes/async.md")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("coder/notes/async.md")).unwrap();
    let async_id = search(&api, "tokio").await["hits"][0]["file_id"].as_i64().unwrap();
    let (status, body) = api.get(&format!("/api/knowledge/files/{async_id}")).await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");

    // An incremental scan reads what changed only; the CLI follows it.
    std::fs::write(root.join("writer/style.md"), b"Long sentences now, about quokkas.\n").unwrap();
    std::fs::remove_file(root.join("loose.md")).unwrap();
    let out = d.ok(&["kb", "scan"]);
    assert!(out.contains("added 0, changed 1, removed 2, unchanged 4"), "{out}");
    assert_eq!(paths(&search(&api, "quokkas").await), vec!["writer/style.md"]);
    assert_eq!(search(&api, "logs").await["total"], 0);
    assert_eq!(search(&api, "tokio").await["total"], 0);
    assert_eq!(api.data("/api/knowledge/stats").await["agents"], 2, "ops had only loose.md");

    // A restart reads nothing; an index that is gone is rebuilt from the files.
    let before = last_scan(&api, 0).await["id"].as_i64().unwrap();
    d.stop();
    d.up();
    let api = Api::new(&d);
    let r = last_scan(&api, before).await["result"].clone();
    assert_eq!(
        (r["added"].as_u64(), r["changed"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(0), Some(5)),
        "{r}"
    );
    assert_eq!(d.log().matches("the search index is new").count(), 1);
    let before = last_scan(&api, 0).await["id"].as_i64().unwrap();
    d.stop();
    std::fs::remove_dir_all(d.path("state/kb")).unwrap();
    d.up();
    let api = Api::new(&d);
    last_scan(&api, before).await;
    assert_eq!(paths(&search(&api, "quokkas").await), vec!["writer/style.md"]);
    assert_eq!(api.data("/api/knowledge/stats").await["index_docs"], 5);

    // A new database beside the old index: the index's documents are not taken for
    // the new rows (whose ids start over), and nothing just added is removed.
    d.stop();
    for f in ["state/ctrl.db", "state/ctrl.db-wal", "state/ctrl.db-shm"] {
        let _ = std::fs::remove_file(d.path(f));
    }
    d.up();
    let api = Api::new(&d);
    let r = last_scan(&api, 0).await["result"].clone();
    assert_eq!((r["added"].as_u64(), r["removed"].as_u64()), (Some(5), Some(0)), "{r}");
    assert_eq!(api.data("/api/knowledge/stats").await["index_docs"], 5);
    assert_eq!(paths(&search(&api, "quokkas").await), vec!["writer/style.md"]);

    // The CLI: search, stats, rebuild.
    let hits: Value = serde_json::from_str(&d.ok(&["kb", "search", "mold", "--json"])).unwrap();
    assert_eq!(hits["hits"][0]["path"], "coder/builds.md");
    let text = d.ok(&["kb", "search", "zanzibar", "--agent", "writer"]);
    assert!(text.contains("[zanzibar]") && text.contains("2 of 2 files"), "{text}");
    let stats: Value = serde_json::from_str(&d.ok(&["kb", "stats", "--json"])).unwrap();
    assert_eq!(stats["files"], 5);
    let out = d.ok(&["kb", "reindex"]);
    assert!(out.contains("unchanged 5"), "{out}");
    assert_eq!(paths(&search(&api, "mold").await), vec!["coder/builds.md"]);

    // Tags match in any case; an agent whose _agent.yaml is gone loses its category
    // in the listing and in search alike.
    assert_eq!(paths(&search(&api, "tag:PERF").await), vec!["coder/builds.md"]);
    assert_eq!(api.data("/api/knowledge/files?tag=Rust").await["total"], 1);
    std::fs::remove_file(d.path("knowledge/coder/_agent.yaml")).unwrap();
    d.ok(&["kb", "scan"]);
    assert_eq!(search(&api, "category:engineering").await["total"], 0);
    assert_eq!(api.data("/api/knowledge/files?category=engineering").await["total"], 0);
    let agents = api.data("/api/knowledge/agents").await;
    let coder = agents.as_array().unwrap().iter().find(|a| a["name"] == "coder").unwrap().clone();
    assert_eq!((coder["level"].clone(), coder["category"].clone()), (Value::Null, Value::Null));
}

#[tokio::test]
async fn scanning_needs_an_operator_and_is_audited_and_no_config_is_a_clear_404() {
    let (d, _outside) = kb_daemon(false);
    let api = Api::new(&d);
    last_scan(&api, 0).await;
    let viewer = d.ok(&["token", "create", "--name", "reader", "--role", "viewer"]).trim().to_owned();
    let res =
        reqwest::Client::new().post(d.url("/api/knowledge/scan")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = reqwest::Client::new()
        .get(d.url("/api/knowledge/search?q=mold"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "viewers search");
    let (status, body) = api.post("/api/knowledge/scan").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["job_type"], "kb_scan");
    // The scan is a job like any other.
    let job = api.data(&format!("/api/jobs/{}", body["data"]["id"])).await;
    assert_eq!(job["job_type"], "kb_scan");
    let audit = api.data("/api/audit?limit=20").await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "scan" && e["target"] == "knowledge" && e["result"] == "ok"),
        "{audit}"
    );

    let plain = Daemon::start("");
    let (status, body) = Api::new(&plain).get("/api/knowledge/search?q=x").await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(body["error"].as_str().unwrap().contains("[knowledge]"), "{body}");
}

#[tokio::test]
async fn saved_renamed_and_deleted_files_are_searchable_without_a_scan() {
    let (d, _outside) = kb_daemon(true);
    let api = Api::new(&d);
    last_scan(&api, 0).await;
    wait("the watcher", LIMIT, || {
        let s: Value = serde_json::from_str(&d.ok(&["kb", "stats", "--json"])).ok()?;
        (s["watching"] == true).then_some(())
    });
    let root = d.path("knowledge");
    let found = |q: &'static str, want: Vec<&'static str>| {
        let api = &api;
        async move {
            eventually(&format!("search '{q}' to give {want:?}"), LIMIT, || async {
                let got = paths(&search(api, q).await);
                (got == want).then_some(())
            })
            .await
        }
    };
    // Created.
    std::fs::write(root.join("coder/new.md"), b"A note about wombats.\n").unwrap();
    found("wombats", vec!["coder/new.md"]).await;
    // Saved the way editors do: a temporary file renamed over the note.
    std::fs::write(root.join("coder/.new.md.swp"), b"A note about numbats now.\n").unwrap();
    std::fs::rename(root.join("coder/.new.md.swp"), root.join("coder/new.md")).unwrap();
    found("numbats", vec!["coder/new.md"]).await;
    found("wombats", vec![]).await;
    // Renamed, into a new folder.
    std::fs::create_dir(root.join("archive")).unwrap();
    std::fs::rename(root.join("coder/new.md"), root.join("archive/new.md")).unwrap();
    found("numbats", vec!["archive/new.md"]).await;
    // Deleted.
    std::fs::remove_file(root.join("archive/new.md")).unwrap();
    found("numbats", vec![]).await;
    // A burst of saves lands whole.
    for i in 0..300 {
        std::fs::write(root.join(format!("writer/burst-{i}.md")), format!("burst note {i} about quolls\n"))
            .unwrap();
    }
    eventually("the burst to be searchable", LIMIT, || async {
        (search(&api, "quolls").await["total"] == 300).then_some(())
    })
    .await;
    // A folder moved in from elsewhere is picked up with everything in it.
    let elsewhere = d.path("incoming");
    std::fs::create_dir_all(elsewhere.join("deep")).unwrap();
    std::fs::write(elsewhere.join("deep/a.md"), b"bilbies live here\n").unwrap();
    std::fs::rename(&elsewhere, root.join("moved")).unwrap();
    found("bilbies", vec!["moved/deep/a.md"]).await;
}
