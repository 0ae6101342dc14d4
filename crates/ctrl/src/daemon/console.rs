//! The daemon's live status on its terminal: one line per transition (coloured, and
//! followed by the status table once things settle, on a TTY; plain lines otherwise).

use std::io::{IsTerminal, Write};

use ctrl_core::ServiceEvent;
use ctrl_proto::ServiceInfo;
use ctrl_supervisor::Supervisor;
use tokio::sync::broadcast;

use crate::table::paint;

/// Prints every transition until the bus closes, with the service's port and restarts.
/// On a terminal, once a burst of transitions has settled for half a second, the whole
/// status table follows, so the screen always ends with the current picture.
pub async fn print_transitions(sup: Supervisor, mut rx: broadcast::Receiver<ServiceEvent>) {
    let tty = std::io::stdout().is_terminal();
    let color = tty && std::env::var_os("NO_COLOR").is_none();
    let mut unsettled = false;
    loop {
        let next = if tty && unsettled {
            match tokio::time::timeout(SETTLE, rx.recv()).await {
                Ok(r) => r,
                Err(_) => {
                    unsettled = false;
                    let table = crate::cmd::status::render(&sup.services(), color);
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "\n{table}\n");
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        match next {
            Ok(e) => {
                let info = sup.service(&e.service).ok();
                let line = format_event(&e, info.as_ref(), color);
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                unsettled = true;
            }
            Err(broadcast::error::RecvError::Lagged(n)) => println!("… {n} transitions not shown"),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// How long transitions must pause before the table is printed.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

fn format_event(e: &ServiceEvent, info: Option<&ServiceInfo>, color: bool) -> String {
    let mut parts = vec![
        e.at.with_timezone(&chrono::Local).format("%H:%M:%S%.3f").to_string(),
        format!("{:<16}", e.service),
        paint(e.to, &format!("{:<10}", e.to.as_str()), color),
    ];
    if let Some(pid) = e.pid {
        parts.push(format!("pid {pid}"));
    }
    if let Some(port) = info.and_then(|i| i.port) {
        parts.push(format!("port {port}"));
    }
    if let Some(n) = info.map(|i| i.restarts).filter(|n| *n > 0) {
        parts.push(format!("restarts {n}"));
    }
    if let Some(c) = e.exit_code {
        parts.push(format!("code {c}"));
    }
    if let Some(s) = &e.signal {
        parts.push(s.clone());
    }
    if let Some(r) = &e.reason {
        parts.push(format!("({r})"));
    }
    parts.join("  ")
}
