//! `ctrl ports [--start N] [--end N] [--json]`: who listens on which port.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::PortInfo;

use crate::client::{Client, Remote};
use crate::table;

/// Arguments of `ctrl ports`.
#[derive(clap::Args)]
pub struct PortsArgs {
    /// Lowest port (default: the daemon's [monitor] port_range).
    #[arg(long)]
    start: Option<u16>,
    /// Highest port.
    #[arg(long)]
    end: Option<u16>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Prints the listening sockets.
pub fn run(config: Option<&Path>, remote: &Remote, a: PortsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let list: Vec<PortInfo> = client.call(|api| api.ports(a.start, a.end))?;
    if a.json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.port.to_string(),
                p.protocol.clone(),
                p.address.clone(),
                p.pid.map(|x| x.to_string()).unwrap_or_else(dash),
                p.process.clone().unwrap_or_else(dash),
                p.service.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    print!("{}", table::print(&["PORT", "PROTO", "ADDRESS", "PID", "PROCESS", "SERVICE"], &rows, &[]));
    Ok(ExitCode::SUCCESS)
}
