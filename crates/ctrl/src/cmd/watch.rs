//! `ctrl watch`: a live, top-like view of the host and the services.
//!
//! Redraws every interval on the terminal's alternate screen until Ctrl-C,
//! then restores the screen. Without a terminal it prints one frame per
//! interval, so it can also feed a log.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ctrl_proto::{ProcessInfo, ServiceInfo, Stats};
use tokio::signal::unix::{Signal, SignalKind};

use crate::client::{Client, Remote};
use crate::cmd::{ps, status};
use crate::table::{self, bytes};

/// Arguments of `ctrl watch`.
#[derive(clap::Args)]
pub struct WatchArgs {
    /// Seconds between frames.
    #[arg(short, long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Processes shown.
    #[arg(short = 'n', long, default_value_t = 10)]
    processes: u32,
    /// Stop after this many frames (default: until Ctrl-C).
    #[arg(long)]
    frames: Option<u64>,
}

/// Draws frames until Ctrl-C (or `--frames`).
pub fn run(config: Option<&Path>, remote: &Remote, a: WatchArgs) -> anyhow::Result<ExitCode> {
    // A frame that cannot be fetched in time ends the view instead of freezing it.
    let client = Client::connect(config, remote)?.with_timeout(Duration::from_secs(10));
    // Ctrl-C is caught from here on, before the screen is switched, so that it is
    // always switched back.
    let mut sigint = client.block_on(async { tokio::signal::unix::signal(SignalKind::interrupt()) })?;
    let tty = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    if tty {
        // Alternate screen, hidden cursor.
        write!(out, "\x1b[?1049h\x1b[?25l")?;
    }
    let result = frames(&client, &a, tty, &mut out, &mut sigint);
    if tty {
        write!(out, "\x1b[?25h\x1b[?1049l")?;
    }
    out.flush()?;
    result.map(|()| ExitCode::SUCCESS)
}

fn frames(
    client: &Client,
    a: &WatchArgs,
    tty: bool,
    out: &mut impl Write,
    sigint: &mut Signal,
) -> anyhow::Result<()> {
    let mut n = 0u64;
    loop {
        let stats: Stats = client.call(|api| api.stats())?;
        let services: Vec<ServiceInfo> = client.call(|api| api.services())?;
        let procs: Vec<ProcessInfo> =
            client.call(|api| api.processes(Some(a.processes), Some("cpu"), None))?;
        let frame = render(&stats, &services, &procs, tty);
        if tty {
            write!(out, "\x1b[H\x1b[2J")?;
        }
        out.write_all(frame.as_bytes())?;
        out.flush()?;
        n += 1;
        if a.frames.is_some_and(|max| n >= max) {
            return Ok(());
        }
        let stop = client.block_on(async {
            tokio::select! {
                _ = sigint.recv() => true,
                _ = tokio::time::sleep(a.interval) => false,
            }
        });
        if stop {
            return Ok(());
        }
    }
}

fn render(s: &Stats, services: &[ServiceInfo], procs: &[ProcessInfo], color: bool) -> String {
    let width = terminal_width();
    let mut out = format!(
        "ctrl watch  {}   up {}   load {:.2} {:.2} {:.2}   {} processes\n",
        s.timestamp.format("%H:%M:%S"),
        table::short_duration(s.uptime_s),
        s.cpu.load_avg[0],
        s.cpu.load_avg[1],
        s.cpu.load_avg[2],
        s.process_count
    );
    out.push_str(&format!("cpu  {} {:5.1}%\n", bar(s.cpu.percent, width), s.cpu.percent));
    out.push_str(&format!(
        "mem  {} {:5.1}%  {} / {}\n",
        bar(s.memory.percent, width),
        s.memory.percent,
        bytes(s.memory.used_bytes),
        bytes(s.memory.total_bytes)
    ));
    let (rx, tx) = s.network.iter().fold((0, 0), |(r, t), n| (r + n.rx_bytes_per_s, t + n.tx_bytes_per_s));
    out.push_str(&format!("net  rx {}/s  tx {}/s\n\n", bytes(rx), bytes(tx)));
    out.push_str(&status::render(services, color));
    out.push('\n');
    out.push_str(&ps::render(procs, width.saturating_sub(60).max(20)));
    out
}

fn bar(percent: f32, width: usize) -> String {
    let cells = (width.saturating_sub(30)).clamp(10, 50);
    let full = ((percent.clamp(0.0, 100.0) / 100.0) * cells as f32).round() as usize;
    format!("[{}{}]", "#".repeat(full), " ".repeat(cells - full))
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
}
