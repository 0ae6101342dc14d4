//! `ctrl reload`: the daemon re-reads its config and applies only the difference.

use std::path::Path;
use std::process::ExitCode;

use crate::client::{Client, Remote};

/// Asks for a reload and prints what changed.
pub fn run(config: Option<&Path>, remote: &Remote, json: bool) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let report = client.call(|api| api.reload())?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let parts = [
        ("added", &report.added),
        ("removed", &report.removed),
        ("changed", &report.changed),
        ("unchanged", &report.unchanged),
    ];
    for (key, names) in parts {
        if !names.is_empty() {
            println!("{key}: {}", names.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
