//! `ctrl up`: the daemon in the foreground.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::{daemon, locate};

/// Loads the config, then runs the daemon until SIGINT or SIGTERM.
pub fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (cfg, path) = locate::load_config(config)?;
    daemon::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ctrl")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(daemon::run(cfg, path))?;
    Ok(ExitCode::SUCCESS)
}
