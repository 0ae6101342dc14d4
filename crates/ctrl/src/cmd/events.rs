//! `ctrl events NAME [-n N] [--json]`.

use std::path::Path;
use std::process::ExitCode;

use ctrl_core::ServiceEvent;

use crate::client::{Client, Remote};
use crate::table;

/// Prints a service's last transitions, oldest first.
pub fn run(
    config: Option<&Path>,
    remote: &Remote,
    name: &str,
    limit: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let events: Vec<ServiceEvent> = client.call(|api| api.service_events(name, limit))?;
    if json {
        println!("{}", serde_json::to_string(&events)?);
        return Ok(ExitCode::SUCCESS);
    }
    let color = table::is_tty();
    for e in events {
        let detail = [
            e.pid.map(|p| format!("pid {p}")),
            e.exit_code.map(|c| format!("code {c}")),
            e.signal.clone(),
            e.reason.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("  ");
        println!(
            "{}  {} -> {}  {detail}",
            e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            e.from,
            table::paint(e.to, e.to.as_str(), color)
        );
    }
    Ok(ExitCode::SUCCESS)
}
