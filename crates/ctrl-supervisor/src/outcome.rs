//! What a requested start or restart came to: the person who asked waits until
//! the service is up (ready, or alive for its start window) or has clearly
//! failed, as `systemctl start` and `supervisorctl start` do, instead of being
//! told "ok" while it fails in a retry loop behind their back.

use std::time::Duration;

use ctrl_core::Status;
use ctrl_core::service::{Input, ServiceView};
use ctrl_proto::{LogStream, ServiceInfo};
use tokio::time::Instant;

use crate::control::Supervisor;
use crate::error::ControlError;
use crate::launch::port_message;

/// The longest a start is waited on by default.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Time allowed on top of the start window for the launch itself.
const LAUNCH_SLACK: Duration = Duration::from_secs(5);

/// Lines of standard error a failed start shows.
const STDERR_LINES: usize = 10;

/// How a requested start ended, as far as the asker waited.
#[derive(Debug, Clone)]
pub enum Started {
    /// Up: ready, alive for its start window, or completed (a one-shot).
    Up(ServiceInfo),
    /// Not up yet when the wait ended (or nobody waited): it goes on starting.
    Pending(ServiceInfo),
}

impl Started {
    /// The service as it is, up or not.
    pub fn into_info(self) -> ServiceInfo {
        match self {
            Started::Up(s) | Started::Pending(s) => s,
        }
    }
}

impl Supervisor {
    /// Starts a service (its stopped dependencies first) and waits at most
    /// `wait` for the outcome; `None` answers at once. A start waited on is on
    /// trial: if it fails, it is not retried (the asker hears why); one nobody
    /// waits on is left to the restart policy.
    pub async fn start_and_wait(&self, name: &str, wait: Option<Duration>) -> Result<Started, ControlError> {
        self.ensure_open()?;
        for dep in self.stopped_dependencies(name)? {
            let _ = self.send(&dep, Input::Start { reason: format!("needed by {name}"), trial: false }).await;
        }
        let asked = crate::logs::timestamp();
        let trial = wait.is_some();
        self.send(name, Input::Start { reason: "started by request".into(), trial }).await?;
        self.outcome(name, wait, &asked).await
    }

    /// Restarts a service (a start when it is not running) and waits at most
    /// `wait` for the new start's outcome; `None` answers once the stop is done.
    pub async fn restart_and_wait(
        &self,
        name: &str,
        wait: Option<Duration>,
    ) -> Result<Started, ControlError> {
        self.ensure_open()?;
        let asked = crate::logs::timestamp();
        self.send(name, Input::Restart { trial: wait.is_some() }).await?;
        let rx = self.watcher(name)?;
        crate::control::wait_until(rx, |s| s.view.status != Status::Stopping, self.stop_budget(name)).await;
        self.outcome(name, wait, &asked).await
    }

    /// The wait a start gets when the asker names none: the service's start
    /// window and the time to launch it (its dependencies, the spawn), at most 30 s.
    pub fn default_wait(&self, name: &str) -> Result<Duration, ControlError> {
        self.with(name, |h| (h.spec.start_window() + LAUNCH_SLACK).min(MAX_WAIT))
    }

    /// Waits for a start asked at `asked` (a log timestamp) to be up or to fail.
    async fn outcome(
        &self,
        name: &str,
        wait: Option<Duration>,
        asked: &str,
    ) -> Result<Started, ControlError> {
        let Some(wait) = wait else { return Ok(Started::Pending(self.service(name)?)) };
        let (mut rx, window) = (self.watcher(name)?, self.with(name, |h| h.spec.start_window())?);
        let deadline = Instant::now() + wait;
        loop {
            let (view, has_readiness, exiting) = {
                let s = rx.borrow_and_update();
                (s.view.clone(), s.has_readiness, s.exiting)
            };
            // When the process will have been alive for the start window.
            let mut until = deadline;
            match view.status {
                Status::Ready | Status::Completed => return Ok(Started::Up(self.service(name)?)),
                Status::Running if !has_readiness && !exiting => {
                    let up = view.up_since.map(|t| Instant::from_std(t) + window).unwrap_or(deadline);
                    if up <= Instant::now() {
                        return Ok(Started::Up(self.service(name)?));
                    }
                    until = up.min(deadline);
                }
                Status::Fatal | Status::Backoff | Status::Exited | Status::Stopped => {
                    return Err(self.failure(name, &view, asked).await);
                }
                Status::Starting | Status::Running | Status::Stopping => {}
            }
            if Instant::now() >= deadline {
                return Ok(Started::Pending(self.service(name)?));
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Err(ControlError::ShuttingDown) },
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// The error of a start that failed: the port's holder, or the reason with
    /// the last lines the service wrote to standard error since `asked` (all
    /// the last lines, in raw-format logs, which carry no time).
    async fn failure(&self, name: &str, view: &ServiceView, asked: &str) -> ControlError {
        let reason = view.reason.clone().unwrap_or_else(|| view.status.to_string());
        if let Some(holder) = &view.port_holder {
            return ControlError::PortInUse { name: name.into(), message: port_message(holder), reason };
        }
        let stderr = match view.status {
            Status::Stopped => Vec::new(),
            _ => self.logs(name, STDERR_LINES, LogStream::Stderr).await.unwrap_or_default(),
        };
        let stderr = stderr.into_iter().filter(|l| l.ts.as_deref().is_none_or(|t| t >= asked));
        ControlError::StartFailed { name: name.into(), reason, stderr: stderr.map(|l| l.line).collect() }
    }
}
