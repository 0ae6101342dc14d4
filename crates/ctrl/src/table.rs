//! Aligned, optionally coloured tables and state colours for terminals.

use std::io::IsTerminal;

use ctrl_core::Status;

/// Whether stdout is a terminal (colours, alignment for people).
pub fn is_tty() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The ANSI colour of a state: green up, yellow in between, red failed.
pub fn state_color(s: Status) -> &'static str {
    match s {
        Status::Ready | Status::Running => "\x1b[32m",
        Status::Completed => "\x1b[36m",
        Status::Starting | Status::Stopping | Status::Backoff => "\x1b[33m",
        Status::Exited | Status::Fatal => "\x1b[31m",
        Status::Stopped => "\x1b[2m",
    }
}

/// `text` in the state's colour when `color`.
pub fn paint(s: Status, text: &str, color: bool) -> String {
    if color { format!("{}{text}\x1b[0m", state_color(s)) } else { text.to_owned() }
}

/// Prints rows under headers with columns padded to their widest cell.
/// `colors[i]` optionally wraps cell `i` of a row in an ANSI colour (padding stays outside).
pub fn print(headers: &[&str], rows: &[Vec<String>], colors: &[Option<&str>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, Option<&str>)>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, (cell, color)) in cells.into_iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            match color {
                Some(c) => out.push_str(&format!("{c}{cell}\x1b[0m")),
                None => out.push_str(&cell),
            }
            if i < last {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    };
    line(headers.iter().map(|h| (h.to_string(), None)).collect(), &mut out);
    for (r, row) in rows.iter().enumerate() {
        let color = colors.get(r).copied().flatten();
        line(
            row.iter().enumerate().map(|(i, c)| (c.clone(), if i == 1 { color } else { None })).collect(),
            &mut out,
        );
    }
    out
}

/// "3d 4h", "5m 2s", "12s".
pub fn short_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Bytes for people: `512B`, `1.5K`, `12.0M`, `3.2G` (powers of 1024).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}
