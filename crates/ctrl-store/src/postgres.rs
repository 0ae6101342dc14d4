//! The PostgreSQL backend: a pool sized for the API's concurrency, connections
//! that come back by themselves after an outage.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::db::Pool;
use crate::{StoreError, StoreOptions, error};

pub(crate) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connects to a `postgres://` URL.
///
/// Errors name the server and database, never the password.
pub(crate) async fn open(url: &str, options: &StoreOptions) -> Result<Pool, StoreError> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::BadUrl { url: crate::describe(url), reason: e.to_string() })?;
    let place = format!(
        "database '{}' on {}:{} as '{}'",
        connect.get_database().unwrap_or(connect.get_username()),
        connect.get_host(),
        connect.get_port(),
        connect.get_username(),
    );
    // One direct connection first: the pool would retry until its timeout and
    // report only that, where this names the cause (refused, bad password, …).
    let check = PgConnection::connect_with(&connect)
        .await
        .map_err(|e| StoreError::Connect { place: place.clone(), reason: error::reason(&e) })?;
    let _ = check.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .min_connections(1)
        // During an outage a request waits this long for a connection, then the
        // route answers 503: short, so nobody hangs on a dead server.
        .acquire_timeout(Duration::from_secs(2))
        // sqlx checks idle connections before use (its default), so a restarted
        // server's dead sockets are replaced instead of failing the next query.
        .connect_lazy_with(connect);
    Ok(Pool::Postgres(pool))
}
