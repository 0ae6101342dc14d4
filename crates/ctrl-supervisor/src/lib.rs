//! The supervisor runtime.
//!
//! One task owns each service (an actor, `actor.rs`): it holds the pure state
//! machine from `ctrl-core`, performs the effects the machine asks for (spawn,
//! signal the process group, arm timers, probe) and feeds the results back in.
//! Everyone else talks to it through [`Supervisor`], the one control layer that
//! the CLI's socket and the HTTP API both call. Transitions go out on the
//! [`EventBus`] and into the store.

mod actor;
mod bus;
mod control;
mod deps;
mod error;
pub mod group;
mod launch;
pub mod logs;
pub mod memory;
mod orphans;
mod outcome;
mod probe;
pub mod reaper;
mod reload;
mod snapshot;

pub use bus::{EventBus, StoreStats};
pub use control::{MAX_LOG_LINES, Supervisor};
pub use error::ControlError;
pub use launch::{find_executable, preflight};
pub use outcome::Started;
pub use reload::ReloadReport;
pub use snapshot::Snapshot;

/// The longest the runtime waits for anything (a config's durations are capped below it).
pub(crate) const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(400 * 24 * 3600);
