//! `ctrl`: the daemon (`ctrl up`) and the command line that talks to it.
//!
//! This is the binary's edge: arguments are parsed here, every subcommand lives
//! in its own file under `cmd/`, and errors become one message on stderr and a
//! non-zero exit code.

mod client;
mod cmd;
mod daemon;
mod locate;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Control Center: runs, watches and shows every service on your machines.
#[derive(Parser)]
#[command(name = "ctrl", version, about, propagate_version = true)]
struct Cli {
    /// The config file (default: ./ctrl.toml when it exists).
    #[arg(long, short = 'c', global = true, env = "CTRL_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    remote: client::Remote,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground: supervise every service of the config.
    Up,
    /// Validate the config and check that every service could start now.
    Check,
    /// Write a ctrl.toml from a supervisord, PM2, Procfile or process-compose config.
    Import(cmd::import::ImportArgs),
    /// Show the services and their state.
    Status {
        /// Only this service.
        name: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Start a service (and the stopped services it depends on).
    Start(cmd::control::Target),
    /// Stop a service and its whole process group.
    Stop(cmd::control::Target),
    /// Restart a service.
    Restart(cmd::control::Target),
    /// Show a service's output.
    Logs(cmd::logs::LogsArgs),
    /// Show a service's recent state changes.
    Events {
        /// The service.
        name: String,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u32,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Re-read the config and apply only what changed.
    Reload {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show the host's latest numbers: CPU, memory, disks, network, sensors, GPUs.
    Stats {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show the top processes and the service each belongs to.
    Ps(cmd::ps::PsArgs),
    /// Show listening ports, their processes and services.
    Ports(cmd::ports::PortsArgs),
    /// A live view of the host and the services (Ctrl-C to leave).
    Watch(cmd::watch::WatchArgs),
    /// List the whitelisted actions and their parameters.
    Actions {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Run an action and follow its job to the end.
    Run(cmd::jobs::RunArgs),
    /// List jobs, newest first.
    Jobs(cmd::jobs::JobsArgs),
    /// Show, follow or cancel one job.
    #[command(subcommand)]
    Job(cmd::jobs::JobCmd),
    /// Manage schedules.
    #[command(subcommand)]
    Schedule(cmd::schedule::ScheduleCmd),
    /// List backup targets, or the backups of one.
    Backups {
        /// A target: list its backups.
        target: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Search and scan the knowledge base.
    #[command(subcommand)]
    Kb(cmd::kb::KbCmd),
    /// The LLM gateway: usage, the interaction log, keys, a test of its upstreams.
    #[command(subcommand)]
    Llm(cmd::llm::LlmCmd),
    /// Agent sessions: list them, show one's history, delete one.
    Sessions(cmd::chat::SessionsArgs),
    /// Chat with an agent session in the terminal (a new one, or SESSION).
    Chat(cmd::chat::ChatArgs),
    /// The hosts behind this hub: list, add (one-time enrolment token), remove, events.
    Hosts(cmd::hosts::HostsArgs),
    /// Manage dashboard users (works without a running daemon).
    #[command(subcommand)]
    User(cmd::user::UserCmd),
    /// Manage API tokens (through the daemon).
    #[command(subcommand)]
    Token(cmd::token::TokenCmd),
    /// Move the data between databases (SQLite, PostgreSQL).
    #[command(subcommand)]
    Db(cmd::db::DbCmd),
    /// Run ctrl as a system service.
    #[command(subcommand)]
    Service(cmd::service::ServiceCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, remote) = (cli.config.as_deref(), &cli.remote);
    let result = match cli.command {
        Command::Up => cmd::up::run(config),
        Command::Check => cmd::check::run(config),
        Command::Import(args) => cmd::import::run(args),
        Command::Status { name, json } => cmd::status::run(config, remote, name.as_deref(), json),
        Command::Start(t) => cmd::control::run(config, remote, cmd::control::Verb::Start, t),
        Command::Stop(t) => cmd::control::run(config, remote, cmd::control::Verb::Stop, t),
        Command::Restart(t) => cmd::control::run(config, remote, cmd::control::Verb::Restart, t),
        Command::Logs(args) => cmd::logs::run(config, remote, args),
        Command::Events { name, limit, json } => cmd::events::run(config, remote, &name, limit, json),
        Command::Reload { json } => cmd::reload::run(config, remote, json),
        Command::Stats { json } => cmd::stats::run(config, remote, json),
        Command::Ps(args) => cmd::ps::run(config, remote, args),
        Command::Ports(args) => cmd::ports::run(config, remote, args),
        Command::Watch(args) => cmd::watch::run(config, remote, args),
        Command::Actions { json } => cmd::jobs::actions(config, remote, json),
        Command::Run(args) => cmd::jobs::run(config, remote, args),
        Command::Jobs(args) => cmd::jobs::list(config, remote, args),
        Command::Job(c) => cmd::jobs::job(config, remote, c),
        Command::Schedule(c) => cmd::schedule::run(config, remote, c),
        Command::Backups { target, json } => cmd::backups::run(config, remote, target.as_deref(), json),
        Command::Kb(c) => cmd::kb::run(config, remote, c),
        Command::Llm(c) => cmd::llm::run(config, remote, c),
        Command::Sessions(a) => cmd::chat::sessions(config, remote, a),
        Command::Chat(a) => cmd::chat::chat(config, remote, a),
        Command::Hosts(a) => cmd::hosts::run(config, remote, a),
        Command::User(c) => cmd::user::run(config, c),
        Command::Token(c) => cmd::token::run(config, remote, c),
        Command::Service(c) => cmd::service::run(config, c),
        Command::Db(c) => cmd::db::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ctrl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
