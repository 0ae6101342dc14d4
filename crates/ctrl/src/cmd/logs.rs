//! `ctrl logs NAME [-n 100] [-f] [--stream stdout|stderr|all] [--json]`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::{LogLine, LogStream, Request};

use crate::client::Client;

/// Options of `ctrl logs`.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// The service.
    name: String,
    /// How many lines back.
    #[arg(short = 'n', long, default_value_t = 100)]
    lines: usize,
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
pub fn run(config: Option<&Path>, a: LogsArgs) -> anyhow::Result<ExitCode> {
    let stream = match a.stream {
        StreamArg::Stdout => LogStream::Stdout,
        StreamArg::Stderr => LogStream::Stderr,
        StreamArg::All => LogStream::All,
    };
    let mut client = Client::connect(config)?;
    let req = Request::Logs { name: a.name.clone(), lines: a.lines, stream, follow: a.follow };
    let lines: Vec<LogLine> = client.call(&req)?;
    let mut out = std::io::stdout().lock();
    for l in &lines {
        print_line(&mut out, l, a.json)?;
    }
    out.flush()?;
    if a.follow {
        while let Some(raw) = client.next_line()? {
            let l: LogLine = serde_json::from_str(&raw)?;
            print_line(&mut out, &l, a.json)?;
            out.flush()?;
        }
    }
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
