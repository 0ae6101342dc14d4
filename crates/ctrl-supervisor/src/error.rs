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
    /// A requested start found the service's port held by another process.
    #[error("{name} did not start: {message}")]
    PortInUse {
        /// The service.
        name: String,
        /// "port 8000 is already in use by pid 1234 (python3)".
        message: String,
        /// The service's reason as it stands.
        reason: String,
    },
    /// A requested start failed: the process could not be spawned or was gone
    /// before it was up.
    #[error("{name} did not start: {reason}{}", stderr_tail(stderr))]
    StartFailed {
        /// The service.
        name: String,
        /// Why, as the service's state says it.
        reason: String,
        /// The last lines it wrote to standard error.
        stderr: Vec<String>,
    },
}

fn stderr_tail(lines: &[String]) -> String {
    match lines {
        [] => String::new(),
        lines => format!(
            "\nlast lines of its stderr:\n{}",
            lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
        ),
    }
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
            ControlError::PortInUse { .. } => ErrorCode::PortInUse,
            ControlError::StartFailed { .. } => ErrorCode::StartFailed,
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
