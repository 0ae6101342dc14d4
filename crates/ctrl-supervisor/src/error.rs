//! Errors of the control layer, and the one place they become API errors.

use ctrl_core::service::Refusal;
use ctrl_proto::{ApiError, ErrorCode};

/// Why a control request did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No service of that name is configured.
    #[error("no service named '{0}'")]
    UnknownService(String),
    /// The request does not apply in the service's current state.
    #[error("{name}: {refusal}")]
    Refused {
        /// The service.
        name: String,
        /// Why.
        refusal: Refusal,
    },
    /// The new config is invalid; nothing was changed.
    #[error("{0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ctrl_store::StoreError),
    /// The service's task is gone (the daemon is shutting down).
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// Reading a log file failed.
    #[error("cannot read the logs of {0}: {1}")]
    Logs(String, std::io::Error),
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        let e = match e {
            ControlError::Store(e) => return e.into(),
            e => e,
        };
        let code = match &e {
            ControlError::UnknownService(_) => ErrorCode::NotFound,
            ControlError::Refused { .. } => ErrorCode::Conflict,
            ControlError::Config(_) => ErrorCode::Validation,
            ControlError::ShuttingDown => ErrorCode::Unavailable,
            ControlError::Store(_) | ControlError::Logs(..) => ErrorCode::Internal,
        };
        if code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error answering a control request");
            return ApiError::new(code, "internal error; see the daemon's log");
        }
        ApiError::new(code, e.to_string())
    }
}
