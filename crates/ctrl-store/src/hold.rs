//! Claims on a database: one daemon at a time (its tables have no column that
//! would tell two daemons' services, jobs and schedules apart), and
//! `ctrl db copy` never reads or replaces a database that a daemon writes to.
//!
//! SQLite: `flock` on a `.lock` file beside the database. PostgreSQL: an advisory
//! lock on a connection of its own, which the server drops by itself when the
//! holder dies. That connection can die while the holder lives (a server restart,
//! a network cut): a keeper task checks it and takes the lock again on a new one.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::oneshot;

use crate::db::Pool;
use crate::{Store, StoreError};

/// The advisory-lock key of a ctrl database ("ctrl" in ASCII).
const KEY: i64 = 0x6374_726c;

/// How often the keeper checks its connection.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// A claim on a database, given up by [`Hold::release`] or when dropped.
#[derive(Debug)]
pub struct Hold {
    claim: Claim,
}

#[derive(Debug)]
enum Claim {
    File { _lock: Flock<File> },
    Postgres { stop: Option<oneshot::Sender<oneshot::Sender<()>>> },
}

impl Hold {
    /// Gives the claim up and waits until others can take it (dropping does the
    /// same, but a server may notice a dropped connection only later).
    pub async fn release(mut self) {
        if let Claim::Postgres { stop } = &mut self.claim
            && let Some(stop) = stop.take()
        {
            let (done, released) = oneshot::channel();
            if stop.send(done).is_ok() {
                let _ = released.await;
            }
        }
    }
}

impl Store {
    /// Claims the database for a running daemon; refused (`InUse`) while another
    /// daemon or a copy holds it.
    pub async fn hold(&self) -> Result<Hold, StoreError> {
        self.hold_alone().await?.ok_or(StoreError::InUse)
    }

    /// Claims the database alone; `None` while anyone else holds it.
    pub(crate) async fn hold_alone(&self) -> Result<Option<Hold>, StoreError> {
        let claim = match &self.pool {
            Pool::Sqlite(p) => {
                let path = PathBuf::from(format!("{}.lock", p.connect_options().get_filename().display()));
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::Lock(format!("{}: {e}", path.display())))?;
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(lock) => Claim::File { _lock: lock },
                    Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
                    Err((_, e)) => return Err(StoreError::Lock(format!("{}: {e}", path.display()))),
                }
            }
            Pool::Postgres(p) => {
                let options = (*p.connect_options()).clone();
                let Some(conn) = lock(&options).await? else { return Ok(None) };
                let (stop, stopped) = oneshot::channel();
                tokio::spawn(keep(options, conn, stopped));
                Claim::Postgres { stop: Some(stop) }
            }
        };
        Ok(Some(Hold { claim }))
    }
}

/// A connection holding the lock, or `None` when someone else has it.
async fn lock(options: &PgConnectOptions) -> Result<Option<PgConnection>, StoreError> {
    let mut conn = PgConnection::connect_with(options).await?;
    let got: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(KEY).fetch_one(&mut conn).await?;
    Ok(got.then_some(conn))
}

/// Keeps the lock's connection alive, takes the lock again when the connection
/// was lost, and unlocks when told to.
async fn keep(
    options: PgConnectOptions,
    conn: PgConnection,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut conn = Some(conn);
    let mut taken = false;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            done = &mut stop => {
                if let Some(mut c) = conn.take() {
                    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(KEY).execute(&mut c).await;
                    let _ = c.close().await;
                }
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                return;
            }
            _ = tick.tick() => {}
        }
        let alive = match conn.as_mut() {
            Some(c) => tokio::time::timeout(CHECK_EVERY, c.ping()).await.is_ok_and(|r| r.is_ok()),
            None => false,
        };
        if alive {
            continue;
        }
        conn = match lock(&options).await {
            Ok(Some(c)) => {
                tracing::info!("the database claim is held again");
                taken = false;
                Some(c)
            }
            Ok(None) => {
                if !taken {
                    tracing::error!(
                        "another ctrl daemon or a copy took this database while its connection was lost"
                    );
                }
                taken = true;
                None
            }
            Err(_) => None,
        };
    }
}
