//! `ctrl check`: validate the config and look for what would stop a start.

use std::path::Path;
use std::process::ExitCode;

use crate::locate;

/// Validates the config (errors name file, line, column and key), then checks
/// each service's working directory, executable, env file and port, and names the
/// LLM upstreams' key variables that are not set.
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
    // A note, not a problem: the daemon's environment (a unit file, say) may differ from this shell's.
    for (name, up) in cfg.llm.iter().flat_map(|l| &l.upstreams) {
        if let Some(var) = &up.api_key_env
            && std::env::var_os(var).is_none_or(|v| v.is_empty())
        {
            println!(
                "{file}: llm.upstreams.{name}.api_key_env: ${var} is not set here; \
                 a daemon without it calls this upstream without a key"
            );
        }
    }
    if problems > 0 {
        println!("{problems} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    println!("{file}: ok ({} services)", cfg.services.len());
    Ok(ExitCode::SUCCESS)
}
