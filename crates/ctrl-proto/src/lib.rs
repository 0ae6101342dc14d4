//! The API contract shared by the daemon, its HTTP API and the CLI.
//!
//! Objects keep the field names of DESIGN.md; the envelope is the seed API's
//! `{"success": true, "data": …}` / `{"success": false, "error": …, "code": …}`.
//! The control socket speaks the same envelope, one JSON document per line.

mod control;
mod envelope;
mod objects;

pub use control::{LogStream, Request};
pub use envelope::{ApiError, Envelope, ErrorCode};
pub use objects::{LogLine, ServiceInfo};
