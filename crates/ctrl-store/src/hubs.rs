//! `hubs`: the hubs that share this database now, where each is reached and the
//! key it signs relayed requests with; and the leases of hubs that stopped
//! renewing them.

use chrono::{DateTime, Utc};

use crate::db::{self, Row};
use crate::{Store, StoreError};

/// A hub running on this database, as it announced itself.
#[derive(Debug, Clone, PartialEq)]
pub struct HubRow {
    /// Its name (the value of `hosts.hub` while it holds a link).
    pub name: String,
    /// `http(s)://host:port`, where its peers reach it.
    pub address: String,
    /// The Ed25519 key (hex) its relayed requests are signed with, made at its start.
    pub public_key: String,
    /// The SHA-256 (hex) of its TLS certificate, which its peers pin.
    pub cert_sha256: Option<String>,
    /// When it last renewed its row.
    pub seen_at: DateTime<Utc>,
}

fn hub_of(r: &Row) -> Result<HubRow, StoreError> {
    Ok(HubRow {
        name: r.get("name")?,
        address: r.get("address")?,
        public_key: r.get("public_key")?,
        cert_sha256: r.get("cert_sha256")?,
        seen_at: r.get("seen_at")?,
    })
}

impl Store {
    /// Announces a hub, or renews its row.
    pub async fn hub_announce(&self, hub: &HubRow) -> Result<(), StoreError> {
        db::query(
            "INSERT INTO hubs (name, address, public_key, cert_sha256, seen_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET address = $2, public_key = $3, cert_sha256 = $4, seen_at = $5",
        )
        .bind(hub.name.as_str())
        .bind(hub.address.as_str())
        .bind(hub.public_key.as_str())
        .bind(hub.cert_sha256.clone())
        .bind(hub.seen_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A hub by name.
    pub async fn hub(&self, name: &str) -> Result<Option<HubRow>, StoreError> {
        let row =
            db::query("SELECT * FROM hubs WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(hub_of).transpose()
    }

    /// Every hub announced, by name.
    pub async fn hubs(&self) -> Result<Vec<HubRow>, StoreError> {
        let rows = db::query("SELECT * FROM hubs ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(hub_of).collect()
    }

    /// Takes a hub's row out (it stops).
    pub async fn hub_leave(&self, name: &str) -> Result<(), StoreError> {
        db::query("DELETE FROM hubs WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(())
    }

    /// Takes out the rows of hubs silent since `before` (killed: they left none).
    pub async fn hubs_prune(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        db::query("DELETE FROM hubs WHERE seen_at < $1").bind(before).execute(&self.pool).await?;
        Ok(())
    }

    /// Ends the holds whose lease ran out before `before` (their hub stopped
    /// without letting go: killed, cut off); returns those hosts, each to one
    /// caller only.
    pub async fn host_leases_lapsed(&self, before: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let rows = db::query(
            "UPDATE hosts SET hub = NULL, lease_until = NULL \
             WHERE hub IS NOT NULL AND lease_until < $1 RETURNING name",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.get("name")).collect()
    }

    /// Takes a host's link back for `hub` after its lease was ended while the
    /// link lived, unless another hub has taken it meanwhile; whether it did.
    pub async fn host_reclaim(
        &self,
        name: &str,
        hub: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = db::query("UPDATE hosts SET hub = $2, lease_until = $3 WHERE name = $1 AND hub IS NULL")
            .bind(name)
            .bind(hub)
            .bind(lease_until)
            .execute(&self.pool)
            .await?;
        Ok(done == 1)
    }
}
