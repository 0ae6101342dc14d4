//! The schema's migrations, embedded in the binary, one list per backend.
//!
//! Listed by hand rather than with `sqlx::migrate!`: that macro is the only reason
//! sqlx would build its drivers, TLS and SQLite a second time, for the compiler
//! (over a minute of a clean release build on two cores). A migration's checksum
//! is the same function of the same text (`Migration::new`, as the macro calls),
//! so databases migrated by earlier builds match; a test keeps the lists equal to
//! the folders.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// One migration file: its name without `.sql` (`NNNN_some_name`), its text.
type File = (&'static str, &'static str);

/// A backend's list of migration files.
pub(crate) type Files = &'static [File];

macro_rules! files {
    ($backend:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../migrations/", $backend, "/", $name, ".sql")))),*]
    };
}

/// SQLite's migrations.
pub(crate) const SQLITE: Files = files!("sqlite":
    "0001_init", "0002_auth", "0003_jobs", "0004_alerts", "0005_login_sessions", "0006_knowledge",
    "0007_llm", "0008_agent", "0009_hosts", "0010_hubs", "0011_job_processes",
);

/// PostgreSQL's migrations.
pub(crate) const POSTGRES: Files = files!("postgres":
    "0001_init", "0002_auth", "0003_jobs", "0004_alerts", "0005_login_sessions", "0006_knowledge",
    "0007_llm", "0008_agent", "0009_hosts", "0010_hubs", "0011_job_processes",
);

/// A list of files as sqlx's source of migrations.
#[derive(Debug)]
struct Embedded(Files);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move { Ok(self.0.iter().map(migration).collect()) })
    }
}

/// What sqlx makes of a file `NNNN_some_name.sql`: the number is the version,
/// the rest with spaces the description.
fn migration(&(file, sql): &File) -> Migration {
    let (number, name) = file.split_once('_').unwrap_or((file, ""));
    let version = number.parse().unwrap_or(0);
    let no_tx = sql.starts_with("-- no-transaction");
    Migration::new(
        version,
        Cow::Owned(name.replace('_', " ")),
        MigrationType::Simple,
        Cow::Borrowed(sql),
        no_tx,
    )
}

/// The migrator of `files`.
pub(crate) async fn migrator(files: Files) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(files)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists name every file of their folders, with the text sqlx would read.
    #[test]
    fn the_lists_are_the_folders() {
        for (backend, files) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
            let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .map(|p| {
                    (
                        p.file_stem().unwrap().to_string_lossy().into_owned(),
                        std::fs::read_to_string(&p).unwrap(),
                    )
                })
                .collect();
            on_disk.sort();
            let listed: Vec<(String, String)> =
                files.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect();
            assert_eq!(listed, on_disk, "{backend}: add the new file to the list in migrations.rs");
            let sqlx_view = sqlx::migrate::resolve_blocking(&dir).unwrap();
            for ((m, _), f) in sqlx_view.iter().zip(files) {
                let ours = migration(f);
                assert_eq!(
                    (ours.version, &ours.description, &ours.checksum),
                    (m.version, &m.description, &m.checksum)
                );
            }
        }
    }
}
