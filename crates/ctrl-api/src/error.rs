//! The one place errors become the API envelope, and the extractors whose
//! rejections do too: every bad path, query or body gets `{"success": false, …}`
//! with a 4xx, never axum's plain-text rejection.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctrl_proto::{ApiError, Envelope, ErrorCode};

/// An error on its way to the client.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl Failure {
    /// A failure with this code and message.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Failure {
        Failure(ApiError::new(code, msg))
    }

    /// 400 with a message.
    pub fn bad_request(msg: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::BadRequest, msg)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure(e)
    }
}

impl From<ctrl_supervisor::ControlError> for Failure {
    fn from(e: ctrl_supervisor::ControlError) -> Failure {
        Failure(e.into())
    }
}

impl From<ctrl_jobs::JobError> for Failure {
    fn from(e: ctrl_jobs::JobError) -> Failure {
        Failure(e.into())
    }
}

/// A store failure: 503 `store_unavailable` during an outage, else a 500 without internals.
impl From<ctrl_store::StoreError> for Failure {
    fn from(e: ctrl_store::StoreError) -> Failure {
        Failure(e.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(Envelope::<()>::err(self.0))).into_response()
    }
}

impl From<PathRejection> for Failure {
    fn from(r: PathRejection) -> Failure {
        Failure::bad_request(format!("bad path: {}", r.body_text()))
    }
}

impl From<QueryRejection> for Failure {
    fn from(r: QueryRejection) -> Failure {
        Failure::bad_request(format!("bad query: {}", r.body_text()))
    }
}

impl From<JsonRejection> for Failure {
    fn from(r: JsonRejection) -> Failure {
        let code = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::Validation,
            _ => ErrorCode::BadRequest,
        };
        Failure::new(code, format!("bad body: {}", r.body_text()))
    }
}

/// `axum::Json` as an extractor with an enveloped rejection.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(Failure))]
pub struct Body<T>(pub T);

/// `axum::extract::Query` with an enveloped rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Failure))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with an enveloped rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Failure))]
pub struct Path<T>(pub T);

/// The result of a JSON handler.
pub type ApiResult<T> = Result<Json<Envelope<T>>, Failure>;

/// A success answer.
pub fn ok<T>(data: T) -> ApiResult<T> {
    Ok(Json(Envelope::ok(data)))
}

/// 404 for paths that match no route.
pub async fn no_route() -> Failure {
    Failure::new(ErrorCode::NotFound, "no such path")
}

/// 405 for a known path with another method.
pub async fn wrong_method() -> Failure {
    Failure::new(ErrorCode::MethodNotAllowed, "this path does not take that method")
}
