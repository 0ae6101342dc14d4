//! Facts about the host, read from the kernel's tables in /proc.
//!
//! For now: who listens on which port (the supervisor's port-conflict check) and
//! the identity of a process (pid plus start time, to recognise our own children
//! after a daemon restart). Host sampling joins this crate with the API issue.

mod ports;
mod process;

pub use ports::{Listener, Protocol, listeners, tcp_listener_on};
pub use process::{ProcessIdentity, group_has_live_member, process_identity};
