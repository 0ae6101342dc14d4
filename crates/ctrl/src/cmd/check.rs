//! `ctrl check`: validate the config and look for what would stop a start.

use std::path::Path;
use std::process::ExitCode;

use crate::locate;

/// Validates the config (errors name file, line, column and key) and the users
/// services and actions run as, then checks each service's working directory
/// (and its user's access to it), executable, env file and port, that the agent's
/// model is served and its computer tool's programs are installed, and names the LLM
/// upstreams' key variables that are not set.
pub fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    // Users are checked as a root daemon would see them: the check may run from an ordinary shell.
    let (cfg, path) = locate::load_config_on(config, Some(&locate::ThisMachine { assume_root: true }))?;
    let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
    let mut problems = 0;
    let runs_as =
        cfg.services.values().any(|s| s.user.is_some()) || cfg.actions.values().any(|a| a.user.is_some());
    if runs_as && !ctrl_host::run_as::is_root() {
        println!("{file}: note: services or actions name a user; ctrl must run as root to start them");
    }
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
    // The agent's model must be one an upstream serves, and its computer tool needs its programs.
    if let (Some(agent), Some(llm)) = (&cfg.agent, &cfg.llm) {
        let served = llm
            .upstreams
            .values()
            .any(|u| u.models.iter().any(|m| ctrl_core::config::model_matches(m, &agent.model)));
        if !served {
            println!("{file}: agent.model: no upstream of [llm] serves '{}'", agent.model);
            problems += 1;
        }
        if agent.tools.iter().any(|t| t == "computer") {
            for program in ["xdotool", "scrot"] {
                if ctrl_supervisor::find_executable(program, Path::new(".")).is_none() {
                    println!(
                        "{file}: agent.computer: {program} is not installed (Debian: apt install {program})"
                    );
                    problems += 1;
                }
            }
        }
    }
    // The hub: its name resolves, its CA is readable, an unenrolled host has its token.
    if let Some(hub) = &cfg.hub {
        let (found, notes) = ctrl_hub::preflight(hub, &cfg.server.state_dir);
        for p in &found {
            println!("{file}: {p}");
        }
        for n in notes {
            println!("{file}: {n}");
        }
        problems += found.len();
    }
    if problems > 0 {
        println!("{problems} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    println!("{file}: ok ({} services)", cfg.services.len());
    Ok(ExitCode::SUCCESS)
}
