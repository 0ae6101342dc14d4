//! `ctrl up`: the daemon in the foreground.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::{daemon, locate};

/// Loads the config, then runs the daemon until SIGINT or SIGTERM.
pub fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (cfg, path) = locate::load_config_on(config, Some(&locate::ThisMachine { assume_root: false }))?;
    daemon::init_tracing();
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ctrl")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(daemon::run(cfg, path))?;
    Ok(ExitCode::SUCCESS)
}

/// Every API client and every log pipe is a file descriptor; the default soft
/// limit of 1024 would cap the daemon at a few hundred live clients. Raise it to
/// the hard limit, as supervisord's `minfds` does (services inherit it).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!(error = %e, soft, hard, "cannot raise the open-file limit");
    }
}
