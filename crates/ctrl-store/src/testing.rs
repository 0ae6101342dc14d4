//! Databases for tests (feature `testing`): a fresh SQLite file or a fresh
//! database on the PostgreSQL server that the test command started.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, PgConnection};

/// The variable through which the test command names its PostgreSQL server.
pub const POSTGRES_VAR: &str = "CTRL_TEST_POSTGRES";

/// The URL of a new, empty database on the test server.
///
/// Panics when the server is not there: tests that need PostgreSQL fail, never skip.
pub async fn postgres() -> String {
    let admin = std::env::var(POSTGRES_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_VAR} is not set: scripts/test starts PostgreSQL and sets it (or run scripts/postgres)"
        )
    });
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("{POSTGRES_VAR} must end with /DATABASE"),
    }
}

/// The URL of a new SQLite file in `dir`.
pub fn sqlite(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("ctrl.db").display())
}
