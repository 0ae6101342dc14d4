//! Handlers, one file per resource.

pub mod access;
pub mod root;
pub mod services;
pub mod system;
