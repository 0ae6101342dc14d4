//! Login rate limiting, per client address and per user name, with growing delays.
//!
//! Three failures are free; after that each further attempt must wait 1 s, 2 s,
//! 4 s … (at most 5 minutes) after the last failure, or gets 429. A success clears
//! the counts of its address and name. Unknown names are counted like known ones,
//! so the limiter says nothing about which names exist.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FREE: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Entries idle this long are forgotten when the table grows.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
const PRUNE_AT: usize = 10_000;

/// Failure counts by key (`ip:…`, `user:…`).
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// `Err(wait)` when any of `keys` must still wait before another attempt.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| map.get(k))
            .filter_map(|(n, last)| (*last + wait_after(*n)).checked_duration_since(now))
            .max();
        match wait {
            Some(w) if !w.is_zero() => Err(w),
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt against every key.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_AT {
            map.retain(|_, (_, last)| now.duration_since(*last) < FORGET_AFTER);
        }
        for k in keys {
            let e = map.entry(k.clone()).or_insert((0, now));
            e.0 = e.0.saturating_add(1);
            e.1 = now;
        }
    }

    /// Clears the keys after a success.
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            map.remove(k);
        }
    }
}

/// The wait after `n` failures.
fn wait_after(n: u32) -> Duration {
    if n < FREE {
        return Duration::ZERO;
    }
    Duration::from_secs(1u64 << (n - FREE).min(9)).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_three_failures_and_a_success_clears_them() {
        let l = LoginLimiter::default();
        let keys = vec!["ip:1.2.3.4".to_string(), "user:ann".to_string()];
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(&keys, t0), Ok(()));
            l.failed(&keys, t0);
        }
        assert_eq!(l.check(&keys, t0), Err(Duration::from_secs(1)));
        assert_eq!(l.check(&keys, t0 + Duration::from_secs(1)), Ok(()));
        l.failed(&keys, t0 + Duration::from_secs(1));
        assert_eq!(l.check(&keys, t0 + Duration::from_secs(1)), Err(Duration::from_secs(2)));
        // Another address trying the same user waits too.
        assert!(l.check(&["ip:5.6.7.8".into(), "user:ann".into()], t0 + Duration::from_secs(2)).is_err());
        l.succeeded(&keys);
        assert_eq!(l.check(&keys, t0 + Duration::from_secs(1)), Ok(()));
        assert_eq!(wait_after(100), MAX_WAIT.min(Duration::from_secs(512)));
    }
}
