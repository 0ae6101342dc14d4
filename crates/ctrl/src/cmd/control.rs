//! `ctrl start|stop|restart NAME|--all`.

use std::path::Path;
use std::process::ExitCode;

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
        (Some(name), false) => vec![client.call(|api| api.control(name, word))?],
        _ => client.call(|api| api.control_all(word))?,
    };
    if t.json {
        println!("{}", serde_json::to_string(&services)?);
    } else {
        let color = table::is_tty();
        for s in &services {
            println!("{}: {}", s.name, table::paint(s.status, s.status.as_str(), color));
        }
    }
    Ok(ExitCode::SUCCESS)
}
