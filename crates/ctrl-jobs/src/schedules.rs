//! Schedules: kept in the store (those of `ctrl.toml` are synced into it at
//! start and reload), managed over the API, fired by the scheduler.

use chrono::Utc;
use ctrl_core::config::{Config, Missed};
use ctrl_core::job::Schedule;
use ctrl_proto::{NewSchedule, ScheduleChange, ScheduleInfo};
use ctrl_store::ScheduleRow;

use crate::error::JobError;
use crate::jobs::Jobs;

/// How many coming run times a schedule shows.
pub const UPCOMING: usize = 5;

impl Jobs {
    /// Brings the config's schedules into the store: new and changed ones are
    /// written (a changed time starts counting from now), removed ones deleted.
    pub async fn sync_schedules(&self, config: &Config) -> Result<(), JobError> {
        let now = Utc::now();
        for (name, s) in &config.schedules {
            let next = Schedule::parse(&s.cron, &s.timezone).ok().and_then(|p| p.next_after(now));
            let row = ScheduleRow {
                name: name.clone(),
                action: s.action.clone(),
                cron: s.cron.clone(),
                timezone: s.timezone.clone(),
                missed: s.missed,
                params: s.params.clone(),
                enabled: s.enabled,
                source: "config".into(),
                next_run_at: next.filter(|_| s.enabled),
                last_run_at: None,
                last_job_id: None,
            };
            self.store().put_schedule(&row, false).await?;
        }
        let keep: Vec<&str> = config.schedules.keys().map(String::as_str).collect();
        for gone in self.store().prune_config_schedules(&keep).await? {
            tracing::info!(schedule = %gone, "schedule removed from the config");
        }
        self.0.wake.notify_one();
        Ok(())
    }

    /// Every schedule with its next run times.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>, JobError> {
        Ok(self.store().schedules().await?.into_iter().map(info).collect())
    }

    /// One schedule.
    pub async fn schedule(&self, name: &str) -> Result<ScheduleInfo, JobError> {
        self.store().schedule(name).await?.map(info).ok_or_else(|| JobError::UnknownSchedule(name.to_owned()))
    }

    /// Adds a schedule from the API; its action and parameters are checked now.
    pub async fn add_schedule(&self, s: &NewSchedule) -> Result<ScheduleInfo, JobError> {
        if !ctrl_core::config::valid_name(&s.name) {
            return Err(JobError::invalid(format!(
                "'{}' is not a valid schedule name: use 1-64 letters, digits, '-', '_' or '.'",
                s.name.escape_default()
            )));
        }
        if s.name == "preview" {
            return Err(JobError::invalid("'preview' is reserved (GET /api/schedules/preview)"));
        }
        let row = ScheduleRow {
            name: s.name.clone(),
            action: s.action.clone(),
            cron: s.cron.clone(),
            timezone: s.timezone.clone().unwrap_or_else(|| "UTC".into()),
            missed: s.missed.unwrap_or(Missed::Skip),
            params: s.params.clone(),
            enabled: s.enabled.unwrap_or(true),
            source: "api".into(),
            next_run_at: None,
            last_run_at: None,
            last_job_id: None,
        };
        let row = self.checked(row)?;
        if !self.store().put_schedule(&row, true).await? {
            return Err(JobError::Conflict(format!("a schedule named '{}' already exists", s.name)));
        }
        self.0.wake.notify_one();
        self.schedule(&s.name).await
    }

    /// Removes a schedule made over the API.
    pub async fn remove_schedule(&self, name: &str) -> Result<ScheduleInfo, JobError> {
        let s = self.editable(name).await?;
        self.store().remove_schedule(name).await?;
        self.0.wake.notify_one();
        Ok(s)
    }

    /// Changes a schedule made over the API: any of its time, zone, policy,
    /// parameters and whether it fires. A new time counts from now.
    pub async fn change_schedule(&self, name: &str, ch: &ScheduleChange) -> Result<ScheduleInfo, JobError> {
        self.editable(name).await?;
        let Some(mut row) = self.store().schedule(name).await? else {
            return Err(JobError::UnknownSchedule(name.to_owned()));
        };
        if let Some(v) = &ch.cron {
            row.cron = v.clone();
        }
        if let Some(v) = &ch.timezone {
            row.timezone = v.clone();
        }
        if let Some(v) = ch.missed {
            row.missed = v;
        }
        if let Some(v) = &ch.params {
            row.params = v.clone();
        }
        if let Some(v) = ch.enabled {
            row.enabled = v;
        }
        let row = self.checked(row)?;
        self.store().put_schedule(&row, false).await?;
        self.0.wake.notify_one();
        self.schedule(name).await
    }

    /// Checks a schedule's time, action and parameters, and sets its next run from now.
    fn checked(&self, mut row: ScheduleRow) -> Result<ScheduleRow, JobError> {
        let parsed = Schedule::parse(&row.cron, &row.timezone).map_err(JobError::invalid)?;
        let spec = self.spec(&row.action)?;
        if spec.kind == ctrl_core::config::ActionKind::Restore {
            return Err(JobError::invalid("a restore cannot be scheduled: it always asks for confirmation"));
        }
        crate::plan::plan(&row.action, &spec, &row.params)?;
        row.next_run_at = parsed.next_after(Utc::now()).filter(|_| row.enabled);
        Ok(row)
    }

    async fn editable(&self, name: &str) -> Result<ScheduleInfo, JobError> {
        let s = self.schedule(name).await?;
        if s.source == "config" {
            return Err(JobError::Conflict(format!(
                "'{name}' is defined in the config file; change it there"
            )));
        }
        Ok(s)
    }
}

fn info(r: ScheduleRow) -> ScheduleInfo {
    let parsed = Schedule::parse(&r.cron, &r.timezone).ok();
    let next_runs = match (&parsed, r.enabled) {
        (Some(p), true) => {
            let first = r.next_run_at.filter(|n| *n > Utc::now());
            let mut v: Vec<_> = first.into_iter().collect();
            v.extend(p.upcoming(first.unwrap_or_else(Utc::now), UPCOMING - v.len()));
            v
        }
        _ => Vec::new(),
    };
    ScheduleInfo {
        expression: parsed.map(|p| p.expression().to_owned()).unwrap_or_default(),
        name: r.name,
        action: r.action,
        cron: r.cron,
        timezone: r.timezone,
        missed: r.missed,
        params: r.params,
        enabled: r.enabled,
        source: r.source,
        next_runs,
        last_run_at: r.last_run_at,
        last_job_id: r.last_job_id,
    }
}
