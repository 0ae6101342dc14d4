//! Errors of the store, typed by what was being done.

/// A failure to open, migrate, read or write the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the database at {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The URL names a database kind this build does not have.
    #[error("storage '{0}' is not supported yet; use sqlite://PATH")]
    Unsupported(String),
    /// Applying the embedded migrations failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn open(path: &str, source: sqlx::Error) -> Self {
        StoreError::Open { path: path.to_owned(), source }
    }
}
