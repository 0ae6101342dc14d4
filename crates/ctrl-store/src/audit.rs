//! `audit_log`: who did what, to what, from where, when, with which result.

use crate::db;
use ctrl_proto::AuditEntry;

use crate::{Store, StoreError};

impl Store {
    /// Appends an entry (`id` is set here; `at` is when it happened, which for an
    /// entry that waited out an outage is earlier than now).
    pub async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        db::query(
            "INSERT INTO audit_log (at, actor, action, target, address, result, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.address)
        .bind(&e.result)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The last `limit` entries, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = db::query(
            "SELECT id, at, actor, action, target, address, result, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.get("id")?,
                    at: r.get("at")?,
                    actor: r.get("actor")?,
                    action: r.get("action")?,
                    target: r.get("target")?,
                    address: r.get("address")?,
                    result: r.get("result")?,
                    detail: r.get("detail")?,
                })
            })
            .collect()
    }
}
