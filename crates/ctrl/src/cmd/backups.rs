//! `ctrl backups [TARGET]`: what backups exist.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::{BackupFile, BackupTarget};

use crate::client::{Client, Remote};
use crate::table;

/// Lists the targets, or the backups of one target.
pub fn run(
    config: Option<&Path>,
    remote: &Remote,
    target: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let Some(target) = target else {
        let list: Vec<BackupTarget> = client.call(|api| api.backup_targets())?;
        if json {
            println!("{}", serde_json::to_string(&list)?);
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|t| {
                vec![
                    t.target.clone(),
                    t.count.to_string(),
                    table::bytes(t.total_bytes),
                    t.latest.map(when).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        print!("{}", table::print(&["TARGET", "BACKUPS", "SIZE", "LATEST"], &rows, &[]));
        return Ok(ExitCode::SUCCESS);
    };
    let list: Vec<BackupFile> = client.call(|api| api.backups(target))?;
    if json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            let sum =
                f.sha256.as_deref().map(|s| s[..12.min(s.len())].to_owned()).unwrap_or_else(|| "-".into());
            vec![f.name.clone(), table::bytes(f.size_bytes), when(f.created_at), sum]
        })
        .collect();
    print!("{}", table::print(&["FILE", "SIZE", "MADE", "SHA256"], &rows, &[]));
    Ok(ExitCode::SUCCESS)
}
