//! Errors of the job runner, and how clients see them.

use ctrl_proto::{ApiError, ErrorCode};

/// Why a request about actions, jobs or schedules failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No action of that name is configured.
    #[error("no action named '{0}'")]
    UnknownAction(String),
    /// No job with that id.
    #[error("no job {0}")]
    UnknownJob(i64),
    /// No schedule of that name.
    #[error("no schedule named '{0}'")]
    UnknownSchedule(String),
    /// The parameters (or another input) are invalid; every problem is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The action asks for confirmation and the request did not give it.
    #[error("'{0}' asks for confirmation: send \"confirm\": true")]
    NeedsConfirmation(String),
    /// The request conflicts with the current state (a finished job, a taken name).
    #[error("{0}")]
    Conflict(String),
    /// The daemon is shutting down and takes no new jobs.
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ctrl_store::StoreError),
    /// Reading a job's output failed.
    #[error("cannot read the output of job {0}: {1}")]
    Logs(i64, std::io::Error),
}

impl JobError {
    /// One invalid input.
    pub fn invalid(msg: impl Into<String>) -> JobError {
        JobError::Invalid(vec![msg.into()])
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> ApiError {
        let e = match e {
            JobError::Store(e) => return e.into(),
            e => e,
        };
        let code = match &e {
            JobError::UnknownAction(_) | JobError::UnknownJob(_) | JobError::UnknownSchedule(_) => {
                ErrorCode::NotFound
            }
            JobError::Invalid(_) | JobError::NeedsConfirmation(_) => ErrorCode::Validation,
            JobError::Conflict(_) => ErrorCode::Conflict,
            JobError::ShuttingDown => ErrorCode::Unavailable,
            JobError::Store(_) | JobError::Logs(..) => ErrorCode::Internal,
        };
        if code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error answering a jobs request");
            return ApiError::new(code, "internal error; see the daemon's log");
        }
        ApiError::new(code, e.to_string())
    }
}
