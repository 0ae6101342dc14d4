//! Parameters shared by the API and the CLI.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, ErrorCode};

/// Which captured stream to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Both, in time order.
    #[default]
    All,
}

/// `?limit=` of the event lists (a service's, a host's).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// How many (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

impl EventsQuery {
    /// The limit asked for, checked (400 outside 1..=10000).
    pub fn limit(&self) -> Result<u32, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=10_000).contains(&limit) {
            return Err(ApiError::new(ErrorCode::BadRequest, "limit must be between 1 and 10000"));
        }
        Ok(limit)
    }
}
