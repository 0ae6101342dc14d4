//! Persistence for Control Center, on SQLite or PostgreSQL.
//!
//! Callers use [`Store`]'s repository functions, a file per aggregate (services
//! and their events, access, jobs and schedules, alerts), and never see SQL.
//! Each function is one SQL text that runs on both backends (see `db`); the
//! backend modules only connect, size the pool and apply their own migrations.

mod agent;
mod alerts;
mod audit;
mod copy;
mod db;
mod error;
mod hold;
mod hosts;
mod hubs;
mod jobs;
mod knowledge;
mod llm;
mod postgres;
pub mod retry;
mod schedules;
mod services;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
mod users;

pub use agent::{NewMessage, StoredEvent};
pub use copy::{CopyError, CopyReport, TableCount};
pub use db::Backend;
pub use error::StoreError;
pub use hold::Hold;
pub use hosts::{HostRow, NewHostEvent};
pub use hubs::HubRow;
pub use jobs::{JobEnd, JobFilter};
pub use knowledge::{KbAgent, KbFileState, KbFileWrite, KbFilter};
pub use llm::{InteractionFilter, LlmKeyRow, NewInteraction, UsageDelta, UsageGroup};
pub use schedules::ScheduleRow;
pub use services::{ServiceRecord, ServiceRow};
pub use users::Session;

use std::sync::Arc;

use db::Pool;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL's pool size: how many queries run at once (SQLite has one writer
    /// and keeps one connection).
    pub max_connections: u32,
    /// Whether a missing SQLite file is created (not for the source of a copy:
    /// a mistyped path must not read as an empty database).
    pub create: bool,
    /// Whether the schema is brought up to date at once. `ctrl db copy` does it
    /// only after it holds the database alone, so no running daemon sees a
    /// migration under it.
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions { max_connections: 16, create: true, migrate: true }
    }
}

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// The URL as it may be shown (no password).
    label: Arc<str>,
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH`, created if missing, or
    /// `postgres://…`) and brings its schema up to this binary's version.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default()).await
    }

    /// [`Store::open`] with explicit options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let pool = match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("sqlite") => sqlite::open(url, options).await?,
            Some("postgres" | "postgresql") => postgres::open(url, options).await?,
            _ => return Err(StoreError::Unsupported(describe(url))),
        };
        let store = Store { pool, label: describe(url).into() };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Brings the schema up to this binary's version; refuses a newer one.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => error::migrate(&self.pool, &sqlite::MIGRATIONS).await,
            Backend::Postgres => error::migrate(&self.pool, &postgres::MIGRATIONS).await,
        }
    }

    /// The database's URL as it may be shown: without its password.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Answers whether the database can be queried (for `/health`), within a second.
    pub async fn ping(&self) -> bool {
        let probe = db::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(std::time::Duration::from_secs(1), probe).await, Ok(Ok(_)))
    }

    /// Closes the pool, waiting for pending writes.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database URL as it may be shown: scheme, user, host, port and database,
/// never the password or the query string (which may carry one). A PostgreSQL URL
/// is shown from its parsed parts, or by its scheme alone when it does not parse.
pub fn describe(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "a URL without a scheme".into();
    };
    match scheme {
        "sqlite" => format!("sqlite://{}", rest.split(['?', '#']).next().unwrap_or("")),
        "postgres" | "postgresql" => {
            match <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url) {
                Ok(o) => format!(
                    "{scheme}://{}@{}:{}/{}",
                    o.get_username(),
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or(o.get_username())
                ),
                Err(_) => format!("{scheme}://… (a URL that does not parse)"),
            }
        }
        _ => format!("{scheme}://…"),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn a_described_url_never_shows_the_password() {
        let cases = [
            ("postgres://app:s3cret@db.local:5433/ctrl?sslmode=require", "postgres://app@db.local:5433/ctrl"),
            ("postgres://app@db.local/ctrl", "postgres://app@db.local:5432/ctrl"),
            ("sqlite:///var/lib/ctrl/ctrl.db", "sqlite:///var/lib/ctrl/ctrl.db"),
            ("postgres://app:se#cret@db/ctrl", "postgres://… (a URL that does not parse)"),
            (
                "postgres://app@db/ctrl?password=s3cret&application_name=ops@host1",
                "postgres://app@db:5432/ctrl",
            ),
            ("mysql://u:p@h/d", "mysql://…"),
            ("nonsense", "a URL without a scheme"),
        ];
        for (url, shown) in cases {
            assert_eq!(describe(url), shown, "{url}");
        }
    }
}
