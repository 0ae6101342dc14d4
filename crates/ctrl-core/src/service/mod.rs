//! The service state machine: states, inputs, effects, backoff and the start limit.

mod backoff;
mod machine;
mod status;

pub use backoff::backoff_delay;
pub use machine::{Effect, Input, Machine, Outcome, Refusal, Transition};
pub use status::{Health, PortHolder, ServiceView, Status};

#[cfg(test)]
mod tests;
