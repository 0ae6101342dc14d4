//! The SQLite backend: one file in WAL mode, one connection.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::db::Pool;
use crate::{StoreError, StoreOptions};

pub(crate) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens the file of a `sqlite://PATH` URL (creating it when `options.create`).
pub(crate) async fn open(url: &str, options: &StoreOptions) -> Result<Pool, StoreError> {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::open(path, e))?
        .create_if_missing(options.create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        // A small page cache: the daemon's footprint matters more than query speed here.
        .pragma("cache_size", "-512");
    // One connection: SQLite has one writer, and the daemon's reads are small.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::open(path, e))?;
    Ok(Pool::Sqlite(pool))
}
