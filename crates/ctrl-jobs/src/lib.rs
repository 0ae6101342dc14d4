//! Actions, jobs, schedules and backups.
//!
//! An action is a whitelisted command (or a built-in: service control, backup,
//! restore) with typed parameters; each run is a job, recorded in the store,
//! with its output captured like a service's and its progress, result and end
//! observable live. Parameters are checked by `ctrl-core` and each lands inside
//! one argv element: no shell ever reads them. Schedules run actions at cron
//! times and survive restarts.

mod backup;
mod error;
mod exec;
mod jobs;
mod output;
mod paths;
mod plan;
mod run;
pub mod scheduler;
mod schedules;
mod task;

pub use backup::{
    check_file_name, check_target, file_path, files as backup_files, targets as backup_targets,
};
pub use error::JobError;
pub use jobs::{Jobs, MAX_LOG_LINES};
pub use output::KEEP_OUTPUT;
pub use paths::resolve_inside;
pub use scheduler::{Clock, SystemClock};
pub use schedules::UPCOMING;
pub use task::{Task, TaskFuture, TaskRun};
