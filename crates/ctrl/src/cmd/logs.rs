//! `ctrl logs NAME [-n 100] [-f] [--stream stdout|stderr|all] [--json]`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::LogLine;

use crate::client::{Client, Remote};

/// Options of `ctrl logs`.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// The service.
    name: String,
    /// How many lines back.
    #[arg(short = 'n', long, default_value_t = 100)]
    lines: u32,
    /// Keep printing new lines as they come.
    #[arg(short, long)]
    follow: bool,
    /// Which stream.
    #[arg(long, value_enum, default_value_t = StreamArg::All)]
    stream: StreamArg,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StreamArg {
    Stdout,
    Stderr,
    All,
}

/// Prints the last lines, then follows if asked.
pub fn run(config: Option<&Path>, remote: &Remote, a: LogsArgs) -> anyhow::Result<ExitCode> {
    let stream = match a.stream {
        StreamArg::Stdout => "stdout",
        StreamArg::Stderr => "stderr",
        StreamArg::All => "all",
    };
    let client = Client::connect(config, remote)?;
    let mut out = std::io::stdout().lock();
    if !a.follow {
        let lines: Vec<LogLine> = client.call(|api| api.logs(&a.name, a.lines, stream))?;
        for l in &lines {
            print_line(&mut out, l, a.json)?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut events = client.call(|api| api.follow_logs(&a.name, a.lines, stream))?;
    while let Some(l) = client.next(&mut events)? {
        print_line(&mut out, &l, a.json)?;
        out.flush()?;
    }
    eprintln!("ctrl: the log stream ended (the service was reloaded or the daemon stopped)");
    Ok(ExitCode::SUCCESS)
}

fn print_line(out: &mut impl Write, l: &LogLine, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(l).unwrap_or_default());
    }
    match &l.ts {
        Some(ts) => writeln!(out, "{ts} {} {}", l.stream, l.line),
        None => writeln!(out, "{}", l.line),
    }
}
