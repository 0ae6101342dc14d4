//! Claims on a database: one daemon at a time (its tables have no column that
//! would tell two daemons' services, jobs and schedules apart), and
//! `ctrl db copy` never reads or replaces a database that a daemon writes to.
//! Hubs that run nothing of their own (`[storage] shared`) share a PostgreSQL
//! database: their claim is the shared form of the same lock, which keeps a
//! daemon and a copy out, and each other in.
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
    Postgres { stop: oneshot::Sender<oneshot::Sender<()>> },
}

impl Hold {
    /// Gives the claim up and waits until others can take it (dropping does the
    /// same, but a server may notice a dropped connection only later).
    pub async fn release(self) {
        if let Claim::Postgres { stop } = self.claim {
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

    /// Claims a PostgreSQL database beside other hubs (`[storage] shared`);
    /// refused (`InUse`) while a daemon of its own or a copy holds it.
    pub async fn hold_shared(&self) -> Result<Hold, StoreError> {
        let Pool::Postgres(p) = &self.pool else {
            return Err(StoreError::Lock("only a PostgreSQL database can be shared".into()));
        };
        let options = (*p.connect_options()).clone();
        let (conn, pid, got) = try_lock(&options, true).await?;
        if !got {
            let _ = conn.close().await;
            return Err(StoreError::InUse);
        }
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(keep(options, true, Held { conn, pid }, stopped));
        Ok(Hold { claim: Claim::Postgres { stop } })
    }

    /// Claims the database alone; `None` while anyone else holds it.
    pub(crate) async fn hold_alone(&self) -> Result<Option<Hold>, StoreError> {
        let claim = match &self.pool {
            Pool::Sqlite(p) => {
                let mut path = p.connect_options().get_filename().as_os_str().to_owned();
                path.push(".lock");
                let path = PathBuf::from(path);
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
                let (conn, pid, got) = try_lock(&options, false).await?;
                if !got {
                    let _ = conn.close().await;
                    return Ok(None);
                }
                let (stop, stopped) = oneshot::channel();
                tokio::spawn(keep(options, false, Held { conn, pid }, stopped));
                Claim::Postgres { stop }
            }
        };
        Ok(Some(Hold { claim }))
    }
}

/// The connection that holds the lock, and its server process.
struct Held {
    conn: PgConnection,
    pid: i32,
}

/// A new connection, its server process, and whether it got the lock (its
/// shared form when `shared`).
async fn try_lock(options: &PgConnectOptions, shared: bool) -> Result<(PgConnection, i32, bool), StoreError> {
    let mut conn = PgConnection::connect_with(options).await?;
    let sql = match shared {
        true => "SELECT pg_backend_pid(), pg_try_advisory_lock_shared($1)",
        false => "SELECT pg_backend_pid(), pg_try_advisory_lock($1)",
    };
    let (pid, got): (i32, bool) = sqlx::query_as(sql).bind(KEY).fetch_one(&mut conn).await?;
    Ok((conn, pid, got))
}

/// Whether server process `pid` still holds the lock (seen from another connection).
async fn still_held(conn: &mut PgConnection, pid: i32) -> bool {
    let held: Result<bool, _> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND pid = $2)",
    )
    .bind(KEY)
    .bind(pid)
    .fetch_one(conn)
    .await;
    held.unwrap_or(false)
}

/// Unlocks and closes, or gives up after two seconds (a dead server frees the lock anyway).
async fn unlock(
    held: Option<Held>,
    shared: bool,
    done: Result<oneshot::Sender<()>, oneshot::error::RecvError>,
) {
    if let Some(mut h) = held {
        let sql = match shared {
            true => "SELECT pg_advisory_unlock_shared($1)",
            false => "SELECT pg_advisory_unlock($1)",
        };
        let bye = async {
            let _ = sqlx::query(sql).bind(KEY).execute(&mut h.conn).await;
            let _ = h.conn.close().await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
    }
    if let Ok(done) = done {
        let _ = done.send(());
    }
}

/// Keeps the lock's connection alive and takes the lock again when that
/// connection was lost; unlocks when told to. A slow server is not a lost claim:
/// when a new connection cannot take the lock, the old session may still hold it.
async fn keep(
    options: PgConnectOptions,
    shared: bool,
    held: Held,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut held = Some(held);
    let mut taken = false;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            done = &mut stop => return unlock(held, shared, done).await,
            _ = tick.tick() => {}
        }
        if let Some(h) = held.as_mut()
            && tokio::time::timeout(CHECK_EVERY, h.conn.ping()).await.is_ok_and(|r| r.is_ok())
        {
            continue;
        }
        let attempt = tokio::select! {
            done = &mut stop => return unlock(held, shared, done).await,
            attempt = tokio::time::timeout(CHECK_EVERY, try_lock(&options, shared)) => attempt,
        };
        match attempt {
            Ok(Ok((conn, pid, true))) => {
                tracing::info!("the database claim is held again");
                held = Some(Held { conn, pid });
                taken = false;
            }
            Ok(Ok((mut conn, _, false))) => {
                let ours = match &held {
                    Some(h) => still_held(&mut conn, h.pid).await,
                    None => false,
                };
                let _ = conn.close().await;
                if !ours {
                    held = None;
                    if !taken {
                        tracing::error!(
                            "another ctrl daemon or a copy took this database while this daemon's claim was lost"
                        );
                    }
                    taken = true;
                }
            }
            // The server cannot be reached: the old session, if any, is kept and
            // the next tick tries again.
            _ => {}
        }
    }
}
