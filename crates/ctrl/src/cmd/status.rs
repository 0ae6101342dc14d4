//! `ctrl status [NAME] [--json]`.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::{Request, ServiceInfo};

use crate::client::Client;
use crate::table;

/// Prints the services as a table, or as JSON for scripts.
pub fn run(config: Option<&Path>, name: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let mut client = Client::connect(config)?;
    if json {
        // Pass the daemon's data through untouched.
        let line = client.raw(&Request::Status)?;
        let env: serde_json::Value = serde_json::from_str(&line)?;
        let mut data = env.get("data").cloned().unwrap_or(env);
        if let (Some(n), Some(list)) = (name, data.as_array()) {
            data = list
                .iter()
                .find(|s| s["name"] == n)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no service named '{n}'"))?;
        }
        println!("{data}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut services: Vec<ServiceInfo> = client.call(&Request::Status)?;
    if let Some(n) = name {
        services.retain(|s| s.name == n);
        if services.is_empty() {
            anyhow::bail!("no service named '{n}'");
        }
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
                format!("{:?}", s.health).to_lowercase(),
                s.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let colors: Vec<Option<&str>> =
        services.iter().map(|s| color.then(|| table::state_color(s.status))).collect();
    table::print(&["NAME", "STATE", "PID", "PORT", "RESTARTS", "UPTIME", "HEALTH", "REASON"], &rows, &colors)
}
