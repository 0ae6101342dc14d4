//! `ctrl start|stop|restart NAME|--all`.

use std::path::Path;
use std::process::ExitCode;

use ctrl_proto::{Request, ServiceInfo};

use crate::client::Client;
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
pub fn run(config: Option<&Path>, verb: Verb, t: Target) -> anyhow::Result<ExitCode> {
    let name = if t.all { None } else { t.name.clone() };
    let req = match verb {
        Verb::Start => Request::Start { name },
        Verb::Stop => Request::Stop { name },
        Verb::Restart => Request::Restart { name },
    };
    let mut client = Client::connect(config)?;
    let services: Vec<ServiceInfo> = client.call(&req)?;
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
