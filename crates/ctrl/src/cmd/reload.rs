//! `ctrl reload`: the daemon re-reads its config and applies only the difference.

use std::path::Path;
use std::process::ExitCode;

use crate::client::{Client, Remote};

/// Asks for a reload and prints what changed.
pub fn run(config: Option<&Path>, remote: &Remote, json: bool) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let report: serde_json::Value = client.post("/api/reload")?;
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
