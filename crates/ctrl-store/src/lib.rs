//! Persistence for Control Center.
//!
//! Callers use [`Store`]'s repository functions and never see SQL. Today the
//! store is SQLite in WAL mode (one file in the state dir); PostgreSQL will be
//! a second backend behind the same functions.

mod alerts;
mod audit;
mod error;
mod jobs;
mod schedules;
mod services;
mod tokens;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use error::StoreError;
pub use jobs::{JobEnd, JobFilter};
pub use schedules::ScheduleRow;
pub use services::{ServiceRecord, ServiceRow};
pub use users::Session;

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    ///
    /// Only `sqlite://PATH` is accepted for now; other schemes are an error that
    /// says so, not a panic.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let Some(path) = url.strip_prefix("sqlite://") else {
            return Err(StoreError::Unsupported(url.split(':').next().unwrap_or(url).to_owned()));
        };
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::open(path, e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // A small page cache: the daemon's footprint matters more than query speed here.
            .pragma("cache_size", "-512");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::open(path, e))?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Answers whether the database can be queried (for `/health`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool, waiting for pending writes.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
