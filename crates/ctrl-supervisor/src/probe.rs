//! Readiness and liveness probes: http, tcp and exec checks run on a timer.
//!
//! A probe task reports only changes of verdict to the service's actor: the
//! first pass, and a failure once `failure_threshold` checks in a row failed.

use std::process::Stdio;
use std::time::Duration;

use ctrl_core::config::{Probe, ProbeCheck};
use ctrl_core::service::Input;
use http_body_util::Empty;
use hyper::Request;
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::group::GroupGuard;

/// Which probe of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Gates `ready`.
    Readiness,
    /// Restarts on failure.
    Liveness,
}

/// A verdict change, tagged with the process generation it is about.
pub struct ProbeReport {
    /// Which spawn of the service this probe watched.
    pub generation: u64,
    /// The input for the state machine.
    pub input: Input,
}

/// While not yet ready, readiness is checked at least this often, so that
/// `ready` (and dependents) follow a start closely even with a long interval.
const EAGER: Duration = Duration::from_millis(100);

/// Where and as whom exec probes run: the service's working directory,
/// environment, user and limits (a check the service's user can edit must not
/// run as root).
#[derive(Clone, Default)]
pub struct ExecContext {
    /// Working directory.
    pub cwd: Option<std::path::PathBuf>,
    /// Extra environment.
    pub env: std::collections::BTreeMap<String, String>,
    /// The service's user.
    pub user: Option<String>,
    /// The service's group.
    pub group: Option<String>,
    /// The service's limits.
    pub limits: Vec<ctrl_host::run_as::LimitSetting>,
}

/// Starts probing; abort the handle to stop.
pub fn start(
    kind: ProbeKind,
    probe: Probe,
    ctx: ExecContext,
    generation: u64,
    tx: mpsc::Sender<ProbeReport>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(probe.initial_delay.0).await;
        let Some(check) = probe.check() else { return };
        let mut fails = 0u32;
        let mut passing: Option<bool> = None;
        loop {
            let verdict = run_check(&check, &ctx, probe.timeout.0).await;
            let input = match verdict {
                Ok(()) => {
                    fails = 0;
                    (passing != Some(true)).then(|| {
                        passing = Some(true);
                        match kind {
                            ProbeKind::Readiness => Input::ReadinessPassed,
                            ProbeKind::Liveness => Input::LivenessPassed,
                        }
                    })
                }
                Err(why) => {
                    fails += 1;
                    // Liveness counts only once the service has answered at least once:
                    // a service that never comes up shows as not ready, not as a restart loop.
                    let armed = kind == ProbeKind::Readiness || passing.is_some();
                    (armed && fails >= probe.failure_threshold && passing != Some(false)).then(|| {
                        passing = Some(false);
                        let reason = format!("{} failed {fails} times: {why}", probe.describe());
                        match kind {
                            ProbeKind::Readiness => Input::ReadinessFailed { reason },
                            ProbeKind::Liveness => Input::LivenessFailed { reason },
                        }
                    })
                }
            };
            if let Some(input) = input
                && tx.send(ProbeReport { generation, input }).await.is_err()
            {
                return;
            }
            let wait = if kind == ProbeKind::Readiness && passing != Some(true) {
                probe.every().min(EAGER)
            } else {
                probe.every()
            };
            tokio::time::sleep(wait).await;
        }
    })
}

/// One check, bounded by `timeout`.
pub async fn run_check(check: &ProbeCheck, ctx: &ExecContext, timeout: Duration) -> Result<(), String> {
    let fut = async {
        match check {
            ProbeCheck::Tcp(addr) => {
                TcpStream::connect(addr.as_str()).await.map(drop).map_err(|e| e.to_string())
            }
            ProbeCheck::Http(url) => http_get(url).await,
            ProbeCheck::Exec(argv) => exec(argv, ctx, timeout).await,
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}ms", timeout.as_millis())),
    }
}

async fn http_get(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("URL has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port)).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let req = Request::get(path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::USER_AGENT, "ctrl-probe")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string());
    conn.abort();
    let status = res?.status();
    if status.is_success() || status.is_redirection() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

async fn exec(argv: &[String], ctx: &ExecContext, timeout: Duration) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut cmd = tokio::process::Command::new(program);
    let cwd = ctx.cwd.as_deref().unwrap_or(std::path::Path::new("."));
    cmd.current_dir(cwd);
    ctrl_host::run_as::apply(&mut cmd, ctx.user.as_deref(), ctx.group.as_deref(), &ctx.limits, cwd)?;
    cmd.envs(&ctx.env).env_remove(ctrl_host::children::SERVICE_VAR);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
    cmd.process_group(0);
    let mut child = ctrl_host::children::spawn_noted(|| cmd.spawn(), tokio::process::Child::id)
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let pgid = child.id().unwrap_or(0);
    // Whatever the check started goes with it, also when the probe is aborted.
    let _guard = GroupGuard(pgid);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(s)) => Err(format!("exited with {s}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no exit within {}ms", timeout.as_millis())),
    }
}
