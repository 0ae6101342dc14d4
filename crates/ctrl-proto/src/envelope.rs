//! The JSON envelope and the error codes every client sees.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stable machine-readable error codes; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed input.
    BadRequest,
    /// 401: no or invalid credentials.
    Unauthorized,
    /// 403: role too low.
    Forbidden,
    /// 404: no such thing.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 413: the body is larger than the daemon accepts.
    PayloadTooLarge,
    /// 429: too many attempts (logins); wait as `Retry-After` says.
    TooManyRequests,
    /// 422: well-formed but invalid.
    Validation,
    /// 500: a real fault; the message never carries internals.
    Internal,
    /// 503: the daemon cannot answer now (shutting down, overloaded, a dependency down).
    Unavailable,
    /// 503: the database is down; the daemon goes on supervising and reconnects by itself.
    StoreUnavailable,
    /// 503: the host named through the hub has no link to it now.
    HostOffline,
    /// 409: a start found the service's port held by another process (named).
    PortInUse,
    /// 422: a start failed: the command could not run, or exited before the service was up.
    StartFailed,
}

impl ErrorCode {
    /// Every code, in the order docs/errors.md lists them. A code is never
    /// renamed or removed: scripts and clients branch on it.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Validation,
        ErrorCode::TooManyRequests,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::StoreUnavailable,
        ErrorCode::HostOffline,
        ErrorCode::PortInUse,
        ErrorCode::StartFailed,
    ];

    /// The code as it appears in the envelope (`not_found`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Validation => "validation",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::HostOffline => "host_offline",
            ErrorCode::PortInUse => "port_in_use",
            ErrorCode::StartFailed => "start_failed",
        }
    }

    /// The HTTP status for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::PortInUse => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Validation | ErrorCode::StartFailed => 422,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable | ErrorCode::StoreUnavailable | ErrorCode::HostOffline => 503,
        }
    }
}

/// An error as clients see it: a human message and a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// What went wrong, in words for a person.
    pub error: String,
    /// What kind of error, for programs.
    pub code: ErrorCode,
}

impl std::error::Error for ApiError {}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, error: impl Into<String>) -> Self {
        ApiError { error: error.into(), code }
    }

    /// 404 for a service name that is not configured.
    pub fn unknown_service(name: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("no service named '{name}'"))
    }
}

/// `{"success": bool, "data"?: T, "error"?: str, "code"?: str}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope<T> {
    /// True when `data` holds the answer.
    pub success: bool,
    /// The answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// The human message of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The code of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
}

impl<T> Envelope<T> {
    /// A success.
    pub fn ok(data: T) -> Self {
        Envelope { success: true, data: Some(data), error: None, code: None }
    }

    /// A failure.
    pub fn err(e: ApiError) -> Self {
        Envelope { success: false, data: None, error: Some(e.error), code: Some(e.code) }
    }

    /// Back into a `Result`.
    pub fn into_result(self) -> Result<T, ApiError> {
        match (self.success, self.data) {
            (true, Some(d)) => Ok(d),
            _ => Err(ApiError::new(
                self.code.unwrap_or(ErrorCode::Internal),
                self.error.unwrap_or_else(|| "the daemon gave no answer".into()),
            )),
        }
    }
}

impl<T> From<Result<T, ApiError>> for Envelope<T> {
    fn from(r: Result<T, ApiError>) -> Self {
        match r {
            Ok(d) => Envelope::ok(d),
            Err(e) => Envelope::err(e),
        }
    }
}

/// The shape of every failure, `{"success": false, "error": …, "code": …}`
/// (the OpenAPI document's name for `Envelope` without data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always false.
    pub success: bool,
    /// What went wrong, in words for a person.
    pub error: String,
    /// What kind of error, for programs.
    pub code: ErrorCode,
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// The stable list: each code's text is its serde name, and docs/errors.md
    /// documents every one with its status.
    #[test]
    fn every_code_is_documented_with_its_status() {
        let doc = include_str!("../../../docs/errors.md");
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
            let row = format!("| `{}` | {} |", code.as_str(), code.http_status());
            assert!(doc.contains(&row), "docs/errors.md lacks the row {row}");
        }
    }
}
