//! One file per subcommand.

pub mod backups;
pub mod chat;
pub mod check;
pub mod control;
pub mod db;
pub mod events;
pub mod hosts;
pub mod import;
pub mod jobs;
pub mod kb;
pub mod llm;
pub mod logs;
pub mod ports;
pub mod ps;
pub mod reload;
pub mod schedule;
pub mod service;
pub mod stats;
pub mod status;
pub mod token;
pub mod up;
pub mod user;
pub mod watch;
