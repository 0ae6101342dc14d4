//! `ctrl db copy`: moves every row from one database to another, the path for
//! a user who outgrows SQLite (or moves back).

use std::process::ExitCode;

use anyhow::Context;
use ctrl_store::{Store, StoreOptions};

/// `ctrl db …`.
#[derive(clap::Subcommand)]
pub enum DbCmd {
    /// Copy every row from one database to another (ids kept), then verify the counts.
    ///
    /// Refused while a daemon runs on either, when both are one database, and into a
    /// non-empty target without --force. The target is written in one transaction:
    /// all of it or nothing.
    Copy {
        /// The database to read: sqlite://PATH or postgres://USER@HOST/DATABASE.
        #[arg(long)]
        from: String,
        /// The database to write (created and migrated when new).
        #[arg(long)]
        to: String,
        /// Replace the target's rows when it has any.
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `ctrl db` command.
pub fn run(cmd: DbCmd) -> anyhow::Result<ExitCode> {
    let DbCmd::Copy { from, to, force } = cmd;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        // Neither is migrated before the copy holds both alone, and a missing
        // source file is an error, not an empty database.
        let options = |create| StoreOptions { create, migrate: false, ..StoreOptions::default() };
        let source = Store::open_with(&from, &options(false))
            .await
            .with_context(|| format!("source {}", ctrl_store::describe(&from)))?;
        let target = Store::open_with(&to, &options(true))
            .await
            .with_context(|| format!("target {}", ctrl_store::describe(&to)))?;
        let report = source.copy_into(&target, force).await?;
        println!("copied {} -> {}", source.label(), target.label());
        println!("{report}");
        println!("verified: every table has as many rows in both");
        source.close().await;
        target.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
