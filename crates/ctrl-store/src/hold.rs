//! Claims on a database, so that `ctrl db copy` never reads a store that a
//! running daemon writes to, and a daemon never starts on one being copied.
//!
//! A daemon's claim is shared (several hubs may share one PostgreSQL database);
//! a copy's is exclusive. SQLite: `flock` on a `.lock` file beside the database.
//! PostgreSQL: an advisory lock on a connection of its own, which the server
//! drops by itself when the holder dies.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::db::Pool;
use crate::{Store, StoreError};

/// The advisory-lock key of a ctrl database ("ctrl" in ASCII).
const KEY: i64 = 0x6374_726c;

/// A claim on a database, released when dropped.
#[derive(Debug)]
pub struct Hold {
    _claim: Claim,
}

#[derive(Debug)]
enum Claim {
    File { _lock: Flock<File> },
    Postgres { _connection: PgConnection },
}

impl Hold {
    /// Gives the claim up and waits until others can take it (dropping does
    /// the same, but a server may notice a dropped connection only later).
    pub async fn release(self) {
        if let Claim::Postgres { _connection: mut conn } = self._claim {
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }
}

impl Store {
    /// Claims the database for a running daemon; refused (`InUse`) while a copy
    /// holds it.
    pub async fn hold(&self) -> Result<Hold, StoreError> {
        self.claim(false).await?.ok_or(StoreError::InUse("`ctrl db copy`"))
    }

    /// Claims the database alone, for a copy; `None` while anyone else holds it.
    pub(crate) async fn hold_alone(&self) -> Result<Option<Hold>, StoreError> {
        self.claim(true).await
    }

    async fn claim(&self, exclusive: bool) -> Result<Option<Hold>, StoreError> {
        let claim = match &self.pool {
            Pool::Sqlite(p) => {
                let path = PathBuf::from(format!("{}.lock", p.connect_options().get_filename().display()));
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::Lock(format!("{}: {e}", path.display())))?;
                let how =
                    if exclusive { FlockArg::LockExclusiveNonblock } else { FlockArg::LockSharedNonblock };
                match Flock::lock(file, how) {
                    Ok(lock) => Claim::File { _lock: lock },
                    Err(_) => return Ok(None),
                }
            }
            Pool::Postgres(p) => {
                let mut conn = PgConnection::connect_with(&p.connect_options()).await?;
                let take = if exclusive { "pg_try_advisory_lock" } else { "pg_try_advisory_lock_shared" };
                let got: bool =
                    sqlx::query_scalar(&format!("SELECT {take}($1)")).bind(KEY).fetch_one(&mut conn).await?;
                if !got {
                    return Ok(None);
                }
                Claim::Postgres { _connection: conn }
            }
        };
        Ok(Some(Hold { _claim: claim }))
    }
}
