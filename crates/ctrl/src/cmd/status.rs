//! `ctrl status [NAME] [--json]`.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::ServiceInfo;

use crate::client::{Client, Remote};
use crate::table;

/// Prints the services as a table, or as JSON for scripts.
pub fn run(
    config: Option<&Path>,
    remote: &Remote,
    name: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let services: Vec<ServiceInfo> = match name {
        Some(n) => vec![client.call(|api| api.service(n))?],
        None => client.call(|api| api.services())?,
    };
    if json {
        match name {
            Some(_) => println!("{}", serde_json::to_string(&services[0])?),
            None => println!("{}", serde_json::to_string(&services)?),
        }
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&services, table::is_tty()));
    Ok(ExitCode::SUCCESS)
}

/// The status table.
pub fn render(services: &[ServiceInfo], color: bool) -> String {
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.status.to_string(),
                s.pid.map(|p| p.to_string()).unwrap_or_else(dash),
                s.port.map(|p| p.to_string()).unwrap_or_else(dash),
                s.restarts.to_string(),
                s.uptime_s.map(table::short_duration).unwrap_or_else(dash),
                s.cpu_percent.map(|c| format!("{c:.1}")).unwrap_or_else(dash),
                s.memory_bytes.map(table::bytes).unwrap_or_else(dash),
                format!("{:?}", s.health).to_lowercase(),
                s.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let colors: Vec<Option<&str>> =
        services.iter().map(|s| color.then(|| table::state_color(s.status))).collect();
    table::print(
        &["NAME", "STATE", "PID", "PORT", "RESTARTS", "UPTIME", "CPU%", "MEM", "HEALTH", "REASON"],
        &rows,
        &colors,
    )
}
