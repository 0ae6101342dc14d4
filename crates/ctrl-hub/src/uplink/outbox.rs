//! What a host has reported and the hub has not stored yet: numbered in order,
//! kept while the link is down (10 minutes, bounded), sent again from where the
//! hub says it stopped, dropped once acknowledged. Time is passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::wire::Report;

/// How long a report waits for the hub.
pub const KEEP: Duration = Duration::from_secs(600);

/// The most reports kept (a host with very many events cut off for long keeps the newest).
pub const MAX_ITEMS: usize = 100_000;

/// The reports of one run of the host.
#[derive(Debug)]
pub struct Outbox {
    items: VecDeque<(Instant, Report)>,
    next_seq: i64,
    /// The last seq sent on the current link.
    sent: i64,
    keep: Duration,
    max_items: usize,
    /// Reports dropped unsent (too old, or too many).
    pub dropped: u64,
}

impl Default for Outbox {
    fn default() -> Outbox {
        Outbox::new(KEEP, MAX_ITEMS)
    }
}

impl Outbox {
    /// An empty outbox keeping reports for `keep`, at most `max_items`.
    pub fn new(keep: Duration, max_items: usize) -> Outbox {
        Outbox { items: VecDeque::new(), next_seq: 1, sent: 0, keep, max_items, dropped: 0 }
    }

    /// Adds a report; its number.
    pub fn push(&mut self, kind: &str, data: serde_json::Value, at: DateTime<Utc>, now: Instant) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.items.push_back((now, Report { seq, at, kind: kind.to_owned(), data }));
        while self.items.len() > self.max_items {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.expire(now);
        seq
    }

    /// A new link: the hub has every report up to `stored`; send what follows.
    pub fn rewind(&mut self, stored: i64) {
        self.ack(stored);
        self.sent = stored;
    }

    /// The hub stored every report up to `seq`.
    pub fn ack(&mut self, seq: i64) {
        while self.items.front().is_some_and(|(_, r)| r.seq <= seq) {
            self.items.pop_front();
        }
    }

    /// The next reports to send on this link (at most `max`), in order.
    pub fn unsent(&mut self, max: usize) -> Vec<Report> {
        let start = self.items.partition_point(|(_, r)| r.seq <= self.sent);
        let out: Vec<Report> = self.items.iter().skip(start).take(max).map(|(_, r)| r.clone()).collect();
        if let Some(last) = out.last() {
            self.sent = last.seq;
        }
        out
    }

    /// Whether reports wait to be sent on this link.
    #[cfg(test)]
    fn has_unsent(&self) -> bool {
        self.items.back().is_some_and(|(_, r)| r.seq > self.sent)
    }

    /// Drops reports older than the keep time.
    pub fn expire(&mut self, now: Instant) {
        while self.items.front().is_some_and(|(t, _)| now.duration_since(*t) > self.keep) {
            self.items.pop_front();
            self.dropped += 1;
        }
    }

    /// Reports held (sent or not, none acknowledged).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seqs(r: &[Report]) -> Vec<i64> {
        r.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn a_cut_link_resumes_where_the_hub_stopped_each_report_once() {
        let t = Instant::now();
        let mut o = Outbox::default();
        for i in 0..5 {
            o.push("service", json!(i), Utc::now(), t);
        }
        assert_eq!(seqs(&o.unsent(3)), [1, 2, 3]);
        assert_eq!(seqs(&o.unsent(10)), [4, 5]);
        assert!(o.unsent(10).is_empty() && !o.has_unsent());
        o.ack(2);
        assert_eq!(o.len(), 3);
        // The link broke; more happens meanwhile.
        o.push("service", json!(5), Utc::now(), t);
        assert!(o.has_unsent());
        // The hub had stored up to 4 when the link broke.
        o.rewind(4);
        assert_eq!(seqs(&o.unsent(10)), [5, 6]);
        // A hub that lost what it had (restored from an older backup) gets it all again.
        o.rewind(0);
        assert_eq!(seqs(&o.unsent(10)), [5, 6], "acknowledged ones are gone for good");
    }

    #[test]
    fn old_reports_go_and_are_counted() {
        let t = Instant::now();
        let mut o = Outbox::new(Duration::from_secs(600), 1000);
        o.push("sample", json!(1), Utc::now(), t);
        o.push("sample", json!(2), Utc::now(), t + Duration::from_secs(300));
        o.push("sample", json!(3), Utc::now(), t + Duration::from_secs(601));
        assert_eq!((o.len(), o.dropped), (2, 1));
        assert_eq!(seqs(&o.unsent(10)), [2, 3], "the numbers stay: the hub sees a gap, not a lie");
    }

    #[test]
    fn a_full_outbox_keeps_the_newest() {
        let t = Instant::now();
        let mut o = Outbox::new(Duration::from_secs(600), 3);
        for i in 0..5 {
            o.push("service", json!(i), Utc::now(), t);
        }
        assert_eq!((o.len(), o.dropped), (3, 2));
        assert_eq!(seqs(&o.unsent(10)), [3, 4, 5]);
    }
}
