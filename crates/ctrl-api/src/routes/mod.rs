//! Handlers, one file per resource.

pub mod access;
pub mod alerts;
pub mod backups;
pub mod jobs;
pub mod root;
pub mod schedules;
pub mod services;
pub mod system;
