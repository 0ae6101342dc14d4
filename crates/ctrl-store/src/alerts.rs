//! `alerts`: every alert raised, with how its delivery went.

use crate::db;
use chrono::Utc;
use ctrl_core::config::AlertKind;
use ctrl_proto::{AlertInfo, Delivery};

use crate::{Store, StoreError};

fn kind_of(s: &str) -> AlertKind {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap_or(AlertKind::Test)
}

impl Store {
    /// Records an alert (deliveries come later); returns it with its id.
    pub async fn add_alert(
        &self,
        rule: &str,
        kind: AlertKind,
        subject: &str,
        state: &str,
        message: &str,
    ) -> Result<AlertInfo, StoreError> {
        let at = Utc::now();
        let id: i64 = db::query(
            "INSERT INTO alerts (at, rule, kind, subject, state, message) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(at)
        .bind(rule)
        .bind(kind.as_str())
        .bind(subject)
        .bind(state)
        .bind(message)
        .fetch_one(&self.pool)
        .await?
        .get("id")?;
        Ok(AlertInfo {
            id,
            at,
            rule: rule.into(),
            kind,
            subject: subject.into(),
            state: state.into(),
            message: message.into(),
            deliveries: Vec::new(),
        })
    }

    /// Records how an alert's delivery went.
    pub async fn alert_delivered(&self, id: i64, deliveries: &[Delivery]) -> Result<(), StoreError> {
        db::query("UPDATE alerts SET deliveries = $2 WHERE id = $1")
            .bind(id)
            .bind(serde_json::to_string(deliveries).unwrap_or_else(|_| "[]".into()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The last `limit` alerts, newest first.
    pub async fn alerts(&self, limit: u32) -> Result<Vec<AlertInfo>, StoreError> {
        let rows = db::query("SELECT * FROM alerts ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get("kind")?;
                let deliveries: String = r.get("deliveries")?;
                Ok(AlertInfo {
                    id: r.get("id")?,
                    at: r.get("at")?,
                    rule: r.get("rule")?,
                    kind: kind_of(&kind),
                    subject: r.get("subject")?,
                    state: r.get("state")?,
                    message: r.get("message")?,
                    deliveries: serde_json::from_str(&deliveries).unwrap_or_default(),
                })
            })
            .collect()
    }
}
