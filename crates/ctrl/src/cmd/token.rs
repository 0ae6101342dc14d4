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
            let t = client.call(|api| api.create_token(&name, role.as_str(), expires.as_deref()))?;
            if json {
                println!("{}", serde_json::to_string(&t)?);
            } else {
                println!("{}", t.token.as_deref().unwrap_or_default());
                eprintln!("token {} ({role}) created with id {}; it is not shown again", name, t.id);
            }
        }
        TokenCmd::List { json } => {
            let list = client.call(|api| api.tokens())?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let time =
                |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|t| {
                    let state = if t.revoked_at.is_some() { "revoked" } else { "active" };
                    vec![
                        t.id.to_string(),
                        t.name.clone(),
                        t.role.to_string(),
                        state.into(),
                        t.created_by.clone().unwrap_or_else(|| "-".into()),
                        t.expires_at.map(time).unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print!("{}", table::print(&["ID", "NAME", "ROLE", "STATE", "CREATED BY", "EXPIRES"], &rows, &[]));
        }
        TokenCmd::Revoke { id } => {
            let t = client.call(|api| api.revoke_token(id))?;
            println!("revoked token {id} ({})", t.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
