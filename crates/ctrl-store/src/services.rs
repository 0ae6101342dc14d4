//! The `services` table (seed columns plus process identity) and `service_events`.

use crate::db;
use chrono::{DateTime, Utc};
use ctrl_core::{ServiceEvent, Status};

use crate::{Store, StoreError};

/// A row of `services`: the last known state of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// Name from the config.
    pub name: String,
    /// Last state written.
    pub status: String,
    /// Configured port.
    pub port: Option<u16>,
    /// Main pid while one exists.
    pub pid: Option<u32>,
    /// Command line.
    pub command: String,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Start time of `pid` in clock ticks since boot, to tell it from a reused pid.
    pub pid_start: Option<u64>,
    /// Restarts counted by the daemon that wrote the row.
    pub restarts: u32,
}

/// A transition to persist, with what the services row should remember.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    /// The transition.
    pub event: ServiceEvent,
    /// Start time of the live process, when the transition made one live.
    pub pid_start: Option<u64>,
    /// The service's restart count after the transition.
    pub restarts: u32,
}

impl Store {
    /// Makes sure each configured service has a row, updating port and command.
    pub async fn declare_services(
        &self,
        services: &[(String, Option<u16>, String)],
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for (name, port, command) in services {
            db::query(
                "INSERT INTO services (name, status, port, command, created_at, updated_at)
                 VALUES ($1, 'stopped', $2, $3, $4, $4)
                 ON CONFLICT (name) DO UPDATE SET port = excluded.port, command = excluded.command",
            )
            .bind(name)
            .bind(port.map(i64::from))
            .bind(command)
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends transitions to `service_events` and updates each `services` row, in one transaction.
    pub async fn record(&self, batch: &[ServiceRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in batch {
            let e = &r.event;
            db::query(
                "INSERT INTO service_events (service, from_state, to_state, pid, exit_code, signal, reason, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&e.service)
            .bind(e.from.as_str())
            .bind(e.to.as_str())
            .bind(e.pid.map(i64::from))
            .bind(e.exit_code)
            .bind(&e.signal)
            .bind(&e.reason)
            .bind(e.at)
            .execute(&mut tx)
            .await?;
            let live = e.to.is_live() && e.pid.is_some();
            db::query(
                "UPDATE services SET status = $2, updated_at = $3, restarts = $4,
                    pid = CASE WHEN $5 THEN $6 ELSE NULL END,
                    pid_start = CASE WHEN $5 THEN COALESCE($7, pid_start) ELSE NULL END
                 WHERE name = $1",
            )
            .bind(&e.service)
            .bind(e.to.as_str())
            .bind(e.at)
            .bind(i64::from(r.restarts))
            .bind(live)
            .bind(e.pid.map(i64::from))
            .bind(r.pid_start.map(|s| s as i64))
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether this very transition is stored (same service, states and instant):
    /// how the event writer tells whether a batch cut off by an outage was committed.
    pub async fn has_event(&self, e: &ServiceEvent) -> Result<bool, StoreError> {
        let found = db::query(
            "SELECT 1 AS found FROM service_events
             WHERE service = $1 AND at = $2 AND from_state = $3 AND to_state = $4 LIMIT 1",
        )
        .bind(&e.service)
        .bind(e.at)
        .bind(e.from.as_str())
        .bind(e.to.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Every row of `services`, by name.
    pub async fn service_rows(&self) -> Result<Vec<ServiceRow>, StoreError> {
        let rows = db::query(
            "SELECT name, status, port, pid, command, created_at, updated_at, pid_start, restarts
             FROM services ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ServiceRow {
                    name: r.get("name")?,
                    status: r.get("status")?,
                    port: r.get::<Option<i64>>("port")?.and_then(|p| u16::try_from(p).ok()),
                    pid: r.get::<Option<i64>>("pid")?.and_then(|p| u32::try_from(p).ok()),
                    command: r.get("command")?,
                    created_at: r.get("created_at")?,
                    updated_at: r.get("updated_at")?,
                    pid_start: r.get::<Option<i64>>("pid_start")?.map(|s| s as u64),
                    restarts: r.get::<i64>("restarts")?.try_into().unwrap_or(0),
                })
            })
            .collect()
    }

    /// Forgets the live process of a service (after an orphan was dealt with).
    pub async fn clear_process(&self, name: &str) -> Result<(), StoreError> {
        db::query("UPDATE services SET pid = NULL, pid_start = NULL, status = 'stopped' WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a service that left the config; its events stay as history.
    pub async fn forget_service(&self, name: &str) -> Result<(), StoreError> {
        db::query("DELETE FROM services WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(())
    }

    /// The last `limit` transitions of `service`, oldest first.
    pub async fn events(&self, service: &str, limit: u32) -> Result<Vec<ServiceEvent>, StoreError> {
        let rows = db::query(
            "SELECT service, from_state, to_state, pid, exit_code, signal, reason, at FROM (
                SELECT * FROM service_events WHERE service = $1 ORDER BY id DESC LIMIT $2
             ) AS recent ORDER BY id ASC",
        )
        .bind(service)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let state = |col: &str| -> Result<Status, StoreError> {
                    let s: String = r.get(col)?;
                    Status::parse(&s).ok_or_else(|| {
                        StoreError::Query(sqlx::Error::Decode(format!("unknown state '{s}'").into()))
                    })
                };
                Ok(ServiceEvent {
                    service: r.get("service")?,
                    from: state("from_state")?,
                    to: state("to_state")?,
                    pid: r.get::<Option<i64>>("pid")?.and_then(|p| u32::try_from(p).ok()),
                    exit_code: r.get("exit_code")?,
                    signal: r.get("signal")?,
                    reason: r.get("reason")?,
                    at: r.get("at")?,
                })
            })
            .collect()
    }
}
