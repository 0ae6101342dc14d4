//! Facts about the host: the sampler (sysinfo, NVML) and its history ring,
//! processes and which service owns them, listening ports, and the identity of
//! a process (pid plus start time, to recognise our children after a restart).

pub mod children;
mod history;
mod monitor;
mod ports;
mod process;
pub mod run_as;
mod sampler;

pub use history::{FULL_RATE_SPAN, HistoryRing, MINUTE_SPAN, Point};
pub use monitor::{Monitor, Snapshot};
pub use ports::{Listener, Protocol, listeners, tcp_listener_on};
pub use process::{ProcessIdentity, group_has_live_member, process_identity};
pub use sampler::{ProcessTable, Sampler};
