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

/// Every error that knows its API shape (`ControlError`, `JobError`,
/// `StoreError`, `ApiError` itself, …) becomes a failure with `?`; each crate
/// maps its own errors to codes, in one place.
impl<E: Into<ApiError>> From<E> for Failure {
    fn from(e: E) -> Failure {
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

/// Why an extractor refused a request: answered as the envelope, like any failure.
#[derive(Debug)]
pub struct BadInput(Failure);

impl IntoResponse for BadInput {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl From<PathRejection> for BadInput {
    fn from(r: PathRejection) -> BadInput {
        BadInput(Failure::bad_request(format!("bad path: {}", r.body_text())))
    }
}

impl From<QueryRejection> for BadInput {
    fn from(r: QueryRejection) -> BadInput {
        BadInput(Failure::bad_request(format!("bad query: {}", r.body_text())))
    }
}

impl From<JsonRejection> for BadInput {
    fn from(r: JsonRejection) -> BadInput {
        let code = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::Validation,
            _ => ErrorCode::BadRequest,
        };
        BadInput(Failure::new(code, format!("bad body: {}", r.body_text())))
    }
}

/// A JSON object body (every body of this API is one), as an extractor with an
/// enveloped rejection. An array is refused before decoding: serde would take
/// `[null, null]` for a struct whose fields are all optional.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = BadInput;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Body<T>, BadInput> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
            });
        if !json {
            return Err(BadInput(Failure::new(
                ErrorCode::BadRequest,
                "bad body: expected a request with `Content-Type: application/json`",
            )));
        }
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|r| {
            let code = match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
                _ => ErrorCode::BadRequest,
            };
            BadInput(Failure::new(code, format!("bad body: {}", r.body_text())))
        })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(BadInput(Failure::new(ErrorCode::Validation, "bad body: expected a JSON object")));
        }
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Body(v))
    }
}

/// `axum::extract::Query` with an enveloped rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(BadInput))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with an enveloped rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(BadInput))]
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
