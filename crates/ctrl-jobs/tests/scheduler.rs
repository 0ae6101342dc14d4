//! The scheduler with an injected clock over a real SQLite store: runs fire at
//! the right instants, and the missed-run policy holds across a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is its failure

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use ctrl_jobs::Jobs;
use ctrl_jobs::scheduler::{Clock, tick};
use ctrl_store::{JobFilter, Store};

struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    fn sleep_until(&self, _: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(std::future::pending())
    }
}

const CONFIG: &str = r#"
[server]
state_dir = "state"

[actions.noop]
command = ["true"]
concurrency = 10

[schedules.quarter]
action = "noop"
cron = "*/15 * * * *"

[schedules.nightly-once]
action = "noop"
cron = "daily@02:00"
missed = "run_once"

[schedules.nightly-skip]
action = "noop"
cron = "daily@02:00"
missed = "skip"
"#;

async fn open(dir: &Path) -> (Jobs, Store) {
    let path = dir.join("ctrl.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = ctrl_core::config::parse(&path, CONFIG).unwrap();
    std::fs::create_dir_all(&config.server.state_dir).unwrap();
    let store = Store::open(config.storage.url.as_deref().unwrap()).await.unwrap();
    let sup = ctrl_supervisor::Supervisor::new(config.clone(), store.clone()).await.unwrap();
    let jobs = Jobs::new(&config, store.clone(), sup).await.unwrap();
    jobs.sync_schedules(&config).await.unwrap();
    (jobs, store)
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn runs_of(store: &Store, schedule: &str) -> Vec<DateTime<Utc>> {
    let all = store.jobs(&JobFilter { limit: 1000, ..JobFilter::default() }).await.unwrap();
    let mut v: Vec<_> = all
        .iter()
        .filter(|j| j.triggered_by == format!("schedule:{schedule}"))
        .map(|j| j.created_at)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn schedules_fire_at_their_instants_and_missed_runs_follow_the_policy_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(Mutex::new(at("2026-11-22T00:07:00Z"))));
    let (jobs, store) = open(dir.path()).await;
    // The config's next times are computed from the real now; start them from the test clock.
    for name in ["quarter", "nightly-once", "nightly-skip"] {
        store.schedule_fired(name, None, None).await.unwrap();
    }
    let mut fired = Vec::new();
    let mut t = clock.now();
    while t <= at("2026-11-22T01:07:00Z") {
        clock.set(t);
        let before = runs_of(&store, "quarter").await.len();
        tick(&jobs, clock.as_ref()).await.unwrap();
        if runs_of(&store, "quarter").await.len() > before {
            fired.push(t);
        }
        t += Duration::seconds(20);
    }
    assert_eq!(
        fired,
        [
            at("2026-11-22T00:15:00Z"),
            at("2026-11-22T00:30:00Z"),
            at("2026-11-22T00:45:00Z"),
            at("2026-11-22T01:00:00Z")
        ]
    );
    let quarter = store.schedule("quarter").await.unwrap().unwrap();
    assert_eq!(quarter.next_run_at, Some(at("2026-11-22T01:15:00Z")));
    assert_eq!(
        quarter.last_job_id,
        store.jobs(&JobFilter { limit: 1, ..JobFilter::default() }).await.unwrap().first().map(|j| j.id)
    );
    assert!(runs_of(&store, "nightly-once").await.is_empty());

    // The daemon stops before 02:00 and comes back three days later.
    jobs.shutdown().await;
    drop(jobs);
    store.close().await;
    let (jobs, store) = open(dir.path()).await;
    clock.set(at("2026-11-25T09:30:00Z"));
    tick(&jobs, clock.as_ref()).await.unwrap();
    assert_eq!(runs_of(&store, "nightly-once").await.len(), 1, "run_once: exactly one catch-up run");
    assert!(runs_of(&store, "nightly-skip").await.is_empty(), "skip: no catch-up run");
    assert_eq!(runs_of(&store, "quarter").await.len(), 4, "quarter is skip by default");
    for name in ["nightly-once", "nightly-skip"] {
        let s = store.schedule(name).await.unwrap().unwrap();
        assert_eq!(s.next_run_at, Some(at("2026-11-26T02:00:00Z")), "{name}");
    }
    assert_eq!(
        store.schedule("quarter").await.unwrap().unwrap().next_run_at,
        Some(at("2026-11-25T09:45:00Z"))
    );
    // A second look at the same instant fires nothing more.
    tick(&jobs, clock.as_ref()).await.unwrap();
    assert_eq!(runs_of(&store, "nightly-once").await.len(), 1);
    jobs.shutdown().await;
}
