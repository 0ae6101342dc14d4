//! `ctrl llm`: the LLM gateway's usage, interaction log, keys, and a test of its upstreams.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ctrl_client::LlmLog;
use ctrl_proto::{Interaction, LlmKeyInfo, NewLlmKey, UsageRow};
use serde_json::Value;

use crate::client::{Client, Remote};
use crate::table;

/// What to do with the LLM gateway.
#[derive(Subcommand)]
pub enum LlmCmd {
    /// Calls, tokens and cost per day, model, key or service.
    Usage(UsageArgs),
    /// The interaction log, newest first; or one interaction whole.
    Log(LogArgs),
    /// Manage LLM keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Check every upstream: reachable, how fast, which models (exits 1 when one fails).
    Test {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Ask a model one thing (the seed's `/chat`).
    Chat {
        /// The message.
        message: String,
        /// The model (default: `[llm] default_model`).
        #[arg(long)]
        model: Option<String>,
    },
    /// Drop every cached answer.
    ClearCache,
}

/// `ctrl llm usage`.
#[derive(Args)]
pub struct UsageArgs {
    /// Group by day, model, key or service.
    #[arg(long, default_value = "day")]
    pub by: String,
    /// First day (YYYY-MM-DD; default 30 days ago).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD; default today).
    #[arg(long)]
    pub to: Option<String>,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `ctrl llm log`.
#[derive(Args)]
pub struct LogArgs {
    /// Show this interaction whole (request and answer).
    pub id: Option<i64>,
    /// How many.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: u32,
    /// Only this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Only those whose prompt, answer or error contains this.
    #[arg(short = 'q', long)]
    pub query: Option<String>,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `ctrl llm key …`.
#[derive(Subcommand)]
pub enum KeyCmd {
    /// Make a key; it is printed once and only its hash is kept.
    Create {
        /// Its name: the service its usage is counted under.
        #[arg(long)]
        name: String,
        /// Spending allowed: `5/day`, `20/month` (none: no limit).
        #[arg(long)]
        budget: Option<String>,
        /// Models it may use, names or patterns like 'deepseek*' (repeat or separate by commas; default any).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Every key with what it spent this period.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: calls with it are refused at once.
    Revoke {
        /// Its id.
        id: i64,
    },
}

/// Runs a `ctrl llm` command.
pub fn run(config: Option<&Path>, remote: &Remote, cmd: LlmCmd) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    match cmd {
        LlmCmd::Usage(a) => usage(&client, a),
        LlmCmd::Log(a) => log(&client, a),
        LlmCmd::Key(k) => key(&client, k),
        LlmCmd::Test { json } => test(&client, json),
        LlmCmd::Chat { message, model } => {
            let answer: Value = client.call(|api| api.llm_chat(&message, model.as_deref()))?;
            println!("{}", answer["response"].as_str().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        LlmCmd::ClearCache => {
            let c = client.call(|api| api.llm_clear_cache())?;
            println!("dropped {} cached answers ({})", c.entries, table::bytes(c.bytes));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn usage(client: &Client, a: UsageArgs) -> anyhow::Result<ExitCode> {
    let rows: Vec<UsageRow> =
        client.call(|api| api.llm_usage(a.from.clone(), a.to.clone(), Some(a.by.clone())))?;
    if a.json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let group = r
                .date
                .clone()
                .or_else(|| r.model.clone())
                .or_else(|| r.service.clone())
                .or_else(|| r.key.map(|k| format!("key {k}")))
                .unwrap_or_else(|| "(none)".into());
            vec![
                group,
                r.calls.to_string(),
                r.cached.to_string(),
                r.prompt_tokens.to_string(),
                r.completion_tokens.to_string(),
                format!("{:.4}", r.cost),
                if r.estimated > 0 { format!("{} estimated", r.estimated) } else { String::new() },
            ]
        })
        .collect();
    print!("{}", table::print(&[&a.by, "calls", "cached", "prompt", "completion", "cost", ""], &cells, &[]));
    Ok(ExitCode::SUCCESS)
}

fn log(client: &Client, a: LogArgs) -> anyhow::Result<ExitCode> {
    if let Some(id) = a.id {
        let i: Interaction = client.call(|api| api.llm_interaction(id))?;
        println!("{}", if a.json { serde_json::to_string(&i)? } else { serde_json::to_string_pretty(&i)? });
        return Ok(ExitCode::SUCCESS);
    }
    let f = LlmLog { limit: Some(a.limit), model: a.model, q: a.query, ..LlmLog::default() };
    let items: Vec<Interaction> = client.call(|api| api.llm_log(&f))?;
    if a.json {
        println!("{}", serde_json::to_string(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    let cells: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                i.service.clone(),
                i.model.clone(),
                i.upstream.clone().unwrap_or_else(|| "-".into()),
                i.status.to_string(),
                format!("{:.0} ms", i.processing_ms),
                format!("{}+{}{}", i.prompt_tokens, i.completion_tokens, if i.estimated { "~" } else { "" }),
                if i.cached { "cached".into() } else { String::new() },
                i.error.clone().unwrap_or_default().chars().take(60).collect(),
            ]
        })
        .collect();
    let headers = ["id", "at", "service", "model", "upstream", "status", "took", "tokens", "", "error"];
    print!("{}", table::print(&headers, &cells, &[]));
    Ok(ExitCode::SUCCESS)
}

fn key(client: &Client, cmd: KeyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCmd::Create { name, budget, models, json } => {
            let (budget, period) = match budget.as_deref() {
                None => (None, None),
                Some(b) => {
                    let (v, p) = ctrl_llm::keys::parse_budget(b).map_err(anyhow::Error::msg)?;
                    (Some(v), Some(p.as_str().to_owned()))
                }
            };
            let new = NewLlmKey { name, models, budget, period };
            let made = client.call(|api| api.llm_create_key(&new))?;
            if json {
                println!("{}", serde_json::to_string(&made)?);
            } else {
                println!("{}", made.key);
                eprintln!(
                    "key {} '{}' made; it is shown only now: keep it (use it as 'Authorization: Bearer …')",
                    made.info.id, made.info.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCmd::List { json } => {
            let keys: Vec<LlmKeyInfo> = client.call(|api| api.llm_keys())?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
                return Ok(ExitCode::SUCCESS);
            }
            let cells: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.id.to_string(),
                        k.name.clone(),
                        format!("{}…", k.prefix),
                        k.models.join(","),
                        k.budget.map_or_else(|| "-".into(), |b| format!("{b}/{}", k.period)),
                        format!("{:.4}", k.spent),
                        if k.revoked_at.is_some() { "revoked".into() } else { "live".into() },
                    ]
                })
                .collect();
            let headers = ["id", "name", "key", "models", "budget", "spent", "state"];
            print!("{}", table::print(&headers, &cells, &[]));
            Ok(ExitCode::SUCCESS)
        }
        KeyCmd::Revoke { id } => {
            let k = client.call(|api| api.llm_revoke_key(id))?;
            println!("revoked key {} '{}'", k.id, k.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn test(client: &Client, json: bool) -> anyhow::Result<ExitCode> {
    let answer: Value = client.call(|api| api.llm_test())?;
    let ok = answer["ok"].as_bool().unwrap_or(false);
    if json {
        println!("{answer}");
    } else {
        let cells: Vec<Vec<String>> = answer["upstreams"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|u| {
                let models: Vec<&str> = u["models"]
                    .as_array()
                    .map(|m| m.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                vec![
                    u["name"].as_str().unwrap_or_default().to_owned(),
                    u["url"].as_str().unwrap_or_default().to_owned(),
                    if u["ok"] == true { "ok".into() } else { "FAILED".into() },
                    format!("{:.1} ms", u["latency_ms"].as_f64().unwrap_or(0.0)),
                    u["error"].as_str().map_or_else(|| models.join(", "), str::to_owned),
                ]
            })
            .collect();
        print!("{}", table::print(&["upstream", "url", "", "latency", "models"], &cells, &[]));
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
