//! `job_history`: every run of an action or a schedule.

use std::collections::BTreeMap;

use crate::db::{self, Row};
use chrono::{DateTime, Utc};
use ctrl_core::JobStatus;
use ctrl_core::config::ParamValue;
use ctrl_proto::JobInfo;

use crate::{Store, StoreError};

const COLUMNS: &str =
    "id, job_type, action, params, status, triggered_by, created_at, started_at, completed_at,
    exit_code, signal, progress, progress_label, result, error";

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this kind of work.
    pub job_type: Option<String>,
    /// Only jobs in this state.
    pub status: Option<JobStatus>,
    /// Only runs of this action.
    pub action: Option<String>,
    /// Only jobs with a smaller id (the page after the one that ended there).
    pub before: Option<i64>,
    /// How many, newest first.
    pub limit: u32,
}

/// How a job ended.
#[derive(Debug, Clone, Default)]
pub struct JobEnd {
    /// Exit code of the process.
    pub exit_code: Option<i32>,
    /// Signal that ended it.
    pub signal: Option<String>,
    /// Last progress.
    pub progress: Option<f64>,
    /// Last progress as steps.
    pub progress_label: Option<String>,
    /// Its result summary.
    pub result: Option<serde_json::Value>,
    /// Why it failed, when no exit code says.
    pub error: Option<String>,
}

fn job_of(r: &Row) -> Result<JobInfo, StoreError> {
    let status: String = r.get("status")?;
    let params: String = r.get("params")?;
    let result: Option<String> = r.get("result")?;
    let created: Option<DateTime<Utc>> = r.get("created_at")?;
    let started: Option<DateTime<Utc>> = r.get("started_at")?;
    Ok(JobInfo {
        id: r.get("id")?,
        job_type: r.get("job_type")?,
        action: r.get("action")?,
        params: serde_json::from_str(&params).unwrap_or_default(),
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Failed),
        triggered_by: r.get("triggered_by")?,
        created_at: created.or(started).unwrap_or_default(),
        started_at: started,
        completed_at: r.get("completed_at")?,
        exit_code: r.get("exit_code")?,
        signal: r.get("signal")?,
        progress: r.get("progress")?,
        progress_label: r.get("progress_label")?,
        // Seed rows may hold plain text: it is kept as a JSON string.
        result: result.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t))),
        error: r.get("error")?,
    })
}

impl Store {
    /// Records a new job, queued.
    pub async fn add_job(
        &self,
        job_type: &str,
        action: Option<&str>,
        params: &BTreeMap<String, ParamValue>,
        triggered_by: &str,
    ) -> Result<JobInfo, StoreError> {
        let params = serde_json::to_string(params).unwrap_or_else(|_| "{}".into());
        let row = db::query(format!(
            "INSERT INTO job_history (job_type, action, params, status, triggered_by, created_at)
             VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING {COLUMNS}"
        ))
        .bind(job_type)
        .bind(action)
        .bind(params)
        .bind(triggered_by)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await?;
        job_of(&row)
    }

    /// Marks a job running.
    pub async fn job_started(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        db::query("UPDATE job_history SET status = 'running', started_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the process a running job started (its group's leader) and when
    /// it started, for the next daemon if this one is killed.
    pub async fn job_process(&self, id: i64, pid: u32, pid_start: u64) -> Result<(), StoreError> {
        db::query("UPDATE job_history SET pid = $2, pid_start = $3 WHERE id = $1")
            .bind(id)
            .bind(i64::from(pid))
            .bind(pid_start as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The processes of jobs still marked running (a previous daemon's): job id,
    /// pid, start time.
    pub async fn running_job_processes(&self) -> Result<Vec<(i64, u32, u64)>, StoreError> {
        let rows = db::query(
            "SELECT id, pid, pid_start FROM job_history WHERE status = 'running' AND pid IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let (id, pid, start): (i64, i64, Option<i64>) =
                    (r.get("id")?, r.get("pid")?, r.get("pid_start")?);
                Ok((id, pid as u32, start.unwrap_or(0) as u64))
            })
            .collect()
    }

    /// Ends one job a previous daemon left running, with why.
    pub async fn end_interrupted_job(&self, id: i64, why: &str) -> Result<(), StoreError> {
        db::query(
            "UPDATE job_history SET status = 'cancelled', completed_at = $2, error = $3
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id)
        .bind(Utc::now())
        .bind(why)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a job's progress while it runs.
    pub async fn job_progress(&self, id: i64, percent: f64, label: Option<&str>) -> Result<(), StoreError> {
        db::query("UPDATE job_history SET progress = $2, progress_label = $3 WHERE id = $1")
            .bind(id)
            .bind(percent)
            .bind(label)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records how a job ended.
    pub async fn job_finished(
        &self,
        id: i64,
        status: JobStatus,
        at: DateTime<Utc>,
        end: &JobEnd,
    ) -> Result<(), StoreError> {
        db::query(
            "UPDATE job_history SET status = $2, completed_at = $3, exit_code = $4, signal = $5,
                progress = COALESCE($6, progress), progress_label = COALESCE($7, progress_label),
                result = $8, error = $9
             WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(at)
        .bind(end.exit_code)
        .bind(&end.signal)
        .bind(end.progress)
        .bind(&end.progress_label)
        .bind(end.result.as_ref().map(|v| v.to_string()))
        .bind(&end.error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<Option<JobInfo>, StoreError> {
        let row = db::query(format!("SELECT {COLUMNS} FROM job_history WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_of).transpose()
    }

    /// Jobs matching `f`, newest first.
    pub async fn jobs(&self, f: &JobFilter) -> Result<Vec<JobInfo>, StoreError> {
        let rows = db::query(format!(
            "SELECT {COLUMNS} FROM job_history
             WHERE ($1 IS NULL OR job_type = $1) AND ($2 IS NULL OR status = $2)
               AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5"
        ))
        .bind(&f.job_type)
        .bind(f.status.map(JobStatus::as_str))
        .bind(&f.action)
        .bind(f.before)
        .bind(i64::from(f.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_of).collect()
    }

    /// Ends the jobs a previous daemon left queued or running (it stopped without
    /// finishing them); returns how many.
    pub async fn end_interrupted_jobs(&self, why: &str) -> Result<u64, StoreError> {
        let done = db::query(
            "UPDATE job_history SET status = 'cancelled', completed_at = $1, error = $2
             WHERE status IN ('queued', 'running')",
        )
        .bind(Utc::now())
        .bind(why)
        .execute(&self.pool)
        .await?;
        Ok(done)
    }
}
