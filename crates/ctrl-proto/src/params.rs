//! Parameters shared by the API and the CLI.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
