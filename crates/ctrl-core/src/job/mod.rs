//! Jobs: one run of an action (or a schedule, or an index scan) and the rules
//! around it that need no I/O: checking parameters, building the argv from its
//! template, reading progress markers from output, job states, which backups
//! retention removes, and when a schedule is due.

mod marker;
mod params;
mod retention;
mod schedule;
mod status;
mod template;

pub use marker::{Marker, parse_marker};
pub use params::{Arg, check_params, check_value, lexical_relative};
pub use retention::expired;
pub use schedule::{Due, Schedule};
pub use status::JobStatus;
pub use template::Template;
