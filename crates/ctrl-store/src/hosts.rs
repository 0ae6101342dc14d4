//! `hosts` and `host_events`: the hosts behind this hub, their enrolment and
//! keys, who holds their link, and the events they reported (only ever appended,
//! each once: unique by the host's run and number).

use chrono::{DateTime, Utc};
use ctrl_proto::HostEvent;

use crate::db::{self, Arg, Row};
use crate::{Store, StoreError};

/// Events per multi-row insert (6 arguments each).
const EVENT_CHUNK: usize = 32;

/// A host as the hub keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    /// Its name.
    pub name: String,
    /// Its pinned public key (hex), once enrolled.
    pub public_key: Option<String>,
    /// The hash of its unused enrolment token.
    pub enroll_hash: Option<String>,
    /// When that token stops working.
    pub enroll_expires_at: Option<DateTime<Utc>>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it enrolled.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// When the hub last heard from it.
    pub last_seen: Option<DateTime<Utc>>,
    /// Its version at its last connect.
    pub version: Option<String>,
    /// The address its last link came from.
    pub address: Option<String>,
    /// The host's run whose events were stored last.
    pub boot: Option<String>,
    /// The last number stored of that run.
    pub seq: i64,
    /// The hub that holds its link.
    pub hub: Option<String>,
    /// Until when that hold counts.
    pub lease_until: Option<DateTime<Utc>>,
}

/// One event to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHostEvent {
    /// Its number in the host's run.
    pub seq: i64,
    /// `service` or `alert`.
    pub kind: String,
    /// Its JSON text.
    pub data: String,
    /// When it happened on the host.
    pub at: DateTime<Utc>,
}

fn host_of(r: &Row) -> Result<HostRow, StoreError> {
    Ok(HostRow {
        name: r.get("name")?,
        public_key: r.get("public_key")?,
        enroll_hash: r.get("enroll_hash")?,
        enroll_expires_at: r.get("enroll_expires_at")?,
        created_at: r.get("created_at")?,
        enrolled_at: r.get("enrolled_at")?,
        last_seen: r.get("last_seen")?,
        version: r.get("version")?,
        address: r.get("address")?,
        boot: r.get("boot")?,
        seq: r.get("seq")?,
        hub: r.get("hub")?,
        lease_until: r.get("lease_until")?,
    })
}

impl Store {
    /// Adds a host waiting for its enrolment; false when the name is taken.
    pub async fn host_add(
        &self,
        name: &str,
        enroll_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let added = db::query(
            "INSERT INTO hosts (name, enroll_hash, enroll_expires_at, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(enroll_hash)
        .bind(expires_at)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(added == 1)
    }

    /// One host.
    pub async fn host(&self, name: &str) -> Result<Option<HostRow>, StoreError> {
        let row =
            db::query("SELECT * FROM hosts WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(host_of).transpose()
    }

    /// Every host, by name.
    pub async fn hosts(&self) -> Result<Vec<HostRow>, StoreError> {
        let rows = db::query("SELECT * FROM hosts ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(host_of).collect()
    }

    /// Pins `key` for a host whose unused, unexpired token has `enroll_hash`, and
    /// uses the token up; false when it does not (used, expired, another host's):
    /// one statement, so a token works once even when two hubs see it at once.
    pub async fn host_enroll(
        &self,
        name: &str,
        enroll_hash: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = db::query(
            "UPDATE hosts SET public_key = $3, enroll_hash = NULL, enroll_expires_at = NULL, enrolled_at = $4 \
             WHERE name = $1 AND enroll_hash = $2 AND public_key IS NULL AND enroll_expires_at > $4",
        )
        .bind(name)
        .bind(enroll_hash)
        .bind(key)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done == 1)
    }

    /// Records a link: who holds it until when, the host's version and address.
    pub async fn host_linked(
        &self,
        name: &str,
        hub: &str,
        lease_until: DateTime<Utc>,
        version: &str,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        db::query(
            "UPDATE hosts SET hub = $2, lease_until = $3, version = $4, address = $5, last_seen = $6 \
             WHERE name = $1",
        )
        .bind(name)
        .bind(hub)
        .bind(lease_until)
        .bind(version)
        .bind(address.map(str::to_owned))
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Renews the leases of every link `hub` holds, and notes it heard from them;
    /// returns those hosts (a link not among them was taken by another hub, or
    /// its host removed).
    pub async fn host_leases_renew(
        &self,
        hub: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let rows =
            db::query("UPDATE hosts SET lease_until = $2, last_seen = $3 WHERE hub = $1 RETURNING name")
                .bind(hub)
                .bind(lease_until)
                .bind(Utc::now())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| r.get("name")).collect()
    }

    /// Gives up `hub`'s hold on a host's link (when the link ends).
    pub async fn host_unlinked(&self, name: &str, hub: &str) -> Result<(), StoreError> {
        db::query(
            "UPDATE hosts SET hub = NULL, lease_until = NULL, last_seen = $3 WHERE name = $1 AND hub = $2",
        )
        .bind(name)
        .bind(hub)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a host and its events; false when there was none.
    pub async fn host_remove(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The row first: a concurrent `host_events_add` waits on it, then finds none.
        let gone = db::query("DELETE FROM hosts WHERE name = $1").bind(name).execute(&mut tx).await?;
        db::query("DELETE FROM host_events WHERE host = $1").bind(name).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Stores events of one run of a host, skipping any stored before, and moves
    /// the host's mark up to `last_seq` when given (only the link the hub holds
    /// now moves it): all or none. A host removed meanwhile gets nothing (a host
    /// added again under its name starts clean).
    pub async fn host_events_add(
        &self,
        host: &str,
        boot: &str,
        events: &[NewHostEvent],
        last_seq: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Takes the host's row (PostgreSQL: a row lock until commit); none, no host.
        let known =
            db::query("UPDATE hosts SET seq = seq WHERE name = $1").bind(host).execute(&mut tx).await?;
        if known == 0 {
            return Ok(());
        }
        for chunk in events.chunks(EVENT_CHUNK) {
            let sql = format!(
                "INSERT INTO host_events (host, boot, seq, kind, data, at) VALUES {} \
                 ON CONFLICT (host, boot, seq) DO NOTHING",
                db::placeholders(chunk.len(), 6)
            );
            let mut q = db::query(sql);
            for e in chunk {
                q = q
                    .bind(host)
                    .bind(boot)
                    .bind(e.seq)
                    .bind(e.kind.as_str())
                    .bind(Arg::Text(Some(e.data.clone())))
                    .bind(e.at);
            }
            q.execute(&mut tx).await?;
        }
        if let Some(last_seq) = last_seq {
            db::query(
                "UPDATE hosts SET boot = $2, seq = $3 WHERE name = $1 AND (boot IS NULL OR boot <> $2 OR seq < $3)",
            )
            .bind(host)
            .bind(boot)
            .bind(last_seq)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await
    }

    /// Keeps a host's newest `keep` events and removes the older ones; how many went.
    pub async fn host_events_prune(&self, host: &str, keep: u32) -> Result<u64, StoreError> {
        db::query(
            "DELETE FROM host_events WHERE host = $1 AND id <= \
             (SELECT id FROM host_events WHERE host = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(host)
        .bind(i64::from(keep))
        .execute(&self.pool)
        .await
    }

    /// A host's newest `limit` events, in the order they were stored.
    pub async fn host_events(&self, host: &str, limit: u32) -> Result<Vec<HostEvent>, StoreError> {
        let rows = db::query(
            "SELECT * FROM (SELECT id, host, boot, seq, kind, data, at FROM host_events \
             WHERE host = $1 ORDER BY id DESC LIMIT $2) AS newest ORDER BY id",
        )
        .bind(host)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.get("data")?;
                Ok(HostEvent {
                    host: r.get("host")?,
                    boot: r.get("boot")?,
                    seq: r.get("seq")?,
                    at: r.get("at")?,
                    kind: r.get("kind")?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data)),
                })
            })
            .collect()
    }
}
