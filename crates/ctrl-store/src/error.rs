//! Errors of the store, typed by what was being done, and the one place they
//! become API errors.

use ctrl_proto::{ApiError, ErrorCode};
use sqlx::migrate::{MigrateError, Migrator};

use crate::db::{self, Pool};

/// A failure to open, migrate, read or write the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file could not be opened or created.
    #[error("cannot open the database at {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The URL names a database kind this build does not have.
    #[error("storage '{0}' is not supported; use sqlite://PATH or postgres://USER@HOST/DATABASE")]
    Unsupported(String),
    /// The URL does not parse.
    #[error("bad database URL {url}: {reason}")]
    BadUrl {
        /// The URL without its password.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached, or refused the credentials.
    #[error("cannot connect to PostgreSQL {place}: {reason}")]
    Connect {
        /// Database, host, port and user (never the password).
        place: String,
        /// Why.
        reason: String,
    },
    /// The database was migrated by a newer binary; this one would not understand it.
    #[error(
        "the database has schema version {database}, newer than this binary's {binary}; run a newer ctrl"
    )]
    SchemaTooNew {
        /// The newest migration applied to the database.
        database: i64,
        /// The newest migration this binary knows.
        binary: i64,
    },
    /// Applying the embedded migrations failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(MigrateError),
    /// The database cannot be reached now (connection lost, server down); the
    /// pool reconnects by itself.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database is claimed by another daemon, or by a copy.
    #[error("the database is in use by another ctrl daemon or a `ctrl db copy`")]
    InUse,
    /// The lock file beside a SQLite database cannot be opened.
    #[error("cannot lock the database: {0}")]
    Lock(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(sqlx::Error),
}

impl StoreError {
    pub(crate) fn open(path: &str, source: sqlx::Error) -> Self {
        StoreError::Open { path: path.to_owned(), source }
    }

    /// Whether the database is down rather than the request wrong: worth a retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Connect { .. })
    }
}

/// Connection trouble (an outage, a server restart) is `Unavailable`; the rest a query failure.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        let down = match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(d) => {
                let sqlite = d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                d.code().is_some_and(|c| if sqlite { sqlite_transient(&c) } else { postgres_transient(&c) })
            }
            _ => false,
        };
        if down { StoreError::Unavailable(reason(&e)) } else { StoreError::Query(e) }
    }
}

impl From<MigrateError> for StoreError {
    fn from(e: MigrateError) -> StoreError {
        match e {
            MigrateError::Execute(e) => e.into(),
            e => StoreError::Migrate(e),
        }
    }
}

/// The API's view: 503 `store_unavailable` while the database is down (the
/// client may retry), otherwise a 500 whose details stay in the daemon's log.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "store unavailable");
            return ApiError::new(
                ErrorCode::StoreUnavailable,
                "the database is unavailable; try again shortly",
            );
        }
        tracing::error!(error = %e, "store failure answering a request");
        ApiError::new(ErrorCode::Internal, "internal error; see the daemon's log")
    }
}

/// Whether a SQLite result code says "not now" rather than "not this": BUSY,
/// LOCKED, NOMEM, IOERR, FULL, CANTOPEN (the primary code is the low byte of an
/// extended one).
fn sqlite_transient(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 7 | 10 | 13 | 14))
}

/// Whether a PostgreSQL SQLSTATE says "not now": connection exception (08),
/// serialization failure or deadlock (40), insufficient resources (53), operator
/// intervention (57: shutdown, restart, a cancelled query), a read-only standby
/// after a failover (25006) and a password changed under a running daemon (28P01),
/// which an operator fixes.
fn postgres_transient(code: &str) -> bool {
    ["08", "40", "53", "57"].iter().any(|class| code.starts_with(class)) || matches!(code, "25006" | "28P01")
}

/// A driver error in a sentence, without SQL or connection strings.
pub(crate) fn reason(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "no connection within the timeout".into(),
        other => other.to_string(),
    }
}

/// Applies `migrations`, refusing a database that a newer binary migrated.
pub(crate) async fn migrate(pool: &Pool, migrations: &Migrator) -> Result<(), StoreError> {
    let done = match pool {
        Pool::Sqlite(p) => migrations.run(p).await,
        Pool::Postgres(p) => migrations.run(p).await,
    };
    match done {
        Ok(()) => Ok(()),
        Err(MigrateError::VersionMissing(_)) => {
            let database: Option<i64> = db::query("SELECT MAX(version) AS v FROM _sqlx_migrations")
                .fetch_one(pool)
                .await?
                .get("v")?;
            let binary = migrations.iter().map(|m| m.version).max().unwrap_or(0);
            Err(StoreError::SchemaTooNew { database: database.unwrap_or(0), binary })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::{postgres_transient, sqlite_transient};

    #[test]
    fn not_now_is_told_from_not_this_on_each_backend() {
        for code in ["08006", "08P01", "40001", "40P01", "53300", "57014", "57P01", "25006", "28P01"] {
            assert!(postgres_transient(code), "{code}");
        }
        for code in ["42501", "22023", "22021", "23505", "42P01"] {
            assert!(!postgres_transient(code), "{code}");
        }
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT (517), SQLITE_FULL, SQLITE_IOERR_WRITE (778).
        for code in ["5", "517", "13", "778"] {
            assert!(sqlite_transient(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_ERROR, SQLITE_MISMATCH.
        for code in ["2067", "1", "20"] {
            assert!(!sqlite_transient(code), "{code}");
        }
    }
}
