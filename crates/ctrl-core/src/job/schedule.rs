//! When a schedule fires: cron expressions (5 or 6 fields) or presets, in a
//! time zone, and what to do about runs missed while the daemon was down.
//!
//! Time is passed in, so the scheduler's whole policy is tested without a clock.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::config::Missed;

/// A run later than this after its time counts as missed (the daemon was down or asleep).
pub const GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    expression: String,
}

/// What to do at a wake-up.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// The next time has not come.
    Wait,
    /// Run now for the time `at`; `late` when it was missed and runs under `run_once`.
    Run {
        /// The scheduled time this run stands for.
        at: DateTime<Utc>,
        /// Whether the time was missed (more than a minute ago).
        late: bool,
        /// The next time after this run.
        next: Option<DateTime<Utc>>,
    },
    /// The time was missed and the policy is `skip`.
    Skip {
        /// The first missed time.
        missed: DateTime<Utc>,
        /// The next time from now.
        next: Option<DateTime<Utc>>,
    },
}

impl Schedule {
    /// Parses a cron expression or a preset (`daily@02:00`, `weekly@sun 02:00`,
    /// `monthly@1 02:00`, `@hourly`) in the IANA time zone `tz`.
    pub fn parse(text: &str, tz: &str) -> Result<Schedule, String> {
        let tz: Tz = tz
            .parse()
            .map_err(|_| format!("'{tz}' is not a time zone; write it like \"UTC\" or \"Europe/Berlin\""))?;
        let expression = expand_preset(text.trim())?;
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(&expression)
            .map_err(|e| format!("'{text}' is not a cron expression: {e}"))?;
        let s = Schedule { cron, tz, expression };
        if s.next_after(Utc::now()).is_none() {
            return Err(format!("'{text}' never fires"));
        }
        Ok(s)
    }

    /// The cron expression in force (a preset expanded).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t.with_timezone(&self.tz), false).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The next `n` times after `t`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        std::iter::successors(self.next_after(t), |prev| self.next_after(*prev)).take(n).collect()
    }

    /// What to do at `now` for a schedule whose next time is `next`.
    pub fn due(&self, next: DateTime<Utc>, now: DateTime<Utc>, policy: Missed) -> Due {
        if now < next {
            return Due::Wait;
        }
        // Several times may have passed (a per-second cron after a pause): one run, then on from now.
        let after = self.next_after(next).filter(|n| *n > now).or_else(|| self.next_after(now));
        if now - next <= GRACE {
            return Due::Run { at: next, late: false, next: after };
        }
        match policy {
            Missed::RunOnce => Due::Run { at: next, late: true, next: self.next_after(now) },
            Missed::Skip => Due::Skip { missed: next, next: self.next_after(now) },
        }
    }
}

/// Turns a preset into cron fields; anything else is returned as written.
fn expand_preset(text: &str) -> Result<String, String> {
    let Some((kind, when)) = text.split_once('@').filter(|(k, _)| !k.is_empty()) else {
        return Ok(text.to_owned());
    };
    let bad = |why: &str| {
        Err(format!("'{text}': {why}; presets look like daily@02:00, weekly@sun 02:00, monthly@1 02:00"))
    };
    let (day, time) = match when.trim().rsplit_once(' ') {
        Some((d, t)) => (Some(d.trim()), t),
        None => (None, when.trim()),
    };
    let Some((h, m)) = time.split_once(':') else { return bad("the time must be HH:MM") };
    let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>()) else { return bad("the time must be HH:MM") };
    if h > 23 || m > 59 {
        return bad("the time must be between 00:00 and 23:59");
    }
    match (kind.to_ascii_lowercase().as_str(), day) {
        ("daily", None) => Ok(format!("0 {m} {h} * * *")),
        ("weekly", Some(d)) => {
            const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
            let d = d.to_ascii_lowercase();
            match DAYS.iter().position(|x| d.starts_with(x) && d.len() >= 3) {
                Some(i) => Ok(format!("0 {m} {h} * * {i}")),
                None => bad("the day must be sun, mon, tue, wed, thu, fri or sat"),
            }
        }
        ("monthly", Some(d)) => match d.parse::<u32>() {
            Ok(n @ 1..=31) => Ok(format!("0 {m} {h} {n} * *")),
            _ => bad("the day of the month must be 1-31"),
        },
        ("daily", Some(_)) => bad("daily takes only a time"),
        ("weekly" | "monthly", None) => bad("this preset needs a day before the time"),
        _ => bad("unknown preset"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn five_and_six_fields_and_presets() {
        let s = Schedule::parse("0 2 * * *", "UTC").unwrap();
        assert_eq!(s.next_after(at("2026-11-22T01:59:59Z")), Some(at("2026-11-22T02:00:00Z")));
        assert_eq!(s.next_after(at("2026-11-22T02:00:00Z")), Some(at("2026-11-23T02:00:00Z")));
        let secs = Schedule::parse("*/10 * * * * *", "UTC").unwrap();
        assert_eq!(
            secs.upcoming(at("2026-11-22T00:00:01Z"), 3),
            [at("2026-11-22T00:00:10Z"), at("2026-11-22T00:00:20Z"), at("2026-11-22T00:00:30Z")]
        );
        let weekly = Schedule::parse("weekly@sun 02:30", "UTC").unwrap();
        // 2026-11-22 is a Sunday.
        assert_eq!(weekly.next_after(at("2026-11-21T00:00:00Z")), Some(at("2026-11-22T02:30:00Z")));
        let monthly = Schedule::parse("monthly@1 00:00", "UTC").unwrap();
        assert_eq!(monthly.next_after(at("2026-11-22T00:00:00Z")), Some(at("2026-12-01T00:00:00Z")));
        assert_eq!(Schedule::parse("daily@02:00", "UTC").unwrap().expression(), "0 0 2 * * *");
        for bad in
            ["daily@25:00", "weekly@02:00", "weekly@xyz 02:00", "yearly@02:00", "* * *", "61 * * * *", ""]
        {
            assert!(Schedule::parse(bad, "UTC").is_err(), "{bad}");
        }
        assert!(Schedule::parse("0 2 * * *", "Mars/Base").unwrap_err().contains("time zone"));
    }

    #[test]
    fn time_zones_and_daylight_saving() {
        let s = Schedule::parse("daily@02:00", "Europe/Berlin").unwrap();
        assert_eq!(s.next_after(at("2026-11-22T00:00:00Z")), Some(at("2026-11-22T01:00:00Z")));
        // Summer: UTC+2, so 02:00 local is 00:00 UTC.
        assert_eq!(s.next_after(at("2026-06-30T23:00:00Z")), Some(at("2026-07-01T00:00:00Z")));
    }

    #[test]
    fn on_time_late_and_missed_runs() {
        let s = Schedule::parse("0 2 * * *", "UTC").unwrap();
        let next = at("2026-11-22T02:00:00Z");
        assert_eq!(s.due(next, at("2026-11-22T01:59:59Z"), Missed::Skip), Due::Wait);
        assert_eq!(
            s.due(next, at("2026-11-22T02:00:00.050Z"), Missed::Skip),
            Due::Run { at: next, late: false, next: Some(at("2026-11-23T02:00:00Z")) }
        );
        // Down for three days: one catch-up run, or none, and on from now.
        let now = at("2026-11-25T10:00:00Z");
        assert_eq!(
            s.due(next, now, Missed::RunOnce),
            Due::Run { at: next, late: true, next: Some(at("2026-11-26T02:00:00Z")) }
        );
        assert_eq!(
            s.due(next, now, Missed::Skip),
            Due::Skip { missed: next, next: Some(at("2026-11-26T02:00:00Z")) }
        );
        // A per-second schedule that slept 30 s runs once, not thirty times.
        let secs = Schedule::parse("* * * * * *", "UTC").unwrap();
        let Due::Run { next: Some(n), .. } =
            secs.due(at("2026-11-22T00:00:00Z"), at("2026-11-22T00:00:30Z"), Missed::Skip)
        else {
            panic!("expected a run")
        };
        assert_eq!(n, at("2026-11-22T00:00:31Z"));
    }
}
