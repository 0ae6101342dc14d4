//! One pool over either database, and queries written once for both.
//!
//! sqlx's SQLite and PostgreSQL drivers both take `$N` placeholders, and the two
//! schemas (`migrations/sqlite`, `migrations/postgres`) give every column a type
//! that decodes to the same Rust type on both. So a repository function is one
//! SQL text: its arguments are collected as [`Arg`] values and bound to the
//! native driver of the pool at hand, and its rows are read through [`Row::get`].
//! sqlx's own `Any` driver is not used: it lacks the time types and emits `?`
//! placeholders that PostgreSQL rejects.

use std::borrow::Cow;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{Decode, PgPool, Postgres, Sqlite, SqlitePool, Type};

use crate::StoreError;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The connection pool of one backend.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction; it rolls back unless committed.
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

/// An open transaction on either backend.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// A bound argument, kept until the query knows its backend.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Int32(Option<i32>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
}

macro_rules! arg_from {
    ($variant:ident, $t:ty, $conv:expr) => {
        impl From<$t> for Arg {
            fn from(v: $t) -> Arg {
                Arg::$variant(Some($conv(v)))
            }
        }
        impl From<Option<$t>> for Arg {
            fn from(v: Option<$t>) -> Arg {
                Arg::$variant(v.map($conv))
            }
        }
    };
}
arg_from!(Int, i64, |v| v);
arg_from!(Int32, i32, |v| v);
arg_from!(Float, f64, |v| v);
arg_from!(Bool, bool, |v| v);
// Microseconds, as PostgreSQL keeps them: both backends store the same instant.
arg_from!(Time, DateTime<Utc>, |v: DateTime<Utc>| v.trunc_subsecs(6));
arg_from!(Text, String, |v| v);
arg_from!(Text, &str, |v: &str| v.to_owned());
arg_from!(Text, &String, |v: &String| v.clone());

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}

/// Binds every argument to a native query of either driver.
macro_rules! bind_all {
    ($sql:expr, $args:expr) => {{
        let mut q = sqlx::query($sql);
        for a in $args {
            q = match a {
                Arg::Int(v) => q.bind(v),
                Arg::Int32(v) => q.bind(v),
                Arg::Float(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Runs one statement on a pool or inside a transaction: `$out` is the driver's
/// answer and `$wrap` makes a [`Row`] of one of its rows.
macro_rules! run {
    ($self:ident, $on:expr, $method:ident, |$out:ident, $wrap:ident| $post:expr) => {{
        let sql: &str = &$self.sql;
        let args = $self.args;
        match $on.into() {
            On::Pool(Pool::Sqlite(p)) => {
                let ($out, $wrap) = (bind_all!(sql, args).$method(p).await?, Row::Sqlite);
                $post
            }
            On::Pool(Pool::Postgres(p)) => {
                let ($out, $wrap) = (bind_all!(sql, args).$method(p).await?, Row::Postgres);
                $post
            }
            On::Tx(Tx::Sqlite(t)) => {
                let ($out, $wrap) = (bind_all!(sql, args).$method(&mut **t).await?, Row::Sqlite);
                $post
            }
            On::Tx(Tx::Postgres(t)) => {
                let ($out, $wrap) = (bind_all!(sql, args).$method(&mut **t).await?, Row::Postgres);
                $post
            }
        }
    }};
}

/// Where a statement runs: the pool (a connection of its own) or an open transaction.
pub(crate) enum On<'a> {
    Pool(&'a Pool),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Pool> for On<'a> {
    fn from(p: &'a Pool) -> On<'a> {
        On::Pool(p)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(t: &'a mut Tx) -> On<'a> {
        On::Tx(t)
    }
}

/// One SQL statement with `$N` placeholders and its arguments.
pub(crate) struct Query<'s> {
    sql: Cow<'s, str>,
    args: Vec<Arg>,
}

/// A statement to run on either backend.
pub(crate) fn query<'s>(sql: impl Into<Cow<'s, str>>) -> Query<'s> {
    Query { sql: sql.into(), args: Vec::new() }
}

impl Query<'_> {
    /// Adds the next argument (`$1`, `$2`, … in order).
    pub(crate) fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Runs it; returns how many rows it changed.
    pub(crate) async fn execute<'a>(self, on: impl Into<On<'a>>) -> Result<u64, StoreError> {
        Ok(run!(self, on, execute, |done, _wrap| done.rows_affected()))
    }

    /// Runs it; returns every row.
    pub(crate) async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<Row>, StoreError> {
        Ok(run!(self, on, fetch_all, |rows, wrap| rows.into_iter().map(wrap).collect()))
    }

    /// Runs it; returns the first row, if any.
    pub(crate) async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> Result<Option<Row>, StoreError> {
        Ok(run!(self, on, fetch_optional, |row, wrap| row.map(wrap)))
    }

    /// Runs it; returns the one row it must give.
    pub(crate) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<Row, StoreError> {
        Ok(run!(self, on, fetch_one, |row, wrap| wrap(row)))
    }
}

/// The `VALUES` of a multi-row statement: `($1, $2), ($3, $4)` for 2 rows of 2.
pub(crate) fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value that decodes from a column of either backend.
pub(crate) trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A row of either backend.
pub(crate) enum Row {
    Sqlite(sqlx::sqlite::SqliteRow),
    Postgres(sqlx::postgres::PgRow),
}

impl Row {
    /// The value of the column named `col`.
    pub(crate) fn get<T: Column>(&self, col: &str) -> Result<T, StoreError> {
        use sqlx::Row as _;
        Ok(match self {
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Postgres(r) => r.try_get(col)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
