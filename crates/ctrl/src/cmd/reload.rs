//! `ctrl reload`: the daemon re-reads its config and applies only the difference.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::Request;

use crate::client::Client;

/// Asks for a reload and prints what changed.
pub fn run(config: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let mut client = Client::connect(config)?;
    let report: serde_json::Value = client.call(&Request::Reload)?;
    if json {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    for key in ["added", "removed", "changed", "unchanged"] {
        let names: Vec<&str> =
            report[key].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        if !names.is_empty() {
            println!("{key}: {}", names.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
