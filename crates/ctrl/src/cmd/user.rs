//! `ctrl user add|list|rm|passwd`: dashboard users, written straight into the
//! store, so the first admin can be made before the daemon ever ran.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ctrl_core::Role;
use ctrl_store::Store;

use crate::{locate, table};

/// `ctrl user …`.
#[derive(clap::Subcommand)]
pub enum UserCmd {
    /// Add a user (asks for the password, or reads it from stdin with --password-stdin).
    Add {
        /// Login name.
        name: String,
        /// What they may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user, end their sessions and revoke the tokens they created.
    Rm {
        /// Login name.
        name: String,
    },
    /// Set a new password (ends the user's sessions).
    Passwd {
        /// Login name.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// A role on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// Reads.
    Viewer,
    /// Also controls services.
    Operator,
    /// Also manages users and tokens.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// Runs a user subcommand against the config's store.
pub fn run(config: Option<&Path>, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let (cfg, _) = locate::load_config(config)?;
    std::fs::create_dir_all(&cfg.server.state_dir)
        .with_context(|| format!("cannot create the state dir {}", cfg.server.state_dir.display()))?;
    let url = cfg.storage.url.clone().unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let store = Store::open(&url).await?;
        let code = match cmd {
            UserCmd::Add { name, role, password_stdin } => {
                let password = read_password(password_stdin)?;
                ctrl_access::check_new_user(&name, &password).map_err(anyhow::Error::msg)?;
                let hash = ctrl_access::password::hash(&password).map_err(anyhow::Error::msg)?;
                if !store.add_user(&name, &hash, role.into()).await? {
                    bail!("a user named '{name}' exists already");
                }
                println!("added {name} ({})", Role::from(role));
                ExitCode::SUCCESS
            }
            UserCmd::List { json } => {
                let users = store.users().await?;
                if json {
                    println!("{}", serde_json::to_string(&users)?);
                } else {
                    let rows: Vec<Vec<String>> = users
                        .iter()
                        .map(|u| {
                            vec![
                                u.name.clone(),
                                u.role.to_string(),
                                u.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            ]
                        })
                        .collect();
                    print!("{}", table::print(&["NAME", "ROLE", "CREATED"], &rows, &[]));
                }
                ExitCode::SUCCESS
            }
            UserCmd::Rm { name } => {
                if !store.remove_user(&name).await? {
                    bail!("no user named '{name}'");
                }
                println!("removed {name}");
                ExitCode::SUCCESS
            }
            UserCmd::Passwd { name, password_stdin } => {
                let password = read_password(password_stdin)?;
                ctrl_access::check_new_user(&name, &password).map_err(anyhow::Error::msg)?;
                let hash = ctrl_access::password::hash(&password).map_err(anyhow::Error::msg)?;
                if !store.update_user(&name, Some(&hash), None).await? {
                    bail!("no user named '{name}'");
                }
                println!("password of {name} changed; their sessions are ended");
                ExitCode::SUCCESS
            }
        };
        store.close().await;
        Ok(code)
    })
}

/// The password from stdin's first line, or asked twice on the terminal without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    let first = ask("password: ")?;
    if ask("again: ")? != first {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off, restoring the terminal after.
fn ask(prompt: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &saved)?;
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
