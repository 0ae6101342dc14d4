//! `ctrl schedule add|list|rm|enable|disable`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ctrl_core::config::{Missed, ParamValue};
use ctrl_proto::{NewSchedule, ScheduleChange, ScheduleInfo};

use crate::client::{Client, Remote};
use crate::table;

/// `ctrl schedule …`.
#[derive(clap::Subcommand)]
pub enum ScheduleCmd {
    /// List schedules with their next run.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Add a schedule.
    Add {
        /// Its name.
        name: String,
        /// The action it runs.
        #[arg(long)]
        action: String,
        /// 5 or 6 cron fields, or daily@HH:MM, weekly@sun HH:MM, monthly@1 HH:MM.
        #[arg(long)]
        cron: String,
        /// IANA time zone of the cron fields.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Run once at start-up after missed runs (default: skip them).
        #[arg(long)]
        run_missed: bool,
        /// A fixed parameter, as key=value (repeat for more).
        #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Remove a schedule.
    Rm {
        /// Its name.
        name: String,
    },
    /// Turn a schedule on.
    Enable {
        /// Its name.
        name: String,
    },
    /// Turn a schedule off.
    Disable {
        /// Its name.
        name: String,
    },
}

/// Runs a schedule subcommand.
pub fn run(config: Option<&Path>, remote: &Remote, cmd: ScheduleCmd) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let shown = match cmd {
        ScheduleCmd::List { json } => {
            let list: Vec<ScheduleInfo> = client.call(|api| api.schedules())?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                print_list(&list);
            }
            return Ok(ExitCode::SUCCESS);
        }
        ScheduleCmd::Add { name, action, cron, timezone, run_missed, params } => {
            let mut values = BTreeMap::new();
            for p in &params {
                let (k, v) = p.split_once('=').with_context(|| format!("'{p}' is not KEY=VALUE"))?;
                values.insert(k.to_owned(), ParamValue::Text(v.to_owned()));
            }
            let missed = if run_missed { Missed::RunOnce } else { Missed::Skip };
            let new = NewSchedule {
                name,
                action,
                cron,
                timezone: Some(timezone),
                missed: Some(missed),
                params: values,
                enabled: None,
            };
            client.call(|api| api.add_schedule(&new))?
        }
        ScheduleCmd::Rm { name } => {
            let s: ScheduleInfo = client.call(|api| api.remove_schedule(&name))?;
            println!("removed schedule {}", s.name);
            return Ok(ExitCode::SUCCESS);
        }
        ScheduleCmd::Enable { name } => set(&client, &name, true)?,
        ScheduleCmd::Disable { name } => set(&client, &name, false)?,
    };
    print_list(&[shown]);
    Ok(ExitCode::SUCCESS)
}

fn set(client: &Client, name: &str, enabled: bool) -> anyhow::Result<ScheduleInfo> {
    let change = ScheduleChange { enabled: Some(enabled), ..ScheduleChange::default() };
    client.call(|api| api.change_schedule(name, &change))
}

fn print_list(list: &[ScheduleInfo]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let next = s.next_runs.first().map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
            vec![
                s.name.clone(),
                s.action.clone(),
                format!("{} ({})", s.cron, s.timezone),
                if s.enabled { "yes".into() } else { "no".into() },
                next.unwrap_or_else(|| "-".into()),
                s.last_job_id.map(|j| j.to_string()).unwrap_or_else(|| "-".into()),
                s.source.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::print(&["NAME", "ACTION", "WHEN", "ENABLED", "NEXT", "LAST JOB", "FROM"], &rows, &[])
    );
}
