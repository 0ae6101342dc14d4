//! Errors of the gateway's OpenAI routes, in OpenAI's shape
//! (`{"error": {"message", "type", "param", "code"}}`), which SDKs turn into
//! their own exceptions; and of its `/api/llm` routes, as the API envelope.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ctrl_proto::ErrorCode;
use ctrl_web::Failure;
use serde_json::json;

/// An error answered on `/v1`, `/chat` and `/test`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
    /// OpenAI's `type`.
    pub kind: &'static str,
    /// OpenAI's `code`.
    pub code: Option<&'static str>,
    /// The request field at fault.
    pub param: Option<&'static str>,
    /// When to try again.
    pub retry_after: Option<Duration>,
    /// Whether a retry cannot help (OpenAI's SDKs retry 429s unless told not to).
    pub final_answer: bool,
}

impl OpenAiError {
    fn new(status: StatusCode, kind: &'static str, code: Option<&'static str>, message: String) -> Self {
        OpenAiError { status, message, kind, code, param: None, retry_after: None, final_answer: false }
    }

    /// 400: the body is wrong.
    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> Self {
        OpenAiError {
            param,
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", None, message.into())
        }
    }

    /// 401: no key, or a key that is unknown or revoked.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", Some("invalid_api_key"), message.into())
    }

    /// 403: the key or role may not do this.
    pub fn forbidden(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_error", Some(code), message.into())
    }

    /// 404: no upstream serves the model.
    pub fn unknown_model(model: &str) -> Self {
        OpenAiError {
            param: Some("model"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("model_not_found"),
                format!("the model '{model}' does not exist: no upstream in [llm.upstreams] serves it"),
            )
        }
    }

    /// 413: the body is over `max_body`.
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            Some("request_too_large"),
            format!("the request body is over {limit} bytes ([llm] max_body)"),
        )
    }

    /// 429: the key's budget is spent.
    pub fn out_of_budget(message: String) -> Self {
        OpenAiError {
            final_answer: true,
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                Some("insufficient_quota"),
                message,
            )
        }
    }

    /// 429: every upstream asked to wait.
    pub fn rate_limited(message: String, retry_after: Option<Duration>) -> Self {
        OpenAiError {
            retry_after,
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
                message,
            )
        }
    }

    /// 502/503/504: no upstream could answer.
    pub fn upstream(status: StatusCode, message: String, retry_after: Option<Duration>) -> Self {
        OpenAiError { retry_after, ..Self::new(status, "upstream_error", Some("upstream_failed"), message) }
    }

    /// 404: no gateway configured.
    pub fn not_configured() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("not_configured"),
            "no LLM gateway here: add an [llm] section with an upstream to ctrl.toml".into(),
        )
    }

    /// The same error with another status.
    pub fn with_status(self, status: StatusCode) -> Self {
        OpenAiError { status, ..self }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }

    /// The same error as an in-band event of a stream that already began.
    pub fn event(message: &str, code: &'static str) -> bytes::Bytes {
        let body =
            json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": code}});
        bytes::Bytes::from(format!("data: {body}\n\n"))
    }
}

impl From<Failure> for OpenAiError {
    /// An access failure (a bad token, a role too low, the store down) in OpenAI's shape.
    fn from(f: Failure) -> Self {
        let message = f.0.error;
        match f.0.code {
            ErrorCode::Unauthorized => OpenAiError::unauthorized(message),
            ErrorCode::Forbidden => OpenAiError::forbidden(message, "role_too_low"),
            code => OpenAiError::new(
                StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "server_error",
                None,
                message,
            ),
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if self.final_answer {
            res.headers_mut().insert("x-should-retry", HeaderValue::from_static("false"));
        }
        if let Some(d) = self.retry_after {
            let secs = d.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

/// Errors of the `/api/llm` routes.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] ctrl_store::StoreError),
    /// `[llm]` cannot be used as written.
    #[error("{0}")]
    Config(String),
    /// No such thing (a key).
    #[error("{0}")]
    NotFound(String),
    /// A request the gateway refuses.
    #[error("{0}")]
    Invalid(String),
    /// A name already taken.
    #[error("{0}")]
    Conflict(String),
}

impl From<LlmError> for ctrl_proto::ApiError {
    fn from(e: LlmError) -> ctrl_proto::ApiError {
        use ctrl_proto::ApiError;
        match e {
            LlmError::Store(s) => s.into(),
            LlmError::Config(m) => ApiError::new(ErrorCode::Internal, m),
            LlmError::NotFound(m) => ApiError::new(ErrorCode::NotFound, m),
            LlmError::Invalid(m) => ApiError::new(ErrorCode::Validation, m),
            LlmError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
        }
    }
}
