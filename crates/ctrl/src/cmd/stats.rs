//! `ctrl stats [--json]`: the latest host sample.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::Stats;

use crate::client::{Client, Remote};
use crate::table::{self, bytes};

/// Prints the host's numbers.
pub fn run(config: Option<&Path>, remote: &Remote, json: bool) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let s: Stats = client.call(|api| api.stats())?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&s));
    Ok(ExitCode::SUCCESS)
}

/// The sample as a few aligned sections.
pub fn render(s: &Stats) -> String {
    let mut out = String::new();
    let cores: Vec<String> = s.cpu.per_core.iter().map(|c| format!("{c:.0}")).collect();
    out.push_str(&format!(
        "cpu     {:5.1}%  ({} cores: {})  load {:.2} {:.2} {:.2}\n",
        s.cpu.percent,
        s.cpu.count,
        cores.join(" "),
        s.cpu.load_avg[0],
        s.cpu.load_avg[1],
        s.cpu.load_avg[2]
    ));
    out.push_str(&format!(
        "memory  {:5.1}%  {} of {} ({} available)\n",
        s.memory.percent,
        bytes(s.memory.used_bytes),
        bytes(s.memory.total_bytes),
        bytes(s.memory.available_bytes)
    ));
    out.push_str(&format!(
        "swap    {:5.1}%  {} of {}\n",
        s.swap.percent,
        bytes(s.swap.used_bytes),
        bytes(s.swap.total_bytes)
    ));
    out.push_str(&format!("uptime  {}  processes {}\n", table::short_duration(s.uptime_s), s.process_count));
    if !s.disks.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s
            .disks
            .iter()
            .map(|d| {
                vec![
                    d.mount.clone(),
                    d.fs.clone(),
                    format!("{:.1}%", d.percent),
                    bytes(d.used_bytes),
                    bytes(d.total_bytes),
                    format!("{}/s", bytes(d.read_bytes_per_s)),
                    format!("{}/s", bytes(d.write_bytes_per_s)),
                ]
            })
            .collect();
        out.push_str(&table::print(&["MOUNT", "FS", "USED%", "USED", "SIZE", "READ", "WRITE"], &rows, &[]));
    }
    if !s.network.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s
            .network
            .iter()
            .map(|n| {
                vec![
                    n.interface.clone(),
                    format!("{}/s", bytes(n.rx_bytes_per_s)),
                    format!("{}/s", bytes(n.tx_bytes_per_s)),
                ]
            })
            .collect();
        out.push_str(&table::print(&["INTERFACE", "RX", "TX"], &rows, &[]));
    }
    if !s.temperatures.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> =
            s.temperatures.iter().map(|t| vec![t.label.clone(), format!("{:.1}°C", t.celsius)]).collect();
        out.push_str(&table::print(&["SENSOR", "TEMP"], &rows, &[]));
    }
    if !s.gpus.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = s
            .gpus
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    format!("{:.0}%", g.utilization_percent),
                    format!("{} / {}", bytes(g.memory_used_bytes), bytes(g.memory_total_bytes)),
                    format!("{:.0}°C", g.temperature_celsius),
                ]
            })
            .collect();
        out.push_str(&table::print(&["GPU", "UTIL", "MEMORY", "TEMP"], &rows, &[]));
    }
    out
}
