//! `ctrl check`: validate the config and look for what would stop a start.

use std::path::Path;
use std::process::ExitCode;

use crate::locate;

/// Validates the config (errors name file, line, column and key), then checks
/// each service's working directory, executable, env file and port.
pub fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (cfg, path) = locate::load_config(config)?;
    let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
    let mut problems = 0;
    for (name, spec) in &cfg.services {
        for p in ctrl_supervisor::preflight(spec) {
            println!("{file}: services.{name}: {p}");
            problems += 1;
        }
    }
    if problems > 0 {
        println!("{problems} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    println!("{file}: ok ({} services)", cfg.services.len());
    Ok(ExitCode::SUCCESS)
}
