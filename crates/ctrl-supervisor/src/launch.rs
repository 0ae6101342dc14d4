//! Turning a service spec into a running process: port check, environment, spawn.

use std::io;
use std::path::Path;
use std::process::Stdio;

use ctrl_core::config::ServiceSpec;
use ctrl_core::service::PortHolder;
use ctrl_host::run_as::RunAs;
use tokio::process::{Child, Command};

/// Fails, naming the holder, when `port` is held by another process.
pub fn check_port(port: u16) -> Result<(), PortHolder> {
    match ctrl_host::tcp_listener_on(port) {
        None => Ok(()),
        Some(l) => Err(PortHolder { port, pid: l.pid, process: l.process }),
    }
}

/// "port 8000 is already in use by pid 1234 (python3)".
pub fn port_message(h: &PortHolder) -> String {
    match (h.pid, &h.process) {
        (Some(pid), Some(name)) => format!("port {} is already in use by pid {pid} ({name})", h.port),
        _ => format!("port {} is already in use by a process this user cannot see", h.port),
    }
}

/// Why a launch did not happen.
#[derive(Debug)]
pub struct LaunchError {
    /// The clear message.
    pub reason: String,
    /// The port's holder, when that was the cause.
    pub port: Option<PortHolder>,
}

impl From<String> for LaunchError {
    fn from(reason: String) -> LaunchError {
        LaunchError { reason, port: None }
    }
}

impl From<PortHolder> for LaunchError {
    fn from(h: PortHolder) -> LaunchError {
        LaunchError { reason: port_message(&h), port: Some(h) }
    }
}

/// Spawns the service in its own process group, with
/// stdin from /dev/null and stdout/stderr piped for capture, and its name in
/// `CTRL_SERVICE` (what it starts keeps it: the daemon knows its strays by it).
pub fn spawn(name: &str, spec: &ServiceSpec) -> Result<Child, String> {
    let argv = spec.argv();
    let Some((program, args)) = argv.split_first() else {
        return Err("the command is empty".into());
    };
    let cwd = spec.cwd.as_deref().unwrap_or(Path::new("."));
    if !cwd.is_dir() {
        return Err(format!("working directory {} does not exist", cwd.display()));
    }
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // First, so the service's own env_file and env win over the user's HOME and USER.
    let limits = spec.limits.settings();
    let run_as =
        ctrl_host::run_as::apply(&mut cmd, spec.user.as_deref(), spec.group.as_deref(), &limits, cwd)?;
    if let Some(file) = &spec.env_file {
        let vars = dotenvy::from_path_iter(file)
            .map_err(|e| format!("cannot read env_file {}: {e}", file.display()))?;
        for item in vars {
            let (k, v) = item.map_err(|e| format!("env_file {}: {e}", file.display()))?;
            cmd.env(k, v);
        }
    }
    cmd.envs(&spec.env);
    cmd.env(ctrl_host::children::SERVICE_VAR, name);
    // A process group of its own (pgid = pid): signals reach the whole tree, and
    // the terminal's Ctrl-C reaches the daemon only. A group rather than a new
    // session lets std spawn with posix_spawn (vfork-fast) instead of fork.
    cmd.process_group(0);
    ctrl_host::children::spawn_noted(|| cmd.spawn(), Child::id).map_err(|e| match &run_as {
        // The switch of user or a limit failed between fork and exec.
        Some(r) if e.kind() == io::ErrorKind::PermissionDenied => {
            format!("cannot start '{program}' as user '{}' with its limits: {e}", r.user)
        }
        None if !limits.is_empty() && e.kind() == io::ErrorKind::PermissionDenied => {
            format!("cannot start '{program}' with its limits: {e}")
        }
        _ => spawn_error(program, &e),
    })
}

/// Why the service's user could not start it from `cwd`, if it names one.
fn user_problem(spec: &ServiceSpec, cwd: &Path) -> Option<String> {
    RunAs::resolve_in(spec.user.as_deref()?, spec.group.as_deref(), cwd).err()
}

fn spawn_error(program: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound if program.contains('/') => {
            format!("command '{program}' does not exist")
        }
        io::ErrorKind::NotFound => format!("command '{program}' was not found in PATH"),
        io::ErrorKind::PermissionDenied => format!("command '{program}' is not executable"),
        _ => format!("cannot start '{program}': {e}"),
    }
}

/// Problems that would stop `spec` from starting right now (the seeds' quick check):
/// a missing working directory, a missing executable, a port already taken.
pub fn preflight(spec: &ServiceSpec) -> Vec<String> {
    let mut out = Vec::new();
    let cwd = spec.cwd.as_deref().unwrap_or(Path::new("."));
    if !cwd.is_dir() {
        out.push(format!("working directory {} does not exist", cwd.display()));
    }
    if let Some(program) = spec.argv().first()
        && find_executable(program, cwd).is_none()
    {
        out.push(if program.contains('/') {
            format!("command '{program}' does not exist or is not executable")
        } else {
            format!("command '{program}' was not found in PATH")
        });
    }
    if let Some(file) = &spec.env_file
        && !file.is_file()
    {
        out.push(format!("env_file {} does not exist", file.display()));
    }
    if cwd.is_dir()
        && let Some(e) = user_problem(spec, cwd)
    {
        out.push(e);
    }
    if let Some(port) = spec.port
        && let Err(h) = check_port(port)
    {
        out.push(port_message(&h));
    }
    out
}

/// Finds `program` as `spawn` would: a path as written, or the first match in PATH.
pub fn find_executable(program: &str, cwd: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |p: &Path| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if program.contains('/') {
        let p = cwd.join(program);
        return executable(&p).then_some(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}
