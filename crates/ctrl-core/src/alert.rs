//! Alert rules without I/O: which service events are trouble, deduplication
//! (a crash loop is one alert and one recovery), and host thresholds with
//! hysteresis. Time is passed in.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::AlertKind;
use crate::event::ServiceEvent;
use crate::service::Status;

/// The trouble a service event is, if any.
pub fn trouble_of(e: &ServiceEvent) -> Option<AlertKind> {
    let reason = e.reason.as_deref().unwrap_or("");
    match e.to {
        Status::Fatal => Some(AlertKind::Fatal),
        Status::Exited if e.exit_code != Some(0) => Some(AlertKind::Crash),
        _ if reason.starts_with("readiness failed") || reason.starts_with("liveness failed") => {
            Some(AlertKind::Unhealthy)
        }
        _ => None,
    }
}

/// What a tracker decided about one observation.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Send a firing alert.
    Fire,
    /// Already firing: counted, not sent.
    Suppressed,
    /// Send a recovery, after `lasted` and with `suppressed` repeats in between.
    Recover {
        /// How long it was firing.
        lasted: Duration,
        /// Repeats that were not sent.
        suppressed: u32,
    },
    /// Nothing to send.
    Quiet,
}

#[derive(Debug, Clone)]
struct Firing {
    since: DateTime<Utc>,
    suppressed: u32,
    escalated: bool,
}

/// Deduplication per (rule, subject): the first trouble fires, repeats are
/// counted, the first good news after it recovers.
#[derive(Debug, Default)]
pub struct Tracker {
    firing: BTreeMap<(String, String), Firing>,
}

impl Tracker {
    /// Trouble with `subject` under `rule`. An `escalation` (a service giving up,
    /// `fatal`) fires once more within an episode: it says something new.
    pub fn trouble(&mut self, rule: &str, subject: &str, now: DateTime<Utc>, escalation: bool) -> Verdict {
        match self.firing.get_mut(&(rule.to_owned(), subject.to_owned())) {
            Some(f) if escalation && !f.escalated => {
                f.escalated = true;
                Verdict::Fire
            }
            Some(f) => {
                f.suppressed += 1;
                Verdict::Suppressed
            }
            None => {
                let f = Firing { since: now, suppressed: 0, escalated: escalation };
                self.firing.insert((rule.to_owned(), subject.to_owned()), f);
                Verdict::Fire
            }
        }
    }

    /// Forgets every episode of `rule` (removed or changed by a reload).
    pub fn forget(&mut self, rule: &str) {
        self.firing.retain(|(r, _), _| r != rule);
    }

    /// Good news about `subject` under `rule`.
    pub fn fine(&mut self, rule: &str, subject: &str, now: DateTime<Utc>) -> Verdict {
        match self.firing.remove(&(rule.to_owned(), subject.to_owned())) {
            Some(f) => Verdict::Recover {
                lasted: (now - f.since).to_std().unwrap_or_default(),
                suppressed: f.suppressed,
            },
            None => Verdict::Quiet,
        }
    }

    /// The subjects firing under `rule`.
    pub fn firing_subjects(&self, rule: &str) -> Vec<String> {
        self.firing.keys().filter(|(r, _)| r == rule).map(|(_, s)| s.clone()).collect()
    }

    /// Whether `subject` is firing under `rule`.
    pub fn is_firing(&self, rule: &str, subject: &str) -> bool {
        self.firing.contains_key(&(rule.to_owned(), subject.to_owned()))
    }
}

/// A host metric over `above` for `hold` fires; under `clear_below` for `hold`
/// recovers. Between the two lines nothing changes, so a value wobbling around
/// one threshold cannot flap.
#[derive(Debug, Clone)]
pub struct Threshold {
    above: f64,
    clear_below: f64,
    hold: chrono::Duration,
    firing: bool,
    since: Option<DateTime<Utc>>,
}

impl Threshold {
    /// A threshold; `clear_below` defaults to ten points under `above`.
    pub fn new(above: f64, clear_below: Option<f64>, hold: Duration) -> Threshold {
        Threshold {
            above,
            clear_below: clear_below.unwrap_or(above - 10.0),
            hold: chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::zero()),
            firing: false,
            since: None,
        }
    }

    /// Whether it is firing now.
    pub fn is_firing(&self) -> bool {
        self.firing
    }

    /// Takes one sample; `Some(true)` to fire, `Some(false)` to recover.
    pub fn observe(&mut self, value: f64, now: DateTime<Utc>) -> Option<bool> {
        let crossing = if self.firing { value < self.clear_below } else { value > self.above };
        if !crossing {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        if now - since < self.hold {
            return None;
        }
        self.firing = !self.firing;
        self.since = None;
        Some(self.firing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + i64::from(s), 0).unwrap()
    }

    fn event(to: Status, code: Option<i32>, reason: &str) -> ServiceEvent {
        ServiceEvent {
            service: "web".into(),
            from: Status::Running,
            to,
            pid: None,
            exit_code: code,
            signal: None,
            reason: Some(reason.into()),
            at: t(0),
        }
    }

    #[test]
    fn which_events_are_trouble() {
        assert_eq!(trouble_of(&event(Status::Exited, Some(1), "exited")), Some(AlertKind::Crash));
        assert_eq!(trouble_of(&event(Status::Exited, None, "killed by SIGKILL")), Some(AlertKind::Crash));
        assert_eq!(trouble_of(&event(Status::Exited, Some(0), "exited")), None);
        assert_eq!(trouble_of(&event(Status::Fatal, None, "start limit")), Some(AlertKind::Fatal));
        assert_eq!(
            trouble_of(&event(Status::Running, None, "readiness failed: 500")),
            Some(AlertKind::Unhealthy)
        );
        assert_eq!(
            trouble_of(&event(Status::Stopping, None, "liveness failed: refused; restarting")),
            Some(AlertKind::Unhealthy)
        );
        assert_eq!(trouble_of(&event(Status::Stopped, None, "stopped by request")), None);
    }

    #[test]
    fn a_crash_loop_is_one_alert_and_one_recovery() {
        let mut tr = Tracker::default();
        assert_eq!(tr.trouble("r", "web", t(0), false), Verdict::Fire);
        for i in 1..=5 {
            assert_eq!(tr.trouble("r", "web", t(i), false), Verdict::Suppressed);
        }
        assert_eq!(tr.trouble("r", "db", t(3), false), Verdict::Fire, "subjects are separate");
        // Giving up (fatal) is news once per episode.
        assert_eq!(tr.trouble("r", "db", t(4), true), Verdict::Fire);
        assert_eq!(tr.trouble("r", "db", t(5), true), Verdict::Suppressed);
        assert_eq!(
            tr.fine("r", "web", t(60)),
            Verdict::Recover { lasted: Duration::from_secs(60), suppressed: 5 }
        );
        assert_eq!(tr.fine("r", "web", t(61)), Verdict::Quiet);
        assert_eq!(tr.trouble("r", "web", t(62), false), Verdict::Fire, "a new episode fires again");
        tr.forget("r");
        assert!(!tr.is_firing("r", "web") && !tr.is_firing("r", "db"));
    }

    #[test]
    fn thresholds_hold_and_do_not_flap() {
        let mut th = Threshold::new(90.0, Some(80.0), Duration::from_secs(10));
        assert_eq!(th.observe(95.0, t(0)), None);
        assert_eq!(th.observe(95.0, t(5)), None);
        assert_eq!(th.observe(85.0, t(6)), None, "a dip restarts the hold");
        assert_eq!(th.observe(95.0, t(7)), None);
        assert_eq!(th.observe(95.0, t(17)), Some(true));
        // Between the lines: still firing, nothing new.
        assert_eq!(th.observe(85.0, t(18)), None);
        assert_eq!(th.observe(95.0, t(30)), None);
        assert_eq!(th.observe(70.0, t(31)), None);
        assert_eq!(th.observe(70.0, t(41)), Some(false));
        assert_eq!(th.observe(70.0, t(99)), None);
    }
}
