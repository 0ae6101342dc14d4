//! The store against a real SQLite file.

use chrono::Utc;
use ctrl_core::{ServiceEvent, Status};
use ctrl_store::{ServiceRecord, Store};

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

#[tokio::test]
async fn services_and_events_round_trip_in_a_wal_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub").join("ctrl.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let store = Store::open(&format!("sqlite://{}", db.display())).await.unwrap();
    assert!(store.ping().await);
    store.declare_services(&[("web".into(), Some(8000), "python3 -m http.server".into())]).await.unwrap();
    store
        .record(&[
            ServiceRecord {
                event: event("web", Status::Stopped, Status::Starting, None),
                pid_start: None,
                restarts: 0,
            },
            ServiceRecord {
                event: event("web", Status::Starting, Status::Running, Some(77)),
                pid_start: Some(12345),
                restarts: 0,
            },
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
    store.record(&[ServiceRecord { event: exited, pid_start: None, restarts: 1 }]).await.unwrap();
    let rows = store.service_rows().await.unwrap();
    assert_eq!((rows[0].pid, rows[0].pid_start, rows[0].restarts), (None, None, 1));
    let events = store.events("web", 2).await.unwrap();
    assert_eq!(events.iter().map(|e| e.to).collect::<Vec<_>>(), [Status::Running, Status::Exited]);
    assert_eq!(events[1].exit_code, Some(3));
    // WAL mode: the write-ahead file sits beside the database while it is open.
    assert!(db.with_file_name("ctrl.db-wal").exists());
    store.close().await;
    let again = Store::open(&format!("sqlite://{}", db.display())).await.unwrap();
    assert_eq!(again.events("web", 10).await.unwrap().len(), 3);
    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
    for table in ["services", "service_events", "agents", "knowledge_files", "api_usage", "job_history"] {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1")
                .bind(table)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(n, 1, "{table}");
    }
}

#[tokio::test]
async fn unsupported_url_is_a_clear_error() {
    let err = Store::open("mysql://x").await.unwrap_err();
    assert_eq!(err.to_string(), "storage 'mysql' is not supported yet; use sqlite://PATH");
}
