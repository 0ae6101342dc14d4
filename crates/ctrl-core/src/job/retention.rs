//! Which backups a retention policy removes.

use chrono::{DateTime, Utc};

use crate::config::Retention;

/// The names among `backups` (name, made at) that `policy` removes at `now`:
/// all but the `keep` newest, and every one older than `max_age`, except that
/// the newest backup is never removed (a policy must not delete the backup it
/// was applied after).
pub fn expired<'a>(
    backups: &'a [(String, DateTime<Utc>)],
    now: DateTime<Utc>,
    policy: &Retention,
) -> Vec<&'a str> {
    let mut sorted: Vec<&(String, DateTime<Utc>)> = backups.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let keep = policy.keep.map(|k| k.max(1) as usize).unwrap_or(usize::MAX);
    let max_age = policy.max_age.and_then(|d| chrono::Duration::from_std(d.0).ok());
    sorted
        .iter()
        .enumerate()
        .filter(|(i, (_, at))| *i > 0 && (*i >= keep || max_age.is_some_and(|m| now - *at > m)))
        .map(|(_, (name, _))| name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;
    use std::time::Duration;

    fn day(d: u32) -> DateTime<Utc> {
        format!("2026-11-{d:02}T02:00:00Z").parse().unwrap()
    }

    fn list(days: &[u32]) -> Vec<(String, DateTime<Utc>)> {
        days.iter().map(|d| (format!("b{d:02}"), day(*d))).collect()
    }

    #[test]
    fn keeps_the_newest_by_count() {
        let b = list(&[1, 5, 3, 4, 2]);
        let mut gone = expired(&b, day(6), &Retention { keep: Some(3), max_age: None });
        gone.sort();
        assert_eq!(gone, ["b01", "b02"]);
        assert!(expired(&b, day(6), &Retention::default()).is_empty());
    }

    #[test]
    fn removes_by_age_but_never_the_newest() {
        let b = list(&[1, 2, 10]);
        let week = Retention { keep: None, max_age: Some(Dur(Duration::from_secs(7 * 86400))) };
        let mut gone = expired(&b, day(11), &week);
        gone.sort();
        assert_eq!(gone, ["b01", "b02"]);
        // Everything is old, yet the newest stays.
        assert_eq!(expired(&b, day(30), &week).len(), 2);
        // keep = 0 is read as 1: the backup just made survives.
        assert_eq!(expired(&b, day(11), &Retention { keep: Some(0), max_age: None }).len(), 2);
    }
}
