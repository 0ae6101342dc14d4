//! The store's one test suite, run against a real SQLite file and a real
//! PostgreSQL database (each scenario once per backend), plus copying between them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is its failure

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use ctrl_core::config::{AlertKind, Missed, ParamValue};
use ctrl_core::{JobStatus, Role, ServiceEvent, Status};
use ctrl_proto::AuditEntry;
use ctrl_store::{
    Backend, CopyError, InteractionFilter, JobEnd, JobFilter, KbAgent, KbFileWrite, KbFilter, NewInteraction,
    ScheduleRow, ServiceRecord, Store, StoreError, UsageDelta, UsageGroup, testing,
};

/// A scenario on a fresh store of each backend: `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let store = super::Store::open(&super::testing::sqlite(dir.path())).await.unwrap();
                assert_eq!(store.backend(), super::Backend::Sqlite);
                super::$name(store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let store = super::Store::open(&super::testing::postgres().await).await.unwrap();
                assert_eq!(store.backend(), super::Backend::Postgres);
                super::$name(store).await;
            }
        }
    )*};
}

on_both!(
    services_and_events,
    access,
    jobs,
    schedules,
    alerts,
    knowledge,
    llm,
    agent,
    hosts,
    hubs,
    schema_too_new,
    copy_refusals
);

fn event(service: &str, from: Status, to: Status, pid: Option<u32>) -> ServiceEvent {
    ServiceEvent {
        service: service.into(),
        from,
        to,
        pid,
        exit_code: None,
        signal: None,
        reason: Some("test".into()),
        at: Utc::now(),
    }
}

fn record(e: ServiceEvent, pid_start: Option<u64>, restarts: u32) -> ServiceRecord {
    ServiceRecord { event: e, pid_start, restarts }
}

async fn services_and_events(store: Store) {
    assert!(store.ping().await);
    store.declare_services(&[("web".into(), Some(8000), "python3 -m http.server".into())]).await.unwrap();
    store
        .record(&[
            record(event("web", Status::Stopped, Status::Starting, None), None, 0),
            record(event("web", Status::Starting, Status::Running, Some(77)), Some(12345), 0),
        ])
        .await
        .unwrap();
    let rows = store.service_rows().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].status.as_str(), rows[0].pid, rows[0].pid_start, rows[0].port),
        ("running", Some(77), Some(12345), Some(8000))
    );
    let mut exited = event("web", Status::Running, Status::Exited, Some(77));
    exited.exit_code = Some(3);
    exited.signal = Some("SIGTERM".into());
    store.record(&[record(exited, None, 1)]).await.unwrap();
    let rows = store.service_rows().await.unwrap();
    assert_eq!((rows[0].pid, rows[0].pid_start, rows[0].restarts), (None, None, 1));
    let events = store.events("web", 2).await.unwrap();
    assert_eq!(events.iter().map(|e| e.to).collect::<Vec<_>>(), [Status::Running, Status::Exited]);
    assert_eq!((events[1].exit_code, events[1].signal.as_deref()), (Some(3), Some("SIGTERM")));
    assert_eq!(store.events("web", 10).await.unwrap().len(), 3);
    assert!(store.events("nobody", 10).await.unwrap().is_empty());
    let stored = store.events("web", 1).await.unwrap().remove(0);
    assert!(store.has_event(&stored).await.unwrap());
    assert!(!store.has_event(&event("web", Status::Running, Status::Exited, None)).await.unwrap());
    store.clear_process("web").await.unwrap();
    store.forget_service("web").await.unwrap();
    assert!(store.service_rows().await.unwrap().is_empty());
    // Events stay as history after the service left the config.
    assert_eq!(store.events("web", 10).await.unwrap().len(), 3);
}

async fn access(store: Store) {
    assert!(store.add_user("ada", "hash1", Role::Operator).await.unwrap());
    assert!(!store.add_user("ada", "other", Role::Admin).await.unwrap(), "a taken name is refused");
    let (user, hash) = store.user_with_hash("ada").await.unwrap().unwrap();
    assert_eq!((user.role, hash.as_str()), (Role::Operator, "hash1"));
    let expires = Utc::now() + chrono::Duration::hours(1);
    store.add_session("s1", "ada", "csrf", Some("127.0.0.1"), expires).await.unwrap();
    let session = store.session("s1").await.unwrap().unwrap();
    assert_eq!((session.user.name.as_str(), session.csrf_token.as_str()), ("ada", "csrf"));
    assert_eq!(session.expires_at.timestamp_micros(), expires.timestamp_micros());
    let later = Utc::now() + chrono::Duration::minutes(5);
    store.touch_session("s1", later).await.unwrap();
    assert_eq!(store.session("s1").await.unwrap().unwrap().last_seen_at.timestamp(), later.timestamp());
    // A new password ends the user's sessions.
    assert!(store.update_user("ada", Some("hash2"), Some(Role::Admin)).await.unwrap());
    assert!(store.session("s1").await.unwrap().is_none());
    assert!(!store.update_user("nobody", Some("x"), None).await.unwrap());

    let t = store.add_token("ci", "tokhash", Role::Viewer, Some("ada"), None).await.unwrap();
    let again = store.add_token("other", "tokhash", Role::Admin, None, None).await.unwrap();
    assert_eq!((again.id, again.name.as_str()), (t.id, "ci"), "a stored hash is kept as it is");
    assert_eq!(store.token_by_hash("tokhash").await.unwrap().unwrap().role, Role::Viewer);
    assert_eq!(store.tokens().await.unwrap().len(), 1);
    assert!(store.revoke_token(t.id).await.unwrap().unwrap().revoked_at.is_some());
    assert!(store.revoke_token(t.id + 100).await.unwrap().is_none());

    // Removing a user ends their sessions and revokes their tokens.
    let t2 = store.add_token("ci2", "tokhash2", Role::Viewer, Some("ada"), None).await.unwrap();
    store.add_session("s2", "ada", "csrf", None, expires).await.unwrap();
    assert!(store.remove_user("ada").await.unwrap());
    assert!(store.session("s2").await.unwrap().is_none());
    assert!(store.token_by_hash("tokhash2").await.unwrap().unwrap().revoked_at.is_some(), "{t2:?}");
    assert!(store.users().await.unwrap().is_empty());

    for (i, action) in ["login", "start", "stop"].iter().enumerate() {
        store
            .audit(&AuditEntry {
                id: 0,
                at: Utc::now(),
                actor: "ada".into(),
                action: (*action).into(),
                target: Some(format!("svc{i}")),
                address: None,
                result: "ok".into(),
                detail: None,
            })
            .await
            .unwrap();
    }
    let log = store.audit_log(2).await.unwrap();
    assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["stop", "start"]);
    assert!(log[0].id > log[1].id);
}

async fn jobs(store: Store) {
    let params = BTreeMap::from([("env".to_owned(), ParamValue::Text("prod".into()))]);
    let a = store.add_job("command", Some("deploy"), &params, "ada").await.unwrap();
    let b = store.add_job("backup", Some("docs"), &BTreeMap::new(), "schedule:nightly").await.unwrap();
    assert_eq!((a.status, a.params.get("env")), (JobStatus::Queued, Some(&ParamValue::Text("prod".into()))));
    assert!(b.id > a.id);
    store.job_started(a.id, Utc::now()).await.unwrap();
    store.job_progress(a.id, 42.5, Some("3/7")).await.unwrap();
    let running = store.job(a.id).await.unwrap().unwrap();
    assert_eq!(
        (running.status, running.progress, running.progress_label.as_deref()),
        (JobStatus::Running, Some(42.5), Some("3/7"))
    );
    let end = JobEnd {
        exit_code: Some(2),
        signal: None,
        progress: None,
        progress_label: None,
        result: Some(serde_json::json!({"deployed": 3})),
        error: Some("exit 2".into()),
    };
    store.job_finished(a.id, JobStatus::Failed, Utc::now(), &end).await.unwrap();
    let done = store.job(a.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.exit_code, done.progress), (JobStatus::Failed, Some(2), Some(42.5)));
    assert_eq!(done.result, Some(serde_json::json!({"deployed": 3})));
    assert!(store.job(a.id + 1000).await.unwrap().is_none());

    let all = store.jobs(&JobFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.iter().map(|j| j.id).collect::<Vec<_>>(), [b.id, a.id], "newest first");
    let failed = JobFilter { status: Some(JobStatus::Failed), limit: 10, ..Default::default() };
    assert_eq!(store.jobs(&failed).await.unwrap().len(), 1);
    let backups = JobFilter { job_type: Some("backup".into()), limit: 10, ..Default::default() };
    assert_eq!(store.jobs(&backups).await.unwrap()[0].id, b.id);
    let page = JobFilter { before: Some(b.id), limit: 10, ..Default::default() };
    assert_eq!(store.jobs(&page).await.unwrap()[0].id, a.id);
    // A daemon that stopped without finishing b leaves it queued; the next one ends it.
    assert_eq!(store.end_interrupted_jobs("daemon stopped").await.unwrap(), 1);
    assert_eq!(store.job(b.id).await.unwrap().unwrap().status, JobStatus::Cancelled);
}

async fn schedules(store: Store) {
    let next = Utc.with_ymd_and_hms(2030, 1, 1, 2, 0, 0).unwrap();
    let s = ScheduleRow {
        name: "nightly".into(),
        action: "backup-docs".into(),
        cron: "0 2 * * *".into(),
        timezone: "UTC".into(),
        missed: Missed::RunOnce,
        params: BTreeMap::from([("n".to_owned(), ParamValue::Int(3))]),
        enabled: true,
        source: "config".into(),
        next_run_at: Some(next),
        last_run_at: None,
        last_job_id: None,
    };
    assert!(store.put_schedule(&s, true).await.unwrap());
    assert!(!store.put_schedule(&s, true).await.unwrap(), "only_new refuses a taken name");
    assert_eq!(store.schedule("nightly").await.unwrap().unwrap(), s);
    // The same definition keeps its next run; a new cron takes the new one.
    let moved = ScheduleRow { next_run_at: Some(next + chrono::Duration::days(1)), ..s.clone() };
    store.put_schedule(&moved, false).await.unwrap();
    assert_eq!(store.schedule("nightly").await.unwrap().unwrap().next_run_at, Some(next));
    let recron = ScheduleRow { cron: "0 3 * * *".into(), ..moved.clone() };
    store.put_schedule(&recron, false).await.unwrap();
    assert_eq!(store.schedule("nightly").await.unwrap().unwrap().next_run_at, moved.next_run_at);

    store.schedule_fired("nightly", Some((next, 7)), Some(next + chrono::Duration::days(2))).await.unwrap();
    let fired = store.schedule("nightly").await.unwrap().unwrap();
    assert_eq!((fired.last_run_at, fired.last_job_id), (Some(next), Some(7)));
    let api = ScheduleRow { name: "adhoc".into(), source: "api".into(), enabled: false, ..s.clone() };
    store.put_schedule(&api, true).await.unwrap();
    assert_eq!(store.prune_config_schedules(&[]).await.unwrap(), ["nightly"]);
    let left = store.schedules().await.unwrap();
    assert_eq!((left.len(), left[0].name.as_str(), left[0].enabled), (1, "adhoc", false));
    assert!(store.remove_schedule("adhoc").await.unwrap());
    assert!(!store.remove_schedule("adhoc").await.unwrap());
}

async fn alerts(store: Store) {
    let a = store.add_alert("crashes", AlertKind::Crash, "web", "firing", "web crashed").await.unwrap();
    let b = store.add_alert("cpu", AlertKind::Cpu, "cpu", "resolved", "cpu back").await.unwrap();
    let delivery: ctrl_proto::Delivery = serde_json::from_value(serde_json::json!({
        "channel": "ops", "format": "json", "ok": false, "attempts": 3, "status": 502, "error": "bad gateway"
    }))
    .unwrap();
    store.alert_delivered(a.id, std::slice::from_ref(&delivery)).await.unwrap();
    let list = store.alerts(10).await.unwrap();
    assert_eq!(list.iter().map(|x| x.id).collect::<Vec<_>>(), [b.id, a.id]);
    assert_eq!((list[1].kind, list[1].deliveries.len()), (AlertKind::Crash, 1));
    assert_eq!(list[1].deliveries[0].status, Some(502));
}

/// A database that a newer binary migrated is refused, with both versions named.
async fn schema_too_new(store: Store) {
    let url = store.label().to_owned();
    // The label has no password; the test servers need none.
    store.add_user("ada", "h", Role::Admin).await.unwrap();
    raw(&store, "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', TRUE, X'00', 1)").await;
    store.close().await;
    let err = Store::open(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { database: 9999, binary: 11 }), "{err}");
    assert_eq!(
        err.to_string(),
        "the database has schema version 9999, newer than this binary's 11; run a newer ctrl"
    );
}

/// Runs raw SQL through a connection of the test's own (the store exposes none).
async fn raw(store: &Store, sql: &str) {
    use sqlx::{Connection, Executor};
    let url = store.label();
    let sql = match store.backend() {
        Backend::Sqlite => sql.to_owned(),
        Backend::Postgres => sql.replace("X'00'", "'\\x00'::bytea"),
    };
    match store.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            c.execute(sql.as_str()).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute(sql.as_str()).await.unwrap();
        }
    }
}

/// Copying into itself, into a non-empty target, or from a store a daemon holds is refused.
async fn copy_refusals(store: Store) {
    store.add_user("ada", "h", Role::Admin).await.unwrap();
    let same = Store::open(store.label()).await.unwrap();
    let err = store.copy_into(&same, true).await.unwrap_err();
    assert!(matches!(err, CopyError::SameDatabase(_)), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let other = Store::open(&testing::sqlite(dir.path())).await.unwrap();
    other.add_user("bob", "h", Role::Viewer).await.unwrap();
    let err = store.copy_into(&other, false).await.unwrap_err();
    assert_eq!(err.to_string(), "the target is not empty (users: 1); pass --force to replace its contents");
    assert_eq!(other.users().await.unwrap()[0].name, "bob", "a refused copy changes nothing");

    let daemon = store.hold().await.unwrap();
    let err = store.copy_into(&other, true).await.unwrap_err();
    assert!(matches!(err, CopyError::InUse("source", _)), "{err}");
    // One daemon at a time: a second is refused while the first runs, not after.
    let err = same.hold().await.unwrap_err();
    assert_eq!(err.to_string(), "the database is in use by another ctrl daemon or a `ctrl db copy`");
    daemon.release().await;
    same.hold().await.unwrap().release().await;
    let report = store.copy_into(&other, true).await.unwrap();
    assert_eq!(report.tables.iter().find(|t| t.table == "users").map(|t| t.rows), Some(1));
    assert_eq!(other.users().await.unwrap()[0].name, "ada", "--force replaced the target's rows");

    // Hubs share a PostgreSQL database with each other, and with no daemon or copy.
    if store.backend() == Backend::Sqlite {
        let err = store.hold_shared().await.unwrap_err();
        assert!(err.to_string().contains("only a PostgreSQL database can be shared"), "{err}");
        return;
    }
    let (a, b) = (store.hold_shared().await.unwrap(), same.hold_shared().await.unwrap());
    assert!(
        matches!(store.hold().await.unwrap_err(), ctrl_store::StoreError::InUse),
        "no daemon beside hubs"
    );
    let err = store.copy_into(&other, true).await.unwrap_err();
    assert!(matches!(err, CopyError::InUse("source", _)), "{err}");
    a.release().await;
    assert!(store.hold().await.is_err(), "one hub still runs");
    b.release().await;
    let daemon = store.hold().await.unwrap();
    assert!(
        matches!(same.hold_shared().await.unwrap_err(), ctrl_store::StoreError::InUse),
        "no hub beside a daemon"
    );
    daemon.release().await;
}

/// Fills every table of `store` with a few rows.
async fn fill(store: &Store) {
    services_and_events_rows(store).await;
    store.add_user("ada", "hash", Role::Admin).await.unwrap();
    store
        .add_session("s1", "ada", "csrf", Some("10.0.0.1"), Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    for i in 0..3 {
        store
            .add_token(&format!("t{i}"), &format!("hash{i}"), Role::Viewer, Some("ada"), None)
            .await
            .unwrap();
    }
    store.revoke_token(1).await.unwrap();
    let job = store.add_job("command", Some("deploy"), &BTreeMap::new(), "ada").await.unwrap();
    store.job_progress(job.id, 12.5, None).await.unwrap();
    store
        .put_schedule(
            &ScheduleRow {
                name: "nightly".into(),
                action: "deploy".into(),
                cron: "0 2 * * *".into(),
                timezone: "Europe/Paris".into(),
                missed: Missed::Skip,
                params: BTreeMap::new(),
                enabled: true,
                source: "api".into(),
                next_run_at: Some(Utc::now()),
                last_run_at: None,
                last_job_id: Some(job.id),
            },
            true,
        )
        .await
        .unwrap();
    store.add_alert("crashes", AlertKind::Crash, "web", "firing", "web crashed").await.unwrap();
    store
        .audit(&AuditEntry {
            id: 0,
            at: Utc::now(),
            actor: "ada".into(),
            action: "start".into(),
            target: Some("web".into()),
            address: None,
            result: "ok".into(),
            detail: Some("{\"x\":1}".into()),
        })
        .await
        .unwrap();
    knowledge_rows(store).await;
    raw(store, "INSERT INTO api_usage (service, cost, calls, date) VALUES ('llm', 1.25, 4, '2026-01-02')")
        .await;
    store.llm_usage_add(&[usage("2026-01-02", "app", "m1", Some(1), 2, 0.5)]).await.unwrap();
    store.llm_key_add("app", "hash", "sk-ctrl-ab", &["*".into()], Some(1.0), "month").await.unwrap();
    store.llm_interactions_add(&[interaction("m1", Some("{}"), Utc::now())]).await.unwrap();
    let session = store.agent_session_add("chat", "m1", Some("be brief"), "ada").await.unwrap();
    let message =
        ctrl_store::NewMessage { index: 0, role: "user".into(), message: r#"{"role":"user"}"#.into() };
    store.agent_messages_add(session.id, &[message]).await.unwrap();
    let event = ctrl_store::StoredEvent {
        seq: 1,
        kind: ctrl_proto::EventType::Text,
        data: r#"{"delta":"hi"}"#.into(),
        at: Utc::now(),
    };
    store.agent_events_add(session.id, &[event]).await.unwrap();
    let soon = Utc::now() + chrono::Duration::hours(1);
    store.host_add("web-1", "hash", soon).await.unwrap();
    store.host_enroll("web-1", "hash", "key", Utc::now()).await.unwrap();
    let event =
        ctrl_store::NewHostEvent { seq: 1, kind: "service".into(), data: "{}".into(), at: Utc::now() };
    store.host_events_add("web-1", "boot", &[event], Some(1)).await.unwrap();
    store.hub_announce(&hub_row("hub-a", Utc::now())).await.unwrap();
}

/// Two agents and three files, as a scan would leave them; answers the files' ids.
async fn knowledge_rows(store: &Store) -> Vec<i64> {
    let root = "/kb".to_string();
    let keys: Vec<(String, String)> = ["coder/a.md", "coder/b.md", "writer/100%_done.md"]
        .iter()
        .map(|p| (root.clone(), p.to_string()))
        .collect();
    let ids = store.kb_reserve(&keys).await.unwrap();
    let defs = [
        KbAgent { name: "coder".into(), level: Some("senior".into()), category: Some("engineering".into()) },
        KbAgent { name: "writer".into(), level: None, category: None },
    ];
    let agents = store.kb_agents_sync(&defs, true).await.unwrap();
    let write = |i: usize, agent: &str, category: Option<&str>, tags: &[&str]| KbFileWrite {
        id: ids[i],
        root: root.clone(),
        file_path: keys[i].1.clone(),
        agent: Some(agent.into()),
        title: format!("Note {i}"),
        category: category.map(String::from),
        confidence: Some(0.5),
        creator: (i == 0).then(|| "c1".to_string()),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        front_matter: r#"{"title":"x"}"#.into(),
        bytes: 100 * (i as i64 + 1),
        mtime_ns: 1_700_000_000_123_456_789,
        sha256: Some(format!("{i:064}")),
        problem: (i == 2).then(|| "not UTF-8".to_string()),
    };
    store
        .kb_save(
            &[
                write(0, "coder", None, &["rust", "perf"]),
                write(1, "coder", Some("ops"), &["50%_off"]),
                write(2, "writer", None, &[]),
            ],
            &agents,
        )
        .await
        .unwrap();
    ids
}

async fn knowledge(store: Store) {
    let ids = knowledge_rows(&store).await;
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id > 0));
    let a = store.kb_file_state("/kb", "coder/a.md").await.unwrap().unwrap();
    assert_eq!((a.mtime_ns, a.sha256.as_deref().map(str::len)), (Some(1_700_000_000_123_456_789), Some(64)));
    assert_eq!(store.kb_file_state("/kb", "nope.md").await.unwrap(), None);

    let agents = store.kb_agents().await.unwrap();
    let names: Vec<_> = agents.iter().map(|a| (a.name.as_str(), a.files, a.category.as_deref())).collect();
    assert_eq!(names, vec![("coder", 2, Some("engineering")), ("writer", 1, None)]);

    // Filters: the agent's category stands in for a file without its own.
    let by = |f: KbFilter| {
        let store = store.clone();
        async move {
            let (items, total) = store.kb_files(&f, 10, 0).await.unwrap();
            (items.iter().map(|i| i.file_path.clone()).collect::<Vec<_>>(), total)
        }
    };
    let engineering = by(KbFilter { category: Some("engineering".into()), ..Default::default() }).await;
    assert_eq!(engineering, (vec!["coder/a.md".to_string()], 1));
    assert_eq!(by(KbFilter { category: Some("ops".into()), ..Default::default() }).await.1, 1);
    assert_eq!(by(KbFilter { agent: Some("coder".into()), ..Default::default() }).await.1, 2);
    assert_eq!(by(KbFilter { creator: Some("c1".into()), ..Default::default() }).await.1, 1);
    assert_eq!(by(KbFilter { tag: Some("rust".into()), ..Default::default() }).await.1, 1);
    assert_eq!(by(KbFilter { tag: Some("RUST".into()), ..Default::default() }).await.1, 1, "any case");
    // LIKE's wildcards in a tag match themselves only.
    assert_eq!(by(KbFilter { tag: Some("50%_off".into()), ..Default::default() }).await.1, 1);
    assert_eq!(by(KbFilter { tag: Some("%".into()), ..Default::default() }).await.1, 0);
    assert_eq!(by(KbFilter { tag: Some("rus".into()), ..Default::default() }).await.1, 0);
    let (page, total) = store.kb_files(&KbFilter::default(), 1, 2).await.unwrap();
    assert_eq!((page.len(), total, page[0].file_path.as_str()), (1, 3, "writer/100%_done.md"));

    let (file, root, fm) = store.kb_file(ids[0]).await.unwrap().unwrap();
    assert_eq!((file.title.as_str(), root.as_str(), fm.as_str()), ("Note 0", "/kb", r#"{"title":"x"}"#));
    assert_eq!(file.tags, vec!["rust", "perf"]);
    assert_eq!(file.mtime.map(|t| t.timestamp_subsec_nanos()), Some(123_456_789));
    assert_eq!(store.kb_file(9999).await.unwrap(), None);
    assert!(store.kb_has_folder("/kb", "coder").await.unwrap());
    for not_a_folder in ["cod", "c_der", "c%", "coder/a.md", "writer/100%_done.md"] {
        assert!(!store.kb_has_folder("/kb", not_a_folder).await.unwrap(), "{not_a_folder}");
    }
    assert!(!store.kb_has_folder("/elsewhere", "coder").await.unwrap());

    // Reserving known paths answers the same ids and marks them not indexed:
    // until saved again they are not listed (nor is a new one).
    let again = store
        .kb_reserve(&[("/kb".into(), "coder/b.md".into()), ("/kb".into(), "new.md".into())])
        .await
        .unwrap();
    assert_eq!(again[0], ids[1]);
    let b = store.kb_file_state("/kb", "coder/b.md").await.unwrap().unwrap();
    assert_eq!((b.sha256, b.agent.as_deref(), b.bytes), (None, Some("coder"), Some(200)));
    assert_eq!(store.kb_files(&KbFilter::default(), 10, 0).await.unwrap().1, 2);
    assert_eq!(store.kb_file_states().await.unwrap().len(), 4);

    store.kb_touch(&[(ids[0], 7, 42)]).await.unwrap();
    let a = store.kb_file_state("/kb", "coder/a.md").await.unwrap().unwrap();
    assert_eq!((a.bytes, a.mtime_ns), (Some(7), Some(42)));
    // Without `update`, a known agent keeps its category; a new one is added.
    let quiet = [
        KbAgent { name: "coder".into(), level: None, category: Some("other".into()) },
        KbAgent { name: "new".into(), level: None, category: Some("x".into()) },
    ];
    store.kb_agents_sync(&quiet, false).await.unwrap();
    let cats: Vec<_> = store.kb_agents().await.unwrap().into_iter().map(|a| (a.name, a.category)).collect();
    assert!(
        cats.contains(&("coder".into(), Some("engineering".into())))
            && cats.contains(&("new".into(), Some("x".into())))
    );
    let (files, bytes, _) = store.kb_totals().await.unwrap();
    let per_creator = store.kb_creator_counts().await.unwrap();
    assert_eq!((files, bytes, per_creator.get("c1").copied()), (2, 307, Some(1)));

    // Removing the writer's only file removes the writer, unless it has an _agent.yaml.
    store.kb_remove(&[ids[2]], &["writer".into()]).await.unwrap();
    assert_eq!(store.kb_agents().await.unwrap().len(), 2);
    store.kb_remove(&[ids[1], again[1]], &[]).await.unwrap();
    let left: Vec<_> = store.kb_agents().await.unwrap().into_iter().map(|a| (a.name, a.files)).collect();
    assert_eq!(left, vec![("coder".to_string(), 1)]);
    assert_eq!(store.kb_file_states().await.unwrap().len(), 1);
}

async fn services_and_events_rows(store: &Store) {
    store
        .declare_services(&[("web".into(), Some(8000), "web".into()), ("db".into(), None, "db".into())])
        .await
        .unwrap();
    let batch: Vec<_> = (0..1203)
        .map(|i| record(event("web", Status::Running, Status::Exited, Some(i)), Some(u64::from(i)), i))
        .collect();
    store.record(&batch).await.unwrap();
}

/// Everything a store answers, to compare two stores row for row.
async fn everything(store: &Store) -> String {
    let jobs = store.jobs(&JobFilter { limit: 1000, ..Default::default() }).await.unwrap();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        store.service_rows().await.unwrap(),
        store.events("web", 5000).await.unwrap(),
        store.users().await.unwrap(),
        store.session("s1").await.unwrap(),
        store.tokens().await.unwrap(),
        jobs,
        store.schedules().await.unwrap(),
        store.alerts(100).await.unwrap(),
        store.audit_log(100).await.unwrap(),
        store.counts().await.unwrap(),
        store.kb_agents().await.unwrap(),
        store.kb_files(&KbFilter::default(), 100, 0).await.unwrap(),
        store.kb_file_states().await.unwrap(),
        store.llm_usage("2000-01-01", "2100-01-01", UsageGroup::Service).await.unwrap(),
        store.llm_keys().await.unwrap(),
        store.llm_interaction(1).await.unwrap(),
        store.agent_sessions(None).await.unwrap(),
        store.agent_messages(1).await.unwrap(),
        store.agent_events(1, 0, 100).await.unwrap(),
        store.hosts().await.unwrap(),
        store.host_events("web-1", 100).await.unwrap(),
    )
}

async fn copy_between(from: Store, to: Store) {
    fill(&from).await;
    let report = from.copy_into(&to, false).await.unwrap();
    assert_eq!(report.tables, from.counts().await.unwrap());
    assert_eq!(report.tables.iter().find(|t| t.table == "service_events").map(|t| t.rows), Some(1203));
    assert!(report.tables.iter().all(|t| t.rows > 0), "every table was filled and copied: {report}");
    assert_eq!(everything(&from).await, everything(&to).await);
    // Ids were kept and the target's sequences moved past them.
    let next = to.add_alert("r", AlertKind::Test, "x", "test", "m").await.unwrap();
    assert_eq!(next.id, 2);
    let job = to.add_job("command", None, &BTreeMap::new(), "x").await.unwrap();
    assert_eq!(job.id, 2);
}

#[tokio::test]
async fn copy_sqlite_to_postgres_keeps_every_row_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let from = Store::open(&testing::sqlite(dir.path())).await.unwrap();
    let to = Store::open(&testing::postgres().await).await.unwrap();
    copy_between(from, to).await;
}

#[tokio::test]
async fn copy_postgres_to_sqlite_keeps_every_row_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let from = Store::open(&testing::postgres().await).await.unwrap();
    let to = Store::open(&testing::sqlite(dir.path())).await.unwrap();
    copy_between(from, to).await;
}

#[tokio::test]
async fn a_wrong_scheme_is_a_clear_error() {
    let err = Store::open("mysql://u:secret@h/d").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "storage 'mysql://…' is not supported; use sqlite://PATH or postgres://USER@HOST/DATABASE"
    );
}

#[tokio::test]
async fn postgres_errors_name_server_and_database_never_the_password() {
    let admin = std::env::var(testing::POSTGRES_VAR).expect("the test command sets CTRL_TEST_POSTGRES");
    let server =
        admin.trim_start_matches("postgres://").split('@').nth(1).unwrap().split('/').next().unwrap();
    let bad_user = format!("postgres://nobody:hunter2@{server}/ctrl");
    let err =
        tokio::time::timeout(Duration::from_secs(20), Store::open(&bad_user)).await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot connect to PostgreSQL database 'ctrl' on {server} as 'nobody':")),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = format!("postgres://app:hunter2@127.0.0.1:{port}/prod");
    let err = tokio::time::timeout(Duration::from_secs(20), Store::open(&down)).await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot connect to PostgreSQL database 'prod' on 127.0.0.1:{port} as 'app':"
        )),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

fn usage(date: &str, service: &str, model: &str, key_id: Option<i64>, calls: u64, cost: f64) -> UsageDelta {
    UsageDelta {
        date: date.into(),
        service: service.into(),
        model: model.into(),
        key_id,
        calls,
        cached: 1,
        prompt_tokens: 10 * calls,
        completion_tokens: 20 * calls,
        cost,
        estimated: 0,
    }
}

fn interaction(model: &str, request: Option<&str>, at: chrono::DateTime<Utc>) -> NewInteraction {
    NewInteraction {
        at,
        endpoint: "chat/completions",
        model: model.into(),
        upstream: Some("lm".into()),
        service: "app".into(),
        key_id: Some(7),
        stream: true,
        request: request.map(String::from),
        response: Some(r#"{"content":"Hi"}"#.into()),
        status: 200,
        processing_ms: 12.5,
        ttfb_ms: Some(3.25),
        prompt_tokens: 5,
        completion_tokens: 2,
        cost: 0.5,
        cached: false,
        estimated: true,
        error: None,
        attempts: vec![ctrl_proto::Attempt {
            upstream: "lm".into(),
            status: Some(200),
            error: None,
            ms: 3.0,
        }],
    }
}

/// The gateway's books: usage added to its groups (rows made once), summed per
/// group; keys with unique live names; interactions written in one statement,
/// listed without bodies, searched, read whole and pruned.
async fn agent(store: Store) {
    use ctrl_proto::{EventType, SessionStatus};
    use ctrl_store::{NewMessage, StoredEvent};
    let a = store.agent_session_add("first", "m1", None, "alice").await.unwrap();
    let b = store.agent_session_add("second", "m2", Some("be brief"), "bob").await.unwrap();
    assert_eq!((a.status, a.messages, a.last_seq), (SessionStatus::Idle, 0, 0));
    let all = store.agent_sessions(None).await.unwrap();
    assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), [b.id, a.id], "newest first");
    let bobs = store.agent_sessions(Some("bob")).await.unwrap();
    assert_eq!((bobs.len(), bobs[0].system_prompt.as_deref()), (1, Some("be brief")));
    let msg = |index, role: &str, text: &str| NewMessage {
        index,
        role: role.into(),
        message: serde_json::json!({"role": role, "content": text}).to_string(),
    };
    store.agent_messages_add(a.id, &[msg(0, "user", "hi"), msg(1, "assistant", "hello")]).await.unwrap();
    let dup = store.agent_messages_add(a.id, &[msg(2, "user", "x"), msg(1, "user", "again")]).await;
    assert!(dup.is_err(), "an index is written once");
    let history = store.agent_messages(a.id).await.unwrap();
    assert_eq!(history.len(), 2, "a failed append adds nothing: {history:?}");
    assert_eq!(
        (history[1].role.as_str(), history[1].message["content"].as_str()),
        ("assistant", Some("hello"))
    );
    let ev = |seq| StoredEvent {
        seq,
        kind: if seq % 2 == 0 { EventType::Text } else { EventType::Status },
        data: format!("{{\"n\":{seq}}}"),
        at: Utc::now(),
    };
    let events: Vec<StoredEvent> = (1..=70).map(ev).collect();
    store.agent_events_add(a.id, &events[..40]).await.unwrap();
    store.agent_events_add(a.id, &events[40..]).await.unwrap();
    let after = store.agent_events(a.id, 30, 1000).await.unwrap();
    assert_eq!(after.len(), 40);
    assert_eq!((after[0].seq, after[0].kind, after[0].data.as_str()), (31, EventType::Status, "{\"n\":31}"));
    assert_eq!(store.agent_events(a.id, 0, 5).await.unwrap().last().map(|e| e.seq), Some(5));
    assert!(store.agent_events(a.id, 70, 10).await.unwrap().is_empty());
    assert!(store.agent_events_add(a.id, &[ev(70)]).await.is_err(), "a seq is written once");
    let a2 = store.agent_session(a.id).await.unwrap().unwrap();
    assert_eq!((a2.messages, a2.last_seq), (2, 70));
    store.agent_session_status(a.id, SessionStatus::Running).await.unwrap();
    assert_eq!(store.agent_sessions_interrupted().await.unwrap(), 1);
    assert_eq!(store.agent_session(a.id).await.unwrap().unwrap().status, SessionStatus::Interrupted);
    assert!(store.agent_session_remove(a.id).await.unwrap());
    assert!(!store.agent_session_remove(a.id).await.unwrap());
    assert!(store.agent_session(a.id).await.unwrap().is_none());
    assert!(store.agent_events(a.id, 0, 10).await.unwrap().is_empty());
    assert!(store.agent_messages(a.id).await.unwrap().is_empty());
    assert_eq!(store.agent_sessions(None).await.unwrap().len(), 1);
}

async fn llm(store: Store) {
    let key = store.llm_key_add("app", "hash1", "sk-ctrl-ab", &["deepseek*".into()], Some(5.0), "day").await;
    let key = key.unwrap().unwrap();
    assert_eq!((key.info.name.as_str(), key.info.budget, key.info.models.len()), ("app", Some(5.0), 1));
    assert!(
        store.llm_key_add("app", "hash2", "p", &[], None, "day").await.unwrap().is_none(),
        "one live 'app'"
    );
    store
        .llm_usage_add(&[
            usage("2026-03-01", "app", "m1", Some(key.info.id), 2, 0.25),
            usage("2026-03-01", "admin", "m1", None, 1, 0.0),
        ])
        .await
        .unwrap();
    store.llm_usage_add(&[usage("2026-03-01", "app", "m1", Some(key.info.id), 3, 0.5)]).await.unwrap();
    store.llm_usage_add(&[usage("2026-03-01", "admin", "m1", None, 1, 0.0)]).await.unwrap();
    store.llm_usage_add(&[usage("2026-03-02", "app", "m2", Some(key.info.id), 1, 1.0)]).await.unwrap();
    let by_day = store.llm_usage("2026-03-01", "2026-03-31", UsageGroup::Day).await.unwrap();
    assert_eq!(by_day.len(), 2);
    assert_eq!((by_day[0].date.as_deref(), by_day[0].calls, by_day[0].cached), (Some("2026-03-01"), 7, 4));
    assert_eq!((by_day[0].prompt_tokens, by_day[0].completion_tokens), (70, 140));
    assert!((by_day[0].cost - 0.75).abs() < 1e-9);
    let by_service = store.llm_usage("2026-03-01", "2026-03-01", UsageGroup::Service).await.unwrap();
    let calls: Vec<(Option<&str>, u64)> =
        by_service.iter().map(|r| (r.service.as_deref(), r.calls)).collect();
    assert_eq!(calls, [(Some("admin"), 2), (Some("app"), 5)], "one row per group, added to");
    let by_key = store.llm_usage("2026-01-01", "2026-12-31", UsageGroup::Key).await.unwrap();
    assert!(by_key.iter().any(|r| r.key == Some(key.info.id) && r.calls == 6), "{by_key:?}");
    assert!((store.llm_key_spent(key.info.id, "2026-03-02").await.unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(store.llm_key_spent(999, "2026-01-01").await.unwrap(), 0.0);

    let old = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let now = Utc::now();
    let rows = vec![
        interaction("m1", Some(r#"{"messages":[{"content":"Find the 100% ZEBRA"}]}"#), old),
        interaction("m2", None, now),
        interaction("m1", Some(r#"{"messages":[]}"#), now),
    ];
    store.llm_interactions_add(&rows).await.unwrap();
    let all = store.llm_interactions(&InteractionFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all[0].id > all[1].id && all[0].request.is_none(), "newest first, without bodies");
    assert_eq!((all[0].ttfb_ms, all[0].attempts.len(), all[0].estimated), (Some(3.25), 1, true));
    let f = |q: &str| InteractionFilter { limit: 10, q: Some(q.into()), ..Default::default() };
    assert_eq!(store.llm_interactions(&f("zebra")).await.unwrap().len(), 1, "any case");
    assert_eq!(store.llm_interactions(&f("100%")).await.unwrap().len(), 1, "% is literal");
    assert_eq!(store.llm_interactions(&f("1_0")).await.unwrap().len(), 0, "_ is literal");
    let m2 = InteractionFilter { limit: 10, model: Some("m2".into()), ..Default::default() };
    assert_eq!(store.llm_interactions(&m2).await.unwrap().len(), 1);
    let page = InteractionFilter { limit: 10, before: Some(all[1].id), ..Default::default() };
    assert_eq!(store.llm_interactions(&page).await.unwrap().len(), 1);
    let whole = store.llm_interaction(all[2].id).await.unwrap().unwrap();
    assert_eq!(whole.request.unwrap()["messages"][0]["content"], "Find the 100% ZEBRA");
    assert_eq!(whole.response.unwrap()["content"], "Hi");
    assert_eq!(store.llm_interactions_prune(now - chrono::Duration::days(1), 500).await.unwrap(), 1);
    assert!(store.llm_interaction(all[2].id).await.unwrap().is_none());

    let revoked = store.llm_key_revoke(key.info.id).await.unwrap().unwrap();
    assert!(revoked.info.revoked_at.is_some());
    assert!(store.llm_key_revoke(key.info.id).await.unwrap().is_none());
    assert!(
        store.llm_key_add("app", "hash3", "p", &[], None, "month").await.unwrap().is_some(),
        "name free again"
    );
    assert_eq!(store.llm_keys().await.unwrap().len(), 2);
}

fn hub_row(name: &str, seen_at: chrono::DateTime<Utc>) -> ctrl_store::HubRow {
    ctrl_store::HubRow {
        name: name.into(),
        address: format!("https://{name}:8443"),
        public_key: "ab".repeat(32),
        cert_sha256: Some("cd".repeat(32)),
        seen_at,
    }
}

/// Hubs on one database: each announces itself, a silent one is pruned, and a
/// lease that ran out is ended for one caller only.
async fn hubs(store: Store) {
    let now = Utc::now();
    store.hub_announce(&hub_row("hub-a", now)).await.unwrap();
    let mut b = hub_row("hub-b", now - chrono::Duration::minutes(10));
    store.hub_announce(&b).await.unwrap();
    b.address = "http://10.0.0.2:8080".into();
    b.cert_sha256 = None;
    store.hub_announce(&b).await.unwrap();
    let got = store.hub("hub-b").await.unwrap().unwrap();
    assert_eq!((got.address.as_str(), got.cert_sha256), ("http://10.0.0.2:8080", None), "renewed in place");
    assert_eq!(store.hub("hub-a").await.unwrap().unwrap().public_key, "ab".repeat(32));
    let names = |hubs: Vec<ctrl_store::HubRow>| hubs.into_iter().map(|h| h.name).collect::<Vec<_>>();
    assert_eq!(names(store.hubs().await.unwrap()), ["hub-a", "hub-b"]);
    store.hubs_prune(now - chrono::Duration::minutes(1)).await.unwrap();
    assert_eq!(names(store.hubs().await.unwrap()), ["hub-a"], "silent for ten minutes: gone");
    store.hub_leave("hub-a").await.unwrap();
    assert!(store.hub("hub-a").await.unwrap().is_none(), "a hub that stops leaves");

    let soon = now + chrono::Duration::hours(1);
    for name in ["web-1", "web-2", "web-3"] {
        store.host_add(name, name, soon).await.unwrap();
    }
    store.host_linked("web-1", "hub-a", now - chrono::Duration::seconds(5), "1", None).await.unwrap();
    store.host_linked("web-2", "hub-b", soon, "1", None).await.unwrap();
    assert_eq!(store.host_leases_lapsed(now).await.unwrap(), ["web-1"], "only the lapsed lease");
    assert!(store.host_leases_lapsed(now).await.unwrap().is_empty(), "ended once");
    let rows = store.hosts().await.unwrap();
    let holders: Vec<Option<&str>> = rows.iter().map(|h| h.hub.as_deref()).collect();
    assert_eq!(holders, [None, Some("hub-b"), None]);
    assert!(!store.host_reclaim("web-2", "hub-a", soon).await.unwrap(), "hub-b holds web-2");
    assert!(store.host_reclaim("web-1", "hub-a", soon).await.unwrap(), "nobody holds web-1");
    assert_eq!(store.host("web-1").await.unwrap().unwrap().hub.as_deref(), Some("hub-a"));
}

async fn hosts(store: Store) {
    use ctrl_store::NewHostEvent;
    let soon = Utc::now() + chrono::Duration::hours(1);
    assert!(store.host_add("web-1", "hash1", soon).await.unwrap());
    assert!(!store.host_add("web-1", "other", soon).await.unwrap(), "a name is added once");
    assert!(store.host_add("db-1", "hash2", Utc::now() - chrono::Duration::seconds(1)).await.unwrap());
    let now = Utc::now();
    assert!(!store.host_enroll("web-1", "wrong", "k1", now).await.unwrap(), "another token");
    assert!(!store.host_enroll("db-1", "hash2", "k2", now).await.unwrap(), "an expired token");
    assert!(!store.host_enroll("db-1", "hash1", "k2", now).await.unwrap(), "another host's token");
    assert!(store.host_enroll("web-1", "hash1", "k1", now).await.unwrap());
    assert!(!store.host_enroll("web-1", "hash1", "k9", now).await.unwrap(), "a token works once");
    let web = store.host("web-1").await.unwrap().unwrap();
    assert_eq!((web.public_key.as_deref(), web.enroll_hash.as_deref()), (Some("k1"), None));
    assert!(web.enrolled_at.is_some());

    store.host_linked("web-1", "hub-a", soon, "0.1.0", Some("10.0.0.5")).await.unwrap();
    let later = soon + chrono::Duration::hours(1);
    assert!(store.host_leases_renew("hub-b", later).await.unwrap().is_empty());
    let web = store.host("web-1").await.unwrap().unwrap();
    assert_eq!((web.hub.as_deref(), web.address.as_deref()), (Some("hub-a"), Some("10.0.0.5")));
    assert!(web.lease_until.unwrap() < later, "hub-b renews only its own");
    assert_eq!(store.host_leases_renew("hub-a", later).await.unwrap(), ["web-1"]);
    assert!(store.host("web-1").await.unwrap().unwrap().lease_until.unwrap() > soon);
    store.host_unlinked("web-1", "hub-b").await.unwrap();
    assert_eq!(store.host("web-1").await.unwrap().unwrap().hub.as_deref(), Some("hub-a"), "not hub-b's");
    store.host_unlinked("web-1", "hub-a").await.unwrap();
    assert_eq!(store.host("web-1").await.unwrap().unwrap().hub, None);

    let ev = |seq: i64| NewHostEvent {
        seq,
        kind: "service".into(),
        data: format!("{{\"n\":{seq}}}"),
        at: Utc::now(),
    };
    let first: Vec<NewHostEvent> = (1..=40).map(ev).collect();
    store.host_events_add("web-1", "boot-a", &first, Some(40)).await.unwrap();
    // A backfill that overlaps what was stored adds only the new ones.
    let again: Vec<NewHostEvent> = (35..=45).map(ev).collect();
    store.host_events_add("web-1", "boot-a", &again, Some(45)).await.unwrap();
    store.host_events_add("web-1", "boot-a", &(30..=32).map(ev).collect::<Vec<_>>(), Some(32)).await.unwrap();
    assert_eq!(store.host("web-1").await.unwrap().unwrap().seq, 45, "a late batch does not lower the mark");
    store.host_events_add("web-1", "boot-b", &[ev(1)], Some(1)).await.unwrap();
    let all = store.host_events("web-1", 1000).await.unwrap();
    assert_eq!(all.len(), 46);
    let seqs: Vec<i64> = all.iter().filter(|e| e.boot == "boot-a").map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=45).collect::<Vec<_>>(), "each once, in order");
    assert_eq!((all[45].boot.as_str(), all[45].data["n"].as_i64()), ("boot-b", Some(1)));
    assert_eq!(store.host_events("web-1", 2).await.unwrap()[0].seq, 45, "the newest, in order");
    assert_eq!(store.host_events_prune("web-1", 40).await.unwrap(), 6, "the oldest go");
    let kept = store.host_events("web-1", 1000).await.unwrap();
    assert_eq!((kept.len(), kept[0].seq, kept[39].seq), (40, 7, 1));
    assert_eq!(store.host_events_prune("web-1", 100).await.unwrap(), 0, "fewer than kept: none go");
    let web = store.host("web-1").await.unwrap().unwrap();
    assert_eq!((web.boot.as_deref(), web.seq), (Some("boot-b"), 1));

    assert_eq!(
        store.hosts().await.unwrap().iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["db-1", "web-1"]
    );
    assert!(store.host_remove("web-1").await.unwrap());
    assert!(!store.host_remove("web-1").await.unwrap());
    assert!(store.host_events("web-1", 10).await.unwrap().is_empty(), "its events went with it");
    store.host_events_add("web-1", "boot-c", &[ev(1)], Some(1)).await.unwrap();
    assert!(
        store.host_events("web-1", 10).await.unwrap().is_empty(),
        "a removed host's late events are dropped"
    );
}
