//! The pure domain core of Control Center.
//!
//! Everything here is computation without I/O: the configuration model and its
//! validation, the service state machine with its backoff and start limit, and the
//! events that describe what happened. Time and randomness are passed in, so every
//! rule is tested with plain unit tests; the runtime crates do the acting.

pub mod alert;
pub mod config;
pub mod event;
pub mod hex;
pub mod job;
pub mod role;
pub mod service;
pub mod yaml;

pub use config::{Config, ConfigError, ConfigErrors};
pub use event::ServiceEvent;
pub use job::JobStatus;
pub use role::Role;
pub use service::{Health, Status};
