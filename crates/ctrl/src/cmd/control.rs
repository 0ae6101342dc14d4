//! `ctrl start|stop|restart NAME|--all`.

use std::path::Path;
use std::process::ExitCode;

use ctrl_core::{Health, Status};
use ctrl_proto::ServiceInfo;

use crate::client::{Client, Remote};
use crate::table;

/// Which service(s).
#[derive(clap::Args)]
pub struct Target {
    /// The service.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    name: Option<String>,
    /// Every service (stop goes in reverse dependency order).
    #[arg(long)]
    all: bool,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// start/restart: answer at once instead of waiting until the service is up or failed.
    #[arg(long, conflicts_with = "timeout")]
    no_wait: bool,
    /// start/restart: wait at most this long (like `10s`; default: the start window and 5 s, at most 30 s).
    #[arg(long)]
    timeout: Option<String>,
}

/// The verb.
#[derive(Clone, Copy)]
pub enum Verb {
    /// Start.
    Start,
    /// Stop.
    Stop,
    /// Restart.
    Restart,
}

/// Sends the request and prints the resulting state.
pub fn run(config: Option<&Path>, remote: &Remote, verb: Verb, t: Target) -> anyhow::Result<ExitCode> {
    let word = match verb {
        Verb::Start => "start",
        Verb::Stop => "stop",
        Verb::Restart => "restart",
    };
    let client = Client::connect(config, remote)?;
    let services: Vec<ServiceInfo> = match (&t.name, t.all) {
        (Some(name), false) => match (verb, t.no_wait, &t.timeout) {
            (Verb::Stop, ..) | (_, false, None) => vec![client.call(|api| api.control(name, word))?],
            (_, true, _) => vec![client.call(|api| api.control_waiting(name, word, None))?],
            (_, false, Some(d)) => vec![client.call(|api| api.control_waiting(name, word, Some(d)))?],
        },
        _ => client.call(|api| api.control_all(word))?,
    };
    if t.json {
        println!("{}", serde_json::to_string(&services)?);
    } else {
        let color = table::is_tty();
        for s in &services {
            let state = table::paint(s.status, s.status.as_str(), color);
            // Not up yet (no wait, or a readiness probe still failing): say why.
            match (&s.reason, s.status) {
                (Some(why), Status::Starting | Status::Running) if s.health != Health::Healthy => {
                    println!("{}: {state} ({why})", s.name)
                }
                _ => println!("{}: {state}", s.name),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
