//! One file per subcommand.

pub mod check;
pub mod control;
pub mod events;
pub mod logs;
pub mod reload;
pub mod status;
pub mod up;
