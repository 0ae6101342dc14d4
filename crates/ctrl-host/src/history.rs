//! The history ring: the last hour at the sampling rate, the last day per minute.
//!
//! Only the four charted series are kept (CPU %, memory %, network rx/tx per
//! second), as plain numbers, so a day of history costs a few hundred KiB.

use std::collections::VecDeque;
use std::time::Duration;

use ctrl_proto::{History as Series, Metric, Stats};

/// How far back the full-rate ring reaches.
pub const FULL_RATE_SPAN: Duration = Duration::from_secs(3600);
/// How far back the per-minute ring reaches.
pub const MINUTE_SPAN: Duration = Duration::from_secs(24 * 3600);

/// One point of every series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    /// Unix seconds.
    pub t: i64,
    /// Total CPU %.
    pub cpu: f64,
    /// Memory used %.
    pub memory: f64,
    /// Received bytes per second, all interfaces.
    pub net_rx: f64,
    /// Sent bytes per second, all interfaces.
    pub net_tx: f64,
}

impl Point {
    /// The charted numbers of a sample.
    pub fn of(s: &Stats) -> Point {
        Point {
            t: s.timestamp.timestamp(),
            cpu: f64::from(s.cpu.percent),
            memory: f64::from(s.memory.percent),
            net_rx: s
                .network
                .iter()
                .filter(|n| external(&n.interface))
                .map(|n| n.rx_bytes_per_s as f64)
                .sum(),
            net_tx: s
                .network
                .iter()
                .filter(|n| external(&n.interface))
                .map(|n| n.tx_bytes_per_s as f64)
                .sum(),
        }
    }

    fn get(&self, m: Metric) -> f64 {
        match m {
            Metric::Cpu => self.cpu,
            Metric::Memory => self.memory,
            Metric::NetRx => self.net_rx,
            Metric::NetTx => self.net_tx,
        }
    }
}

/// Whether an interface carries the host's own traffic: loopback and the virtual
/// ends of bridges and containers would count the same bytes twice or thrice.
fn external(name: &str) -> bool {
    const VIRTUAL: &[&str] =
        &["lo", "veth", "docker", "br-", "virbr", "cni", "flannel", "cali", "vxlan", "ifb"];
    !VIRTUAL.iter().any(|v| if *v == "lo" { name == "lo" } else { name.starts_with(v) })
}

/// Both rings, and the minute being averaged.
#[derive(Debug)]
pub struct HistoryRing {
    step: Duration,
    full: VecDeque<Point>,
    full_cap: usize,
    minutes: VecDeque<Point>,
    current: Option<(i64, Point, u32)>,
}

impl HistoryRing {
    /// Rings for samples taken every `step`.
    pub fn new(step: Duration) -> HistoryRing {
        let step = step.max(Duration::from_millis(100));
        let full_cap = (FULL_RATE_SPAN.as_secs_f64() / step.as_secs_f64()).ceil() as usize;
        let minutes_cap = (MINUTE_SPAN.as_secs() / 60) as usize;
        HistoryRing {
            step,
            full: VecDeque::with_capacity(full_cap),
            full_cap,
            minutes: VecDeque::with_capacity(minutes_cap),
            current: None,
        }
    }

    /// Adds a point; closes the minute it ends.
    pub fn push(&mut self, p: Point) {
        if self.full.len() == self.full_cap {
            self.full.pop_front();
        }
        self.full.push_back(p);
        let minute = p.t.div_euclid(60) * 60;
        match &mut self.current {
            Some((m, sum, n)) if *m == minute => {
                sum.cpu += p.cpu;
                sum.memory += p.memory;
                sum.net_rx += p.net_rx;
                sum.net_tx += p.net_tx;
                *n += 1;
            }
            _ => {
                if let Some((m, sum, n)) = self.current.take() {
                    self.close_minute(m, sum, n);
                }
                self.current = Some((minute, p, 1));
            }
        }
    }

    fn close_minute(&mut self, minute: i64, sum: Point, n: u32) {
        let n = f64::from(n.max(1));
        let avg = Point {
            t: minute,
            cpu: sum.cpu / n,
            memory: sum.memory / n,
            net_rx: sum.net_rx / n,
            net_tx: sum.net_tx / n,
        };
        if self.minutes.len() == (MINUTE_SPAN.as_secs() / 60) as usize {
            self.minutes.pop_front();
        }
        self.minutes.push_back(avg);
    }

    /// One series over the last `range` before `now` (unix seconds): full rate up to
    /// an hour, per minute beyond.
    pub fn series(&self, metric: Metric, range: Duration, now: i64) -> Series {
        let since = now - i64::try_from(range.as_secs()).unwrap_or(i64::MAX / 2);
        let (points, step_s) = if range <= FULL_RATE_SPAN {
            (&self.full, self.step.as_secs_f64())
        } else {
            (&self.minutes, 60.0)
        };
        let points = points.iter().filter(|p| p.t >= since).map(|p| (p.t, round2(p.get(metric)))).collect();
        Series { metric, step_s, points }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64, cpu: f64) -> Point {
        Point { t, cpu, memory: 50.0, net_rx: 10.0, net_tx: 20.0 }
    }

    #[test]
    fn the_full_ring_keeps_one_hour() {
        let mut h = HistoryRing::new(Duration::from_secs(1));
        for t in 0..5000 {
            h.push(at(t, t as f64));
        }
        let s = h.series(Metric::Cpu, FULL_RATE_SPAN, 4999);
        assert_eq!(s.points.len(), 3600);
        assert_eq!(s.points.first().unwrap().0, 1400);
        assert_eq!(s.points.last().unwrap(), &(4999, 4999.0));
        assert_eq!(s.step_s, 1.0);
    }

    #[test]
    fn a_short_range_is_a_suffix() {
        let mut h = HistoryRing::new(Duration::from_secs(2));
        for t in (0..600).step_by(2) {
            h.push(at(t, 1.0));
        }
        let s = h.series(Metric::NetTx, Duration::from_secs(60), 598);
        assert_eq!(s.points.len(), 31);
        assert!(s.points.iter().all(|p| p.1 == 20.0));
        assert_eq!(s.step_s, 2.0);
    }

    #[test]
    fn minutes_are_averages_and_close_when_the_next_begins() {
        let mut h = HistoryRing::new(Duration::from_secs(1));
        for t in 0..180 {
            h.push(at(t, (t / 60) as f64 * 10.0 + (t % 2) as f64));
        }
        let s = h.series(Metric::Cpu, Duration::from_secs(24 * 3600), 180);
        // Minutes 0 and 60 are closed; minute 120 is still being averaged.
        assert_eq!(s.points, vec![(0, 0.5), (60, 10.5)]);
        assert_eq!(s.step_s, 60.0);
    }

    #[test]
    fn the_minute_ring_keeps_one_day() {
        let mut h = HistoryRing::new(Duration::from_secs(60));
        for m in 0..2000 {
            h.push(at(m * 60, 1.0));
        }
        let s = h.series(Metric::Memory, MINUTE_SPAN, 1999 * 60);
        assert_eq!(s.points.len(), 1440);
        assert_eq!(s.points.last().unwrap().0, 1998 * 60);
    }
}
