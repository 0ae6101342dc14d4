//! `schedules`: persistent cron schedules, from the config and from the API.
//!
//! The next run time is stored, so a daemon that was down knows which runs it
//! missed and can apply the schedule's policy.

use std::collections::BTreeMap;

use crate::db::{self, Row};
use chrono::{DateTime, Utc};
use ctrl_core::config::{Missed, ParamValue};

use crate::{Store, StoreError};

/// One stored schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    /// Its name.
    pub name: String,
    /// The action it runs.
    pub action: String,
    /// Cron expression or preset, as written.
    pub cron: String,
    /// IANA time zone.
    pub timezone: String,
    /// Missed-run policy.
    pub missed: Missed,
    /// Fixed parameters.
    pub params: BTreeMap<String, ParamValue>,
    /// Whether it fires.
    pub enabled: bool,
    /// `config` or `api`.
    pub source: String,
    /// When it fires next (none: not computed yet, or disabled).
    pub next_run_at: Option<DateTime<Utc>>,
    /// When it last fired.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The job it last started.
    pub last_job_id: Option<i64>,
}

fn schedule_of(r: &Row) -> Result<ScheduleRow, StoreError> {
    let missed: String = r.get("missed")?;
    let params: String = r.get("params")?;
    Ok(ScheduleRow {
        name: r.get("name")?,
        action: r.get("action")?,
        cron: r.get("cron")?,
        timezone: r.get("timezone")?,
        missed: if missed == "run_once" { Missed::RunOnce } else { Missed::Skip },
        params: serde_json::from_str(&params).unwrap_or_default(),
        enabled: r.get("enabled")?,
        source: r.get("source")?,
        next_run_at: r.get("next_run_at")?,
        last_run_at: r.get("last_run_at")?,
        last_job_id: r.get("last_job_id")?,
    })
}

fn missed_word(m: Missed) -> &'static str {
    match m {
        Missed::Skip => "skip",
        Missed::RunOnce => "run_once",
    }
}

impl Store {
    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        let rows = db::query("SELECT * FROM schedules ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(schedule_of).collect()
    }

    /// One schedule.
    pub async fn schedule(&self, name: &str) -> Result<Option<ScheduleRow>, StoreError> {
        let row = db::query("SELECT * FROM schedules WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(schedule_of).transpose()
    }

    /// Stores a schedule. A new one is inserted; an existing one gets the new
    /// definition, and keeps its run times only when the definition is unchanged
    /// (a new cron means a new next time). Returns false when `only_new` and the name is taken.
    pub async fn put_schedule(&self, s: &ScheduleRow, only_new: bool) -> Result<bool, StoreError> {
        let now = Utc::now();
        let params = serde_json::to_string(&s.params).unwrap_or_else(|_| "{}".into());
        let conflict = if only_new {
            "DO NOTHING"
        } else {
            "DO UPDATE SET action = excluded.action, cron = excluded.cron, timezone = excluded.timezone,
                missed = excluded.missed, params = excluded.params, enabled = excluded.enabled,
                source = excluded.source, updated_at = excluded.updated_at,
                next_run_at = CASE WHEN schedules.cron = excluded.cron AND schedules.timezone = excluded.timezone
                    AND schedules.enabled = excluded.enabled THEN schedules.next_run_at ELSE excluded.next_run_at END"
        };
        let done = db::query(format!(
            "INSERT INTO schedules (name, action, cron, timezone, missed, params, enabled, source, next_run_at,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (name) {conflict}"
        ))
        .bind(&s.name)
        .bind(&s.action)
        .bind(&s.cron)
        .bind(&s.timezone)
        .bind(missed_word(s.missed))
        .bind(params)
        .bind(s.enabled)
        .bind(&s.source)
        .bind(s.next_run_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done == 1)
    }

    /// Removes a schedule; false when there was none.
    pub async fn remove_schedule(&self, name: &str) -> Result<bool, StoreError> {
        let done = db::query("DELETE FROM schedules WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(done == 1)
    }

    /// Removes the config-defined schedules whose names are not in `keep`.
    pub async fn prune_config_schedules(&self, keep: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut gone = Vec::new();
        for s in self.schedules().await? {
            if s.source == "config" && !keep.contains(&s.name.as_str()) {
                self.remove_schedule(&s.name).await?;
                gone.push(s.name);
            }
        }
        Ok(gone)
    }

    /// Records a firing (or a skipped miss, without a job) and the next time.
    pub async fn schedule_fired(
        &self,
        name: &str,
        fired: Option<(DateTime<Utc>, i64)>,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        db::query(
            "UPDATE schedules SET next_run_at = $2,
                last_run_at = COALESCE($3, last_run_at), last_job_id = COALESCE($4, last_job_id)
             WHERE name = $1",
        )
        .bind(name)
        .bind(next)
        .bind(fired.map(|f| f.0))
        .bind(fired.map(|f| f.1))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
