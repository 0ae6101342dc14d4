//! `ctrl hosts [add NAME|rm NAME|events NAME]`: the hosts behind this hub.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use ctrl_proto::{HostInfo, HostStatus};

use crate::client::{Client, Remote};
use crate::table;

/// `ctrl hosts …`.
#[derive(clap::Args)]
pub struct HostsArgs {
    #[command(subcommand)]
    cmd: Option<HostsCmd>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum HostsCmd {
    /// Add a host and print its one-time enrolment token (admin).
    Add {
        /// The host's name (its `[hub] name`, by default its host name).
        name: String,
        /// How long the token works, e.g. 1h (default), 30m, 7d.
        #[arg(long)]
        expires: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Remove a host: forget its key and drop its link (admin).
    Rm {
        /// The host.
        name: String,
    },
    /// What a host reported: its services' state changes and alerts, oldest first.
    Events {
        /// The host.
        name: String,
        /// How many of the newest.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: u32,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `ctrl hosts`.
pub fn run(config: Option<&Path>, remote: &Remote, a: HostsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::connect_hub(config, remote)?;
    match a.cmd {
        None => {
            let list: Vec<HostInfo> = client.call(|api| api.hosts())?;
            if a.json {
                println!("{}", serde_json::to_string(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let color = table::is_tty();
            let rows: Vec<Vec<String>> = list.iter().map(row).collect();
            let colors: Vec<Option<&str>> = list
                .iter()
                .map(|h| match h.status {
                    HostStatus::Online => Some("\x1b[32m"),
                    HostStatus::Offline => Some("\x1b[31m"),
                    HostStatus::Pending => Some("\x1b[33m"),
                })
                .collect();
            let headers =
                ["HOST", "STATUS", "LAST SEEN", "VERSION", "ADDRESS", "CPU", "MEM", "DISK", "SERVICES"];
            if rows.is_empty() {
                eprintln!("no hosts yet: add one with `ctrl hosts add NAME`");
                return Ok(ExitCode::SUCCESS);
            }
            print!("{}", table::print(&headers, &rows, if color { &colors } else { &[] }));
        }
        Some(HostsCmd::Add { name, expires, json }) => {
            let e = client.call(|api| api.add_host(&name, expires.as_deref()))?;
            if json {
                println!("{}", serde_json::to_string(&e)?);
            } else {
                println!("{}", e.enroll_token);
                eprintln!(
                    "host '{name}' added; the token works once, until {}. On the host, put it in a file and add to its ctrl.toml:\n\n[hub]\nurl = \"{}\"\nenroll_token_file = \"hub.enroll\"\nname = \"{name}\"",
                    e.expires_at.format("%Y-%m-%d %H:%M UTC"),
                    hub_url(config, remote)
                );
            }
        }
        Some(HostsCmd::Rm { name }) => {
            let msg = client.call(|api| api.remove_host(&name))?;
            println!("{msg}");
        }
        Some(HostsCmd::Events { name, limit, json }) => {
            let list = client.call(|api| api.host_events(&name, limit))?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            for e in list {
                let what = match e.kind.as_str() {
                    "service" => format!(
                        "{} {} -> {}",
                        e.data["service"].as_str().unwrap_or("?"),
                        e.data["from"].as_str().unwrap_or("?"),
                        e.data["to"].as_str().unwrap_or("?")
                    ),
                    _ => e.data.to_string(),
                };
                println!("{}  {:<7} {what}", e.at.format("%Y-%m-%d %H:%M:%S"), e.kind);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The address hosts dial, as far as this machine knows it: the `--url` the CLI
/// used, or the local daemon's own (behind nginx, its public URL instead).
fn hub_url(config: Option<&Path>, remote: &Remote) -> String {
    if let Some(url) = &remote.url {
        return url.trim_end_matches('/').to_owned();
    }
    let local = crate::locate::load_config(config).ok().and_then(|(c, _)| {
        let addr = std::fs::read_to_string(c.server.state_dir.join("http.addr")).ok()?;
        let scheme = if c.server.tls.is_some() { "https" } else { "http" };
        Some(format!("{scheme}://{}", addr.trim()))
    });
    local.unwrap_or_else(|| "https://THIS-HUB:PORT".into())
}

fn row(h: &HostInfo) -> Vec<String> {
    let pct = |v: Option<f32>| v.map_or_else(|| "-".into(), |v| format!("{v:.0}%"));
    let ago = h.last_seen.map_or_else(
        || "never".into(),
        |t| format!("{} ago", table::short_duration((chrono::Utc::now() - t).num_seconds().max(0) as u64)),
    );
    vec![
        h.name.clone(),
        h.status.as_str().into(),
        ago,
        h.version.clone().unwrap_or_else(|| "-".into()),
        h.address.clone().unwrap_or_else(|| "-".into()),
        pct(h.stats.map(|s| s.cpu_percent)),
        pct(h.stats.map(|s| s.memory_percent)),
        pct(h.stats.map(|s| s.disk_percent)),
        h.services.map_or_else(
            || "-".into(),
            |s| {
                format!(
                    "{}/{} running{}",
                    s.running,
                    s.total,
                    if s.failed > 0 { format!(", {} failed", s.failed) } else { String::new() }
                )
            },
        ),
    ]
}
