//! Moving every row from one store to another (`ctrl db copy`): the path for a
//! user who outgrows SQLite.
//!
//! The target is written in one transaction: it ends with every table copied
//! and its count verified, or with nothing changed. Ids are kept, and the
//! target's id sequences are moved past them so that new rows do not collide.

use std::fmt;

use crate::db::{self, Arg, Backend, On, Row, Tx};
use crate::{Store, StoreError};

/// What type a column holds, to read it from one backend and bind it to the other.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Int32,
    Float,
    Bool,
    Text,
    Time,
}

use Kind::{Bool, Float, Int, Int32, Text, Time};

/// A table to copy: its name, its key (for paging, in order), and its columns.
struct Table {
    name: &'static str,
    key: &'static str,
    columns: &'static [(&'static str, Kind)],
}

/// Every table of the schema, parents before children (foreign keys).
/// A test checks this against the migrated schema of both backends.
const TABLES: &[Table] = &[
    Table {
        name: "services",
        key: "id",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("status", Text),
            ("port", Int),
            ("pid", Int),
            ("command", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("pid_start", Int),
            ("restarts", Int),
        ],
    },
    Table {
        name: "service_events",
        key: "id",
        columns: &[
            ("id", Int),
            ("service", Text),
            ("from_state", Text),
            ("to_state", Text),
            ("pid", Int),
            ("exit_code", Int32),
            ("signal", Text),
            ("reason", Text),
            ("at", Time),
        ],
    },
    Table {
        name: "agents",
        key: "id",
        columns: &[("id", Int), ("name", Text), ("level", Text), ("category", Text), ("created_at", Time)],
    },
    Table {
        name: "knowledge_files",
        key: "id",
        columns: &[
            ("id", Int),
            ("agent_id", Int),
            ("file_path", Text),
            ("confidence", Float),
            ("created_at", Time),
            ("root", Text),
            ("title", Text),
            ("category", Text),
            ("creator", Text),
            ("tags", Text),
            ("front_matter", Text),
            ("bytes", Int),
            ("mtime_ns", Int),
            ("sha256", Text),
            ("problem", Text),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "api_usage",
        key: "id",
        columns: &[
            ("id", Int),
            ("service", Text),
            ("cost", Float),
            ("calls", Int),
            ("date", Text),
            ("model", Text),
            ("key_id", Int),
            ("prompt_tokens", Int),
            ("completion_tokens", Int),
            ("cached", Int),
            ("estimated", Int),
        ],
    },
    Table {
        name: "llm_keys",
        key: "id",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("hash", Text),
            ("prefix", Text),
            ("models", Text),
            ("budget", Float),
            ("period", Text),
            ("created_at", Time),
            ("revoked_at", Time),
        ],
    },
    Table {
        name: "llm_interactions",
        key: "id",
        columns: &[
            ("id", Int),
            ("at", Time),
            ("endpoint", Text),
            ("model", Text),
            ("upstream", Text),
            ("service", Text),
            ("key_id", Int),
            ("stream", Bool),
            ("request", Text),
            ("response", Text),
            ("status", Int32),
            ("processing_ms", Float),
            ("ttfb_ms", Float),
            ("prompt_tokens", Int),
            ("completion_tokens", Int),
            ("cost", Float),
            ("cached", Bool),
            ("estimated", Bool),
            ("error", Text),
            ("attempts", Text),
        ],
    },
    Table {
        name: "job_history",
        key: "id",
        columns: &[
            ("id", Int),
            ("job_type", Text),
            ("status", Text),
            ("started_at", Time),
            ("completed_at", Time),
            ("result", Text),
            ("action", Text),
            ("params", Text),
            ("triggered_by", Text),
            ("created_at", Time),
            ("exit_code", Int32),
            ("signal", Text),
            ("progress", Float),
            ("progress_label", Text),
            ("error", Text),
            ("pid", Int),
            ("pid_start", Int),
        ],
    },
    Table {
        name: "users",
        key: "name",
        columns: &[
            ("name", Text),
            ("password_hash", Text),
            ("role", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "api_tokens",
        key: "id",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("token_hash", Text),
            ("role", Text),
            ("created_by", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("revoked_at", Time),
            ("last_used_at", Time),
        ],
    },
    Table {
        name: "login_sessions",
        key: "id_hash",
        columns: &[
            ("id_hash", Text),
            ("user_name", Text),
            ("csrf_token", Text),
            ("address", Text),
            ("created_at", Time),
            ("last_seen_at", Time),
            ("expires_at", Time),
        ],
    },
    Table {
        name: "audit_log",
        key: "id",
        columns: &[
            ("id", Int),
            ("at", Time),
            ("actor", Text),
            ("action", Text),
            ("target", Text),
            ("address", Text),
            ("result", Text),
            ("detail", Text),
        ],
    },
    Table {
        name: "schedules",
        key: "name",
        columns: &[
            ("name", Text),
            ("action", Text),
            ("cron", Text),
            ("timezone", Text),
            ("missed", Text),
            ("params", Text),
            ("enabled", Bool),
            ("source", Text),
            ("next_run_at", Time),
            ("last_run_at", Time),
            ("last_job_id", Int),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "alerts",
        key: "id",
        columns: &[
            ("id", Int),
            ("at", Time),
            ("rule", Text),
            ("kind", Text),
            ("subject", Text),
            ("state", Text),
            ("message", Text),
            ("deliveries", Text),
        ],
    },
    Table {
        name: "agent_sessions",
        key: "id",
        columns: &[
            ("id", Int),
            ("title", Text),
            ("status", Text),
            ("model", Text),
            ("system_prompt", Text),
            ("owner", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "agent_messages",
        key: "id",
        columns: &[
            ("id", Int),
            ("session_id", Int),
            ("idx", Int),
            ("role", Text),
            ("message", Text),
            ("at", Time),
        ],
    },
    Table {
        name: "agent_events",
        key: "id",
        columns: &[
            ("id", Int),
            ("session_id", Int),
            ("seq", Int),
            ("type", Text),
            ("data", Text),
            ("at", Time),
        ],
    },
    Table {
        name: "hosts",
        key: "id",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("public_key", Text),
            ("enroll_hash", Text),
            ("enroll_expires_at", Time),
            ("created_at", Time),
            ("enrolled_at", Time),
            ("last_seen", Time),
            ("version", Text),
            ("address", Text),
            ("boot", Text),
            ("seq", Int),
            ("hub", Text),
            ("lease_until", Time),
        ],
    },
    Table {
        name: "host_events",
        key: "id",
        columns: &[
            ("id", Int),
            ("host", Text),
            ("boot", Text),
            ("seq", Int),
            ("kind", Text),
            ("data", Text),
            ("at", Time),
        ],
    },
    Table {
        name: "hubs",
        key: "id",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("address", Text),
            ("public_key", Text),
            ("cert_sha256", Text),
            ("seen_at", Time),
        ],
    },
];

/// Rows read and written per statement: well under both backends' limits on
/// bound parameters (SQLite 32766, PostgreSQL 65535) for the widest table.
const PAGE: usize = 500;

/// Why a copy did not happen; nothing was written to the target.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A daemon holds the source or the target (`ctrl up` is running on it).
    #[error("the {0} database {1} is in use by a running ctrl daemon; stop it first")]
    InUse(&'static str, String),
    /// Source and target are the same database.
    #[error("the source and the target are the same database ({0})")]
    SameDatabase(String),
    /// The target has rows and `--force` was not given.
    #[error("the target is not empty ({0}); pass --force to replace its contents")]
    TargetNotEmpty(String),
    /// After the copy a table's count differed from the source's (rolled back).
    #[error("table {table}: {copied} rows copied but the source has {source_rows}; nothing was written")]
    Mismatch {
        /// The table.
        table: &'static str,
        /// Rows in the target.
        copied: i64,
        /// Rows in the source.
        source_rows: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One table's row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: &'static str,
    /// Its rows.
    pub rows: i64,
}

/// What a copy moved, per table (verified equal in both databases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Rows per table, in copy order.
    pub tables: Vec<TableCount>,
}

impl fmt::Display for CopyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            writeln!(f, "{:<16} {:>10}", t.table, t.rows)?;
        }
        write!(f, "{:<16} {:>10}", "total", self.tables.iter().map(|t| t.rows).sum::<i64>())
    }
}

impl Store {
    /// Rows per table, in copy order.
    pub async fn counts(&self) -> Result<Vec<TableCount>, StoreError> {
        let mut out = Vec::new();
        for t in TABLES {
            out.push(TableCount { table: t.name, rows: count(&self.pool, t).await? });
        }
        Ok(out)
    }

    /// Copies every row of this store into `target`, replacing its contents when
    /// `force`. Refused while a daemon holds either database, and when both are one.
    pub async fn copy_into(&self, target: &Store, force: bool) -> Result<CopyReport, CopyError> {
        let Some(source_hold) = self.hold_alone().await? else {
            return Err(CopyError::InUse("source", self.label.to_string()));
        };
        let Some(target_hold) = target.hold_alone().await? else {
            // Held by someone: this very copy (the same database), or a daemon.
            source_hold.release().await;
            return Err(match target.hold_alone().await? {
                Some(_) => CopyError::SameDatabase(target.label.to_string()),
                None => CopyError::InUse("target", target.label.to_string()),
            });
        };
        // Held alone: bringing either schema up to date disturbs nobody.
        self.migrate().await?;
        target.migrate().await?;
        let present: Vec<String> = target
            .counts()
            .await?
            .iter()
            .filter(|c| c.rows > 0)
            .map(|c| format!("{}: {}", c.table, c.rows))
            .collect();
        if !present.is_empty() && !force {
            return Err(CopyError::TargetNotEmpty(present.join(", ")));
        }
        let mut read = self.pool.begin().await?;
        if self.backend() == Backend::Postgres {
            // One snapshot for every table: counts and rows agree.
            db::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut read)
                .await?;
        }
        let mut write = target.pool.begin().await?;
        for t in TABLES.iter().rev() {
            db::query(format!("DELETE FROM {}", t.name)).execute(&mut write).await?;
        }
        let mut report = CopyReport { tables: Vec::new() };
        for t in TABLES {
            let source_rows = count(&mut read, t).await?;
            copy_table(&mut read, &mut write, t).await?;
            let copied = count(&mut write, t).await?;
            if copied != source_rows {
                return Err(CopyError::Mismatch { table: t.name, copied, source_rows });
            }
            if target.backend() == Backend::Postgres && t.key == "id" {
                // Identity columns continue after the largest copied id.
                db::query(format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}",
                    t.name
                ))
                .execute(&mut write)
                .await?;
            }
            report.tables.push(TableCount { table: t.name, rows: copied });
        }
        write.commit().await?;
        target_hold.release().await;
        source_hold.release().await;
        Ok(report)
    }
}

async fn count<'a>(on: impl Into<On<'a>>, t: &Table) -> Result<i64, StoreError> {
    db::query(format!("SELECT COUNT(*) AS n FROM {}", t.name)).fetch_one(on).await?.get("n")
}

/// Copies one table page by page, in key order.
async fn copy_table(read: &mut Tx, write: &mut Tx, t: &Table) -> Result<(), StoreError> {
    let columns: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    let list = columns.join(", ");
    let key_kind = t.columns.iter().find(|(c, _)| *c == t.key).map_or(Text, |(_, k)| *k);
    let mut after: Option<Arg> = None;
    loop {
        let since = if after.is_some() { format!("WHERE {} > $1", t.key) } else { String::new() };
        let mut select =
            db::query(format!("SELECT {list} FROM {} {since} ORDER BY {} LIMIT {PAGE}", t.name, t.key));
        if let Some(last) = after.take() {
            select = select.bind(last);
        }
        let page = select.fetch_all(&mut *read).await?;
        let Some(last) = page.last() else { return Ok(()) };
        after = Some(value(last, t.key, key_kind)?);
        let values = db::placeholders(page.len(), t.columns.len());
        let mut insert = db::query(format!("INSERT INTO {} ({list}) VALUES {values}", t.name));
        for row in &page {
            for (c, kind) in t.columns {
                insert = insert.bind(value(row, c, *kind)?);
            }
        }
        insert.execute(&mut *write).await?;
        if page.len() < PAGE {
            return Ok(());
        }
    }
}

/// One column of a row as an argument for the other backend.
fn value(row: &Row, col: &str, kind: Kind) -> Result<Arg, StoreError> {
    Ok(match kind {
        Int => Arg::Int(row.get(col)?),
        Int32 => Arg::Int32(row.get(col)?),
        Float => Arg::Float(row.get(col)?),
        Bool => Arg::Bool(row.get(col)?),
        Text => Arg::Text(row.get(col)?),
        Time => Arg::Time(row.get(col)?),
    })
}

#[cfg(test)]
mod tests {
    use super::TABLES;
    use crate::{Store, db, testing};

    /// The tables and columns the migrations made, by name, sorted.
    async fn schema(store: &Store, sql: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for row in db::query(sql).fetch_all(&store.pool).await.unwrap() {
            out.push((row.get::<String>("t").unwrap(), row.get::<String>("c").unwrap()));
        }
        out.sort();
        out
    }

    fn listed() -> Vec<(String, String)> {
        let mut out: Vec<_> = TABLES
            .iter()
            .flat_map(|t| t.columns.iter().map(|(c, _)| (t.name.to_owned(), (*c).to_owned())))
            .collect();
        out.sort();
        out
    }

    /// A migration that adds a table or a column must add it to the copy too.
    #[tokio::test]
    async fn the_copy_covers_every_column_of_both_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open(&testing::sqlite(dir.path())).await.unwrap();
        let columns = schema(
            &sqlite,
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
        )
        .await;
        assert_eq!(columns, listed());
        let postgres = Store::open(&testing::postgres().await).await.unwrap();
        let columns = schema(
            &postgres,
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
        )
        .await;
        assert_eq!(columns, listed());
    }
}
