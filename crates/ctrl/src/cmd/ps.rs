//! `ctrl ps [--sort cpu|memory|pid|name] [-n 20] [-q TEXT] [--json]`: the top processes.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::ProcessInfo;

use crate::client::{Client, Remote};
use crate::table::{self, bytes};

/// Arguments of `ctrl ps`.
#[derive(clap::Args)]
pub struct PsArgs {
    /// Order by.
    #[arg(long, value_enum, default_value_t = Sort::Cpu)]
    sort: Sort,
    /// How many.
    #[arg(short = 'n', long, default_value_t = 20)]
    limit: u32,
    /// Only processes whose name, command, user or service contains this.
    #[arg(short = 'q', long)]
    filter: Option<String>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Sort {
    Cpu,
    Memory,
    Pid,
    Name,
}

/// Prints the processes of the latest sample.
pub fn run(config: Option<&Path>, remote: &Remote, a: PsArgs) -> anyhow::Result<ExitCode> {
    let sort = match a.sort {
        Sort::Cpu => "cpu",
        Sort::Memory => "memory",
        Sort::Pid => "pid",
        Sort::Name => "name",
    };
    let client = Client::connect(config, remote)?;
    let list: Vec<ProcessInfo> =
        client.call(|api| api.processes(Some(a.limit), Some(sort), a.filter.as_deref()))?;
    if a.json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&list, usize::MAX));
    Ok(ExitCode::SUCCESS)
}

/// The process table; command lines are cut at `cmd_width` characters.
pub fn render(list: &[ProcessInfo], cmd_width: usize) -> String {
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.pid.to_string(),
                p.user.clone().unwrap_or_else(dash),
                format!("{:.1}", p.cpu_percent),
                bytes(p.memory_bytes),
                p.service.clone().unwrap_or_else(dash),
                p.name.clone(),
                truncate(if p.cmdline.is_empty() { &p.name } else { &p.cmdline }, cmd_width),
            ]
        })
        .collect();
    table::print(&["PID", "USER", "CPU%", "MEM", "SERVICE", "NAME", "COMMAND"], &rows, &[])
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        s.chars().take(width.saturating_sub(1)).chain(['…']).collect()
    }
}
