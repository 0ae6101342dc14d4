//! One method per route of the API, returning its `ctrl-proto` object.

use std::collections::BTreeMap;

use ctrl_core::ServiceEvent;
use ctrl_core::config::ParamValue;
use ctrl_proto::{
    ActionInfo, AlertInfo, AlertRuleInfo, AuditEntry, BackupFile, BackupTarget, ChannelInfo, History,
    JobInfo, JobUpdate, LogLine, Me, NewSchedule, PortInfo, ProcessInfo, ReloadReport, RunAction,
    ScheduleChange, ScheduleInfo, ServiceInfo, ServiceUpdate, Stats, TestAlert, TokenInfo, UserInfo,
};
use hyper::Method;
use serde_json::{Value, json};

use crate::{Client, Error, Events, Socket, segment};

/// `?a=1&b=x` from the parameters that are set (values escaped).
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let set: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", segment(v)))).collect();
    if set.is_empty() { String::new() } else { format!("?{}", set.join("&")) }
}

/// Which jobs to list (`GET /api/jobs`).
#[derive(Debug, Clone, Default)]
pub struct JobsQuery {
    /// `command`, `service`, `backup` or `restore`.
    pub job_type: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` or `timed_out`.
    pub status: Option<String>,
    /// Runs of this action only.
    pub action: Option<String>,
    /// Jobs older than this id (the next page).
    pub before: Option<i64>,
    /// How many, newest first.
    pub limit: Option<u32>,
}

impl Client {
    // --- meta ---

    /// `GET /health` (public): status, database, service counts, uptime.
    pub async fn health(&self) -> Result<Value, Error> {
        self.get("/health").await
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, Error> {
        let (status, body) = self.raw(Method::GET, "/metrics", None).await?;
        if !status.is_success() {
            return Err(Error::Protocol(format!("/metrics answered {status}")));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `POST /api/reload`: apply the config's changes.
    pub async fn reload(&self) -> Result<ReloadReport, Error> {
        self.call(Method::POST, "/api/reload", None::<&()>).await
    }

    // --- system ---

    /// `GET /api/system/stats`: the latest host sample.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.get("/api/system/stats").await
    }

    /// `GET /api/system/history`: `metric` (cpu, memory, net_rx, net_tx) over `range` (e.g. `1h`).
    pub async fn history(&self, metric: &str, range: Option<&str>) -> Result<History, Error> {
        let q = query(&[("metric", Some(metric.to_owned())), ("range", range.map(str::to_owned))]);
        self.get(&format!("/api/system/history{q}")).await
    }

    /// `GET /api/system/processes`: the top processes by `sort` (cpu, memory, pid, name), filtered by `q`.
    pub async fn processes(
        &self,
        limit: Option<u32>,
        sort: Option<&str>,
        q: Option<&str>,
    ) -> Result<Vec<ProcessInfo>, Error> {
        let q = query(&[
            ("limit", limit.map(|l| l.to_string())),
            ("sort", sort.map(str::to_owned)),
            ("q", q.map(str::to_owned)),
        ]);
        self.get(&format!("/api/system/processes{q}")).await
    }

    /// `GET /api/system/ports`: listening ports in a range (default: the configured one).
    pub async fn ports(&self, start: Option<u16>, end: Option<u16>) -> Result<Vec<PortInfo>, Error> {
        let q = query(&[("start", start.map(|p| p.to_string())), ("end", end.map(|p| p.to_string()))]);
        self.get(&format!("/api/system/ports{q}")).await
    }

    /// `GET /api/system/stream`: a sample every `ws_interval`.
    pub async fn stats_stream(&self) -> Result<Events<Stats>, Error> {
        self.events("/api/system/stream").await
    }

    /// `WS /api/system/ws`: the same samples over a WebSocket.
    pub async fn stats_socket(&self) -> Result<Socket<Stats>, Error> {
        self.websocket("/api/system/ws").await
    }

    // --- services ---

    /// `GET /api/services`.
    pub async fn services(&self) -> Result<Vec<ServiceInfo>, Error> {
        self.get("/api/services").await
    }

    /// `GET /api/services/{name}/status`.
    pub async fn service(&self, name: &str) -> Result<ServiceInfo, Error> {
        self.get(&format!("/api/services/{}/status", segment(name))).await
    }

    /// `POST /api/services/{name}/{verb}` (`start`, `stop`, `restart`).
    pub async fn control(&self, name: &str, verb: &str) -> Result<ServiceInfo, Error> {
        self.call(Method::POST, &format!("/api/services/{}/{}", segment(name), segment(verb)), None::<&()>)
            .await
    }

    /// A start or restart that waits `timeout` (like `10s`) for the outcome, or
    /// not at all (`None`): `POST /api/services/{name}/{verb}?timeout=…|wait=false`.
    pub async fn control_waiting(
        &self,
        name: &str,
        verb: &str,
        timeout: Option<&str>,
    ) -> Result<ServiceInfo, Error> {
        let query = match timeout {
            Some(t) => format!("timeout={}", segment(t)),
            None => "wait=false".into(),
        };
        let path = format!("/api/services/{}/{}?{query}", segment(name), segment(verb));
        self.call(Method::POST, &path, None::<&()>).await
    }

    /// `POST /api/services/{verb}` for every service (`start`, `stop`, `restart`).
    pub async fn control_all(&self, verb: &str) -> Result<Vec<ServiceInfo>, Error> {
        self.call(Method::POST, &format!("/api/services/{}", segment(verb)), None::<&()>).await
    }

    /// `GET /api/services/{name}/events`: the last `limit` transitions, oldest first.
    pub async fn service_events(&self, name: &str, limit: u32) -> Result<Vec<ServiceEvent>, Error> {
        self.get(&format!("/api/services/{}/events?limit={limit}", segment(name))).await
    }

    /// `GET /api/services/{name}/config`: the service's configuration (env values hidden).
    pub async fn service_config(&self, name: &str) -> Result<Value, Error> {
        self.get(&format!("/api/services/{}/config", segment(name))).await
    }

    /// `GET /api/services/{name}/logs`: the last `lines` of `stream` (stdout, stderr, all).
    pub async fn logs(&self, name: &str, lines: u32, stream: &str) -> Result<Vec<LogLine>, Error> {
        self.get(&format!("/api/services/{}/logs?lines={lines}&stream={}", segment(name), segment(stream)))
            .await
    }

    /// `GET /api/services/{name}/logs?follow=true`: the last lines, then every new one.
    pub async fn follow_logs(&self, name: &str, lines: u32, stream: &str) -> Result<Events<LogLine>, Error> {
        let path = format!(
            "/api/services/{}/logs?lines={lines}&stream={}&follow=true",
            segment(name),
            segment(stream)
        );
        self.events(&path).await
    }

    /// `GET /api/services/stream`: a snapshot, then every transition.
    pub async fn services_stream(&self) -> Result<Events<ServiceUpdate>, Error> {
        self.events("/api/services/stream").await
    }

    /// `WS /api/services/ws`: the same over a WebSocket.
    pub async fn services_socket(&self) -> Result<Socket<ServiceUpdate>, Error> {
        self.websocket("/api/services/ws").await
    }

    // --- actions and jobs ---

    /// `GET /api/actions`.
    pub async fn actions(&self) -> Result<Vec<ActionInfo>, Error> {
        self.get("/api/actions").await
    }

    /// `GET /api/actions/{name}`.
    pub async fn action(&self, name: &str) -> Result<ActionInfo, Error> {
        self.get(&format!("/api/actions/{}", segment(name))).await
    }

    /// `POST /api/actions/{name}`: queues a run; the job.
    pub async fn run_action(
        &self,
        name: &str,
        params: BTreeMap<String, ParamValue>,
        confirm: bool,
    ) -> Result<JobInfo, Error> {
        let body = RunAction { params, confirm };
        self.call(Method::POST, &format!("/api/actions/{}", segment(name)), Some(&body)).await
    }

    /// `GET /api/jobs`, newest first.
    pub async fn jobs(&self, q: &JobsQuery) -> Result<Vec<JobInfo>, Error> {
        let q = query(&[
            ("type", q.job_type.clone()),
            ("status", q.status.clone()),
            ("action", q.action.clone()),
            ("before", q.before.map(|b| b.to_string())),
            ("limit", q.limit.map(|l| l.to_string())),
        ]);
        self.get(&format!("/api/jobs{q}")).await
    }

    /// `GET /api/jobs/{id}`.
    pub async fn job(&self, id: i64) -> Result<JobInfo, Error> {
        self.get(&format!("/api/jobs/{id}")).await
    }

    /// `POST /api/jobs/{id}/cancel`.
    pub async fn cancel_job(&self, id: i64) -> Result<JobInfo, Error> {
        self.call(Method::POST, &format!("/api/jobs/{id}/cancel"), None::<&()>).await
    }

    /// `GET /api/jobs/{id}/logs`: the job's last `lines` of output.
    pub async fn job_logs(&self, id: i64, lines: u32) -> Result<Vec<LogLine>, Error> {
        self.get(&format!("/api/jobs/{id}/logs?lines={lines}")).await
    }

    /// `GET /api/jobs/{id}/logs?follow=true`: output lines and the job as it changes, to its end.
    pub async fn follow_job(&self, id: i64, lines: u32) -> Result<Events<JobUpdate>, Error> {
        self.events(&format!("/api/jobs/{id}/logs?lines={lines}&follow=true")).await
    }

    /// `WS /api/jobs/{id}/ws`: one job's output lines, then the job when it ends.
    pub async fn job_socket(&self, id: i64) -> Result<Socket<JobUpdate>, Error> {
        self.websocket(&format!("/api/jobs/{id}/ws")).await
    }

    /// `GET /api/jobs/stream`: every job whenever it changes.
    pub async fn jobs_stream(&self) -> Result<Events<JobUpdate>, Error> {
        self.events("/api/jobs/stream").await
    }

    /// `WS /api/jobs/ws`: the same over a WebSocket.
    pub async fn jobs_socket(&self) -> Result<Socket<JobUpdate>, Error> {
        self.websocket("/api/jobs/ws").await
    }

    // --- schedules ---

    /// `GET /api/schedules`.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>, Error> {
        self.get("/api/schedules").await
    }

    /// `GET /api/schedules/{name}`.
    pub async fn schedule(&self, name: &str) -> Result<ScheduleInfo, Error> {
        self.get(&format!("/api/schedules/{}", segment(name))).await
    }

    /// `POST /api/schedules`.
    pub async fn add_schedule(&self, s: &NewSchedule) -> Result<ScheduleInfo, Error> {
        self.call(Method::POST, "/api/schedules", Some(s)).await
    }

    /// `PATCH /api/schedules/{name}`.
    pub async fn change_schedule(&self, name: &str, change: &ScheduleChange) -> Result<ScheduleInfo, Error> {
        self.call(Method::PATCH, &format!("/api/schedules/{}", segment(name)), Some(change)).await
    }

    /// `DELETE /api/schedules/{name}`.
    pub async fn remove_schedule(&self, name: &str) -> Result<ScheduleInfo, Error> {
        self.call(Method::DELETE, &format!("/api/schedules/{}", segment(name)), None::<&()>).await
    }

    /// `GET /api/schedules/preview`: the next run times of a cron expression.
    pub async fn preview_schedule(&self, cron: &str, timezone: Option<&str>) -> Result<Vec<String>, Error> {
        let q = query(&[("cron", Some(cron.to_owned())), ("timezone", timezone.map(str::to_owned))]);
        self.get(&format!("/api/schedules/preview{q}")).await
    }

    // --- backups and alerts ---

    /// `GET /api/backups`: the backup targets.
    pub async fn backup_targets(&self) -> Result<Vec<BackupTarget>, Error> {
        self.get("/api/backups").await
    }

    /// `GET /api/backups/{target}`: its backups, newest first.
    pub async fn backups(&self, target: &str) -> Result<Vec<BackupFile>, Error> {
        self.get(&format!("/api/backups/{}", segment(target))).await
    }

    /// `GET /api/alerts`: the last alerts sent.
    pub async fn alerts(&self, limit: Option<u32>) -> Result<Vec<AlertInfo>, Error> {
        self.get(&format!("/api/alerts{}", query(&[("limit", limit.map(|l| l.to_string()))]))).await
    }

    /// `GET /api/alerts/rules`.
    pub async fn alert_rules(&self) -> Result<Vec<AlertRuleInfo>, Error> {
        self.get("/api/alerts/rules").await
    }

    /// `GET /api/alerts/channels`.
    pub async fn alert_channels(&self) -> Result<Vec<ChannelInfo>, Error> {
        self.get("/api/alerts/channels").await
    }

    /// `POST /api/alerts/test`: sends a test alert.
    pub async fn test_alert(&self, test: &TestAlert) -> Result<AlertInfo, Error> {
        self.call(Method::POST, "/api/alerts/test", Some(test)).await
    }

    // --- access ---

    /// `GET /api/auth/me`.
    pub async fn me(&self) -> Result<Me, Error> {
        self.get("/api/auth/me").await
    }

    /// `GET /api/users`.
    pub async fn users(&self) -> Result<Vec<UserInfo>, Error> {
        self.get("/api/users").await
    }

    /// `POST /api/users`.
    pub async fn add_user(&self, name: &str, password: &str, role: &str) -> Result<UserInfo, Error> {
        let body = json!({"name": name, "password": password, "role": role});
        self.call(Method::POST, "/api/users", Some(&body)).await
    }

    /// `DELETE /api/users/{name}`.
    pub async fn remove_user(&self, name: &str) -> Result<bool, Error> {
        self.call(Method::DELETE, &format!("/api/users/{}", segment(name)), None::<&()>).await
    }

    /// `GET /api/tokens`.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        self.get("/api/tokens").await
    }

    /// `POST /api/tokens`: a new token (its secret is in `token`, shown once).
    pub async fn create_token(
        &self,
        name: &str,
        role: &str,
        expires_in: Option<&str>,
    ) -> Result<TokenInfo, Error> {
        let mut body = json!({"name": name, "role": role});
        if let Some(e) = expires_in {
            body["expires_in"] = json!(e);
        }
        self.call(Method::POST, "/api/tokens", Some(&body)).await
    }

    /// `DELETE /api/tokens/{id}`.
    pub async fn revoke_token(&self, id: i64) -> Result<TokenInfo, Error> {
        self.call(Method::DELETE, &format!("/api/tokens/{id}"), None::<&()>).await
    }

    /// `GET /api/audit`: the last `limit` entries, newest first.
    pub async fn audit(&self, limit: Option<u32>) -> Result<Vec<AuditEntry>, Error> {
        self.get(&format!("/api/audit{}", query(&[("limit", limit.map(|l| l.to_string()))]))).await
    }
}
