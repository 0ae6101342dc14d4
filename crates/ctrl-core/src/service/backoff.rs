//! Exponential backoff with jitter.

use std::time::Duration;

use crate::config::Backoff;

/// The delay before restart number `attempt` (0-based).
///
/// `initial * 2^attempt`, capped at `max`, then shortened by up to 20% using
/// `jitter` in `[0, 1)` so that services that failed together do not restart in
/// lockstep. The jitter never pushes the delay above `max`.
pub fn backoff_delay(b: &Backoff, attempt: u32, jitter: f64) -> Duration {
    let initial = b.initial.0;
    let max = b.max.0;
    let base = initial.checked_mul(1u32 << attempt.min(30)).unwrap_or(max).min(max);
    let cut = base.mul_f64(0.2 * jitter.clamp(0.0, 1.0));
    base.saturating_sub(cut)
}
