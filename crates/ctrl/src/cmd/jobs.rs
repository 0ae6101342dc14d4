//! `ctrl actions`, `ctrl run`, `ctrl jobs` and `ctrl job show|logs|cancel`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ctrl_client::JobsQuery;
use ctrl_core::config::ParamValue;
use ctrl_proto::{ActionInfo, JobInfo, JobUpdate, LogLine};

use crate::client::{Client, Remote};
use crate::table;

/// Options of `ctrl run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The action.
    action: String,
    /// A parameter, as key=value (repeat for more).
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Confirm an action that asks for confirmation without a prompt.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Print the job's id and return at once instead of following it.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Print the ended job as JSON (output lines go to stderr).
    #[arg(long)]
    json: bool,
}

/// Options of `ctrl jobs`.
#[derive(clap::Args)]
pub struct JobsArgs {
    /// Only jobs in this state (queued, running, succeeded, failed, cancelled, timed_out).
    #[arg(long)]
    status: Option<String>,
    /// Only runs of this action.
    #[arg(long)]
    action: Option<String>,
    /// Only this kind of work (command, service, backup, restore).
    #[arg(long = "type")]
    job_type: Option<String>,
    /// How many, newest first.
    #[arg(short = 'n', long, default_value_t = 20)]
    limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// `ctrl job …`.
#[derive(clap::Subcommand)]
pub enum JobCmd {
    /// Show one job.
    Show {
        /// The job's id.
        id: i64,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show a job's output.
    Logs {
        /// The job's id.
        id: i64,
        /// Keep printing until the job ends.
        #[arg(short, long)]
        follow: bool,
        /// How many lines back.
        #[arg(short = 'n', long, default_value_t = 1000)]
        lines: u32,
    },
    /// Cancel a queued or running job (its whole process group is stopped).
    Cancel {
        /// The job's id.
        id: i64,
    },
}

/// `ctrl actions`.
pub fn actions(config: Option<&Path>, remote: &Remote, json: bool) -> anyhow::Result<ExitCode> {
    let list: Vec<ActionInfo> = Client::connect(config, remote)?.call(|api| api.actions())?;
    if json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            let params = a
                .params
                .iter()
                .map(|p| if p.required { p.name.clone() } else { format!("[{}]", p.name) })
                .collect::<Vec<_>>()
                .join(" ");
            let confirm = if a.confirm { "yes" } else { "" };
            let desc = a.description.clone().or_else(|| a.command.clone()).unwrap_or_default();
            vec![a.name.clone(), a.kind.as_str().into(), a.role.to_string(), confirm.into(), params, desc]
        })
        .collect();
    print!("{}", table::print(&["NAME", "KIND", "ROLE", "CONFIRM", "PARAMS", "DESCRIPTION"], &rows, &[]));
    Ok(ExitCode::SUCCESS)
}

/// `ctrl run`: starts the job and, unless detached, prints its output until it ends.
pub fn run(config: Option<&Path>, remote: &Remote, a: RunArgs) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    let mut params = BTreeMap::new();
    for p in &a.params {
        let (k, v) = p.split_once('=').with_context(|| format!("'{p}' is not KEY=VALUE"))?;
        params.insert(k.to_owned(), ParamValue::Text(v.to_owned()));
    }
    let info: ActionInfo = client.call(|api| api.action(&a.action))?;
    let confirm = a.yes || (info.confirm && ask(&format!("Run '{}'?", a.action))?);
    if info.confirm && !confirm {
        bail!("'{}' asks for confirmation: answer the prompt or pass --yes", a.action);
    }
    let job: JobInfo = client.call(|api| api.run_action(&a.action, params, confirm))?;
    if a.detach {
        println!("{}", if a.json { serde_json::to_string(&job)? } else { job.id.to_string() });
        return Ok(ExitCode::SUCCESS);
    }
    let end = follow(&client, job.id, 1000, a.json)?;
    if a.json {
        println!("{}", serde_json::to_string(&end)?);
    }
    Ok(verdict(&end))
}

/// Asks yes/no on the terminal; no terminal means no.
fn ask(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Prints a job's output as it comes, with a progress bar on a terminal while
/// the job reports progress; returns the ended job.
pub(crate) fn follow(client: &Client, id: i64, lines: u32, quiet_stdout: bool) -> anyhow::Result<JobInfo> {
    let mut events = client.call(|api| api.follow_job(id, lines))?;
    let bar = indicatif::ProgressBar::new(100);
    bar.set_draw_target(if std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    });
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40.cyan/blue} {pos:>3}% {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut last: Option<JobInfo> = None;
    while let Some(update) = client.next(&mut events)? {
        match update {
            JobUpdate::Log(l) => {
                if l.line.starts_with("::progress ") || l.line.starts_with("::result ") {
                    continue;
                }
                bar.suspend(|| {
                    if quiet_stdout || l.stream == "stderr" {
                        eprintln!("{}", l.line);
                    } else {
                        println!("{}", l.line);
                    }
                });
            }
            JobUpdate::Job(job) => {
                if let Some(p) = job.progress {
                    bar.set_position(p.round() as u64);
                    bar.set_message(job.progress_label.clone().unwrap_or_default());
                }
                last = Some(*job);
            }
        }
    }
    bar.finish_and_clear();
    match last {
        Some(j) if j.status.is_final() => Ok(j),
        _ => client.call(|api| api.job(id)),
    }
}

/// Exit 0 for a succeeded job; otherwise a message on stderr and exit 1.
pub(crate) fn verdict(job: &JobInfo) -> ExitCode {
    if job.status == ctrl_core::JobStatus::Succeeded {
        return ExitCode::SUCCESS;
    }
    let how = match (job.exit_code, &job.signal, &job.error) {
        (_, _, Some(e)) => e.clone(),
        (Some(c), _, _) => format!("exit code {c}"),
        (_, Some(s), _) => format!("killed by {s}"),
        _ => String::new(),
    };
    eprintln!("ctrl: job {} {}{}", job.id, job.status, if how.is_empty() { how } else { format!(": {how}") });
    ExitCode::FAILURE
}

/// `ctrl jobs`.
pub fn list(config: Option<&Path>, remote: &Remote, a: JobsArgs) -> anyhow::Result<ExitCode> {
    let query = JobsQuery {
        job_type: a.job_type.clone(),
        status: a.status.clone(),
        action: a.action.clone(),
        before: None,
        limit: Some(a.limit),
    };
    let jobs: Vec<JobInfo> = Client::connect(config, remote)?.call(|api| api.jobs(&query))?;
    if a.json {
        println!("{}", serde_json::to_string(&jobs)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = jobs.iter().map(row).collect();
    print!(
        "{}",
        table::print(&["ID", "STATUS", "ACTION", "BY", "STARTED", "TOOK", "EXIT", "PROGRESS"], &rows, &[])
    );
    Ok(ExitCode::SUCCESS)
}

fn row(j: &JobInfo) -> Vec<String> {
    let took = match (j.started_at, j.completed_at) {
        (Some(s), Some(e)) => format!("{:.1}s", (e - s).num_milliseconds() as f64 / 1000.0),
        _ => "-".into(),
    };
    vec![
        j.id.to_string(),
        j.status.to_string(),
        j.action.clone().unwrap_or_else(|| j.job_type.clone()),
        j.triggered_by.clone(),
        j.started_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into()),
        took,
        j.exit_code.map(|c| c.to_string()).or_else(|| j.signal.clone()).unwrap_or_else(|| "-".into()),
        j.progress.map(|p| format!("{p:.0}%")).unwrap_or_else(|| "-".into()),
    ]
}

/// `ctrl job …`.
pub fn job(config: Option<&Path>, remote: &Remote, cmd: JobCmd) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    match cmd {
        JobCmd::Show { id, json } => {
            let j: JobInfo = client.call(|api| api.job(id))?;
            if json {
                println!("{}", serde_json::to_string(&j)?);
            } else {
                print!(
                    "{}",
                    table::print(
                        &["ID", "STATUS", "ACTION", "BY", "STARTED", "TOOK", "EXIT", "PROGRESS"],
                        &[row(&j)],
                        &[]
                    )
                );
                if let Some(r) = &j.result {
                    println!("result: {r}");
                }
                if let Some(e) = &j.error {
                    println!("error: {e}");
                }
            }
        }
        JobCmd::Logs { id, follow: true, lines } => {
            follow(&client, id, lines, false)?;
        }
        JobCmd::Logs { id, follow: false, lines } => {
            let out: Vec<LogLine> = client.call(|api| api.job_logs(id, lines))?;
            for l in out {
                println!("{}", l.line);
            }
        }
        JobCmd::Cancel { id } => {
            let j: JobInfo = client.call(|api| api.cancel_job(id))?;
            println!("job {id}: {}", j.status);
        }
    }
    Ok(ExitCode::SUCCESS)
}
