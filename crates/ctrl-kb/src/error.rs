//! Errors of the knowledge base, and how clients see them.

use ctrl_proto::{ApiError, ErrorCode};

use crate::query::QueryError;

/// Why a knowledge base request or scan failed.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// No file with that id (or one whose path would leave its root).
    #[error("no knowledge file {0}")]
    UnknownFile(i64),
    /// No agent of that name.
    #[error("no agent named '{0}'")]
    UnknownAgent(String),
    /// No creator with that id.
    #[error("no creator '{0}'")]
    UnknownCreator(String),
    /// The query cannot be searched.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A request parameter is out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The search index failed (its files, its writer).
    #[error("search index: {0}")]
    Index(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ctrl_store::StoreError),
    /// The job runner refused (shutting down, too many waiting).
    #[error(transparent)]
    Jobs(#[from] ctrl_jobs::JobError),
    /// Work on a blocking thread did not finish (the daemon is stopping).
    #[error("the knowledge base is stopping")]
    Stopped,
}

impl KbError {
    /// An index error, from any of tantivy's.
    pub fn index(e: impl std::fmt::Display) -> KbError {
        KbError::Index(e.to_string())
    }
}

impl From<KbError> for ApiError {
    fn from(e: KbError) -> ApiError {
        let e = match e {
            KbError::Store(s) => return s.into(),
            KbError::Jobs(j) => return j.into(),
            e => e,
        };
        let code = match &e {
            KbError::UnknownFile(_) | KbError::UnknownAgent(_) | KbError::UnknownCreator(_) => {
                ErrorCode::NotFound
            }
            KbError::Query(_) | KbError::BadRequest(_) => ErrorCode::BadRequest,
            KbError::Stopped => ErrorCode::Unavailable,
            KbError::Index(_) | KbError::Store(_) | KbError::Jobs(_) => ErrorCode::Internal,
        };
        if code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error answering a knowledge request");
            return ApiError::new(code, "internal error; see the daemon's log");
        }
        ApiError::new(code, e.to_string())
    }
}
