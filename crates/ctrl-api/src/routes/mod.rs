//! Handlers, one file per resource, each with its `routes()`.

pub mod alerts;
pub mod backups;
pub mod jobs;
pub mod root;
pub mod schedules;
pub mod services;
pub mod system;
