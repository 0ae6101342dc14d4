//! `ctrl token create|list|revoke`: API tokens, through the daemon (admin).

use std::path::Path;
use std::process::ExitCode;

use crate::client::{Client, Remote};
use crate::cmd::user::RoleArg;
use crate::table;

/// `ctrl token …`.
#[derive(clap::Subcommand)]
pub enum TokenCmd {
    /// Create a token; it is shown once, only its hash is kept.
    Create {
        /// What it is for.
        #[arg(long)]
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Lifetime, e.g. 30d (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their values).
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke {
        /// The id from `ctrl token list`.
        id: i64,
    },
}

/// Runs a token subcommand.
pub fn run(config: Option<&Path>, remote: &Remote, cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let client = Client::connect(config, remote)?;
    match cmd {
        TokenCmd::Create { name, role, expires, json } => {
            let role = ctrl_core::Role::from(role);
            let body = serde_json::json!({"name": name, "role": role, "expires_in": expires});
            let t: serde_json::Value = client.post_json("/api/tokens", &body)?;
            if json {
                println!("{t}");
            } else {
                println!("{}", t["token"].as_str().unwrap_or_default());
                eprintln!("token {} ({role}) created with id {}; it is not shown again", name, t["id"]);
            }
        }
        TokenCmd::List { json } => {
            let list: serde_json::Value = client.get("/api/tokens")?;
            if json {
                println!("{list}");
                return Ok(ExitCode::SUCCESS);
            }
            let s = |v: &serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_else(|| "-".into());
            let rows: Vec<Vec<String>> = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let state = if t["revoked_at"].is_string() { "revoked" } else { "active" };
                    vec![
                        t["id"].to_string(),
                        s(&t["name"]),
                        s(&t["role"]),
                        state.into(),
                        s(&t["created_by"]),
                        s(&t["expires_at"]),
                    ]
                })
                .collect();
            print!("{}", table::print(&["ID", "NAME", "ROLE", "STATE", "CREATED BY", "EXPIRES"], &rows, &[]));
        }
        TokenCmd::Revoke { id } => {
            let t: serde_json::Value = client.delete(&format!("/api/tokens/{id}"))?;
            println!("revoked token {id} ({})", t["name"].as_str().unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}
