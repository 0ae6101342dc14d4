//! LLM keys and their budgets.
//!
//! A key's secret is shown once and stored as its SHA-256. Keys live in memory
//! (loaded at start, changed through the API), each with what it spent in the
//! current period (summed from `api_usage` at start) and what its calls in
//! flight have reserved. A call reserves the cost of its prompt and `max_tokens`
//! before it goes upstream and settles the real cost after; it is refused when
//! the spend, the reservations and its own would pass the budget. So a budget is
//! never passed by more than what calls in flight spend beyond their reservation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ctrl_core::config::model_matches;
use ctrl_proto::LlmKeyInfo;
use ctrl_store::LlmKeyRow;

/// Every key starts so (and API tokens never do): the gateway knows which kind it holds.
pub const KEY_PREFIX: &str = "sk-ctrl-";

/// How long a budget lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A UTC day.
    Day,
    /// A UTC calendar month.
    Month,
}

impl Period {
    /// `day` or `month`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" | "daily" => Some(Period::Day),
            "month" | "monthly" => Some(Period::Month),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// The first day of the period holding `now`.
    pub fn start(self, now: DateTime<Utc>) -> NaiveDate {
        let today = now.date_naive();
        match self {
            Period::Day => today,
            Period::Month => today.with_day(1).unwrap_or(today),
        }
    }
}

/// A key's money: spent this period, and reserved by calls in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Spend {
    /// The period the spend is for.
    pub period_start: NaiveDate,
    /// Settled costs.
    pub spent: f64,
    /// Reservations of calls in flight.
    pub reserved: f64,
}

/// A refusal: the budget is spent.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    /// Spent this period.
    pub spent: f64,
    /// Reserved by calls in flight.
    pub reserved: f64,
    /// The budget.
    pub budget: f64,
    /// What this call would reserve.
    pub asked: f64,
}

impl Spend {
    /// Starts a new period when `now` is past the current one.
    fn roll(&mut self, period: Period, now: DateTime<Utc>) {
        let start = period.start(now);
        if start > self.period_start {
            self.period_start = start;
            self.spent = 0.0;
        }
    }

    /// Reserves `amount` within `budget`.
    pub fn reserve(
        &mut self,
        budget: f64,
        amount: f64,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<(), OverBudget> {
        self.roll(period, now);
        if self.spent >= budget || self.spent + self.reserved + amount > budget {
            return Err(OverBudget { spent: self.spent, reserved: self.reserved, budget, asked: amount });
        }
        self.reserved += amount;
        Ok(())
    }

    /// Replaces a reservation with the real cost.
    pub fn settle(&mut self, reserved: f64, actual: f64, period: Period, now: DateTime<Utc>) {
        self.reserved = (self.reserved - reserved).max(0.0);
        self.roll(period, now);
        self.spent += actual;
    }
}

/// A live key.
#[derive(Debug)]
pub struct Key {
    /// Its id.
    pub id: i64,
    /// Its name: the service its usage is counted under.
    pub name: Arc<str>,
    /// Models it may use.
    pub models: Vec<String>,
    /// Its budget per period.
    pub budget: Option<f64>,
    /// Its period.
    pub period: Period,
    info: LlmKeyInfo,
    spend: Mutex<Spend>,
}

impl Key {
    fn new(row: LlmKeyRow, spent: f64, now: DateTime<Utc>) -> Key {
        let period = Period::parse(&row.info.period).unwrap_or(Period::Day);
        Key {
            id: row.info.id,
            name: Arc::from(row.info.name.as_str()),
            models: row.info.models.clone(),
            budget: row.info.budget,
            period,
            spend: Mutex::new(Spend { period_start: period.start(now), spent, reserved: 0.0 }),
            info: row.info,
        }
    }

    fn spend(&self) -> std::sync::MutexGuard<'_, Spend> {
        self.spend.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether it may use `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.iter().any(|p| model_matches(p, model))
    }

    /// Reserves `amount` for a call, if the budget allows.
    pub fn reserve(self: &Arc<Self>, amount: f64, now: DateTime<Utc>) -> Result<Hold, OverBudget> {
        if let Some(budget) = self.budget {
            self.spend().reserve(budget, amount, self.period, now)?;
        }
        Ok(Hold { key: Some(self.clone()), amount })
    }

    /// What it spent in the current period.
    pub fn spent(&self, now: DateTime<Utc>) -> f64 {
        let mut s = self.spend();
        s.roll(self.period, now);
        s.spent
    }

    /// What clients see of it.
    pub fn info(&self, now: DateTime<Utc>) -> LlmKeyInfo {
        LlmKeyInfo { spent: self.spent(now), ..self.info.clone() }
    }
}

/// A call's reservation: settled with the real cost, or given back if the call ends without one.
#[derive(Debug)]
pub struct Hold {
    key: Option<Arc<Key>>,
    amount: f64,
}

impl Hold {
    /// A hold for a caller without a key (an API token): nothing to settle.
    pub fn none() -> Hold {
        Hold { key: None, amount: 0.0 }
    }

    /// Settles the call at `actual`.
    pub fn settle(mut self, actual: f64, now: DateTime<Utc>) {
        if let Some(k) = self.key.take() {
            k.spend().settle(self.amount, actual, k.period, now);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            k.spend().settle(self.amount, 0.0, k.period, Utc::now());
        }
    }
}

/// The live keys by the hash of their secret.
#[derive(Default)]
pub struct KeyBook {
    by_hash: RwLock<HashMap<String, Arc<Key>>>,
}

impl KeyBook {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Key>>> {
        self.by_hash.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a live key with what it spent this period.
    pub fn add(&self, row: LlmKeyRow, spent: f64, now: DateTime<Utc>) -> Arc<Key> {
        let hash = row.hash.clone();
        let key = Arc::new(Key::new(row, spent, now));
        self.write().insert(hash, key.clone());
        key
    }

    /// Forgets a revoked key.
    pub fn remove(&self, id: i64) {
        self.write().retain(|_, k| k.id != id);
    }

    /// The live key with this hash.
    pub fn find(&self, hash: &str) -> Option<Arc<Key>> {
        self.by_hash.read().unwrap_or_else(|p| p.into_inner()).get(hash).cloned()
    }

    /// The live key with this id.
    pub fn by_id(&self, id: i64) -> Option<Arc<Key>> {
        self.by_hash.read().unwrap_or_else(|p| p.into_inner()).values().find(|k| k.id == id).cloned()
    }
}

/// Reads `5/day`, `20/month` or `5` (a day): a budget and its period.
pub fn parse_budget(text: &str) -> Result<(f64, Period), String> {
    let (amount, period) = match text.split_once('/') {
        Some((a, p)) => (a, Period::parse(p.trim()).ok_or_else(|| format!("'{p}' is not day or month"))?),
        None => (text, Period::Day),
    };
    match amount.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((v, period)),
        _ => Err(format!("'{text}' is not a budget; write it like 5/day or 20/month")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap()
    }

    fn spend(now: DateTime<Utc>) -> Spend {
        Spend { period_start: Period::Day.start(now), spent: 0.0, reserved: 0.0 }
    }

    #[test]
    fn reservations_count_against_the_budget_until_settled() {
        let now = at(1, 10);
        let mut s = spend(now);
        s.reserve(5.0, 2.0, Period::Day, now).unwrap();
        s.reserve(5.0, 2.0, Period::Day, now).unwrap();
        let e = s.reserve(5.0, 2.0, Period::Day, now).unwrap_err();
        assert_eq!((e.spent, e.reserved), (0.0, 4.0));
        s.settle(2.0, 0.5, Period::Day, now);
        s.reserve(5.0, 2.0, Period::Day, now).unwrap();
        assert_eq!((s.spent, s.reserved), (0.5, 4.0));
    }

    #[test]
    fn a_spent_budget_refuses_even_free_calls_and_a_new_day_resets_it() {
        let now = at(1, 10);
        let mut s = spend(now);
        s.reserve(1.0, 0.0, Period::Day, now).unwrap();
        s.settle(0.0, 1.5, Period::Day, now);
        assert!(s.reserve(1.0, 0.0, Period::Day, now).is_err());
        s.reserve(1.0, 0.0, Period::Day, at(2, 0)).unwrap();
        assert_eq!(s.spent, 0.0);
    }

    #[test]
    fn months_start_on_the_first() {
        assert_eq!(Period::Month.start(at(17, 5)), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(Period::Day.start(at(17, 5)), NaiveDate::from_ymd_opt(2026, 3, 17).unwrap());
    }

    #[test]
    fn budgets_parse() {
        assert_eq!(parse_budget("5/day"), Ok((5.0, Period::Day)));
        assert_eq!(parse_budget("2.5/month"), Ok((2.5, Period::Month)));
        assert_eq!(parse_budget("3"), Ok((3.0, Period::Day)));
        assert!(parse_budget("-1/day").is_err());
        assert!(parse_budget("5/week").is_err());
        assert!(parse_budget("lots").is_err());
    }

    #[test]
    fn a_dropped_hold_gives_its_reservation_back() {
        let now = Utc::now();
        let row = LlmKeyRow {
            info: LlmKeyInfo {
                id: 1,
                name: "app".into(),
                prefix: "sk-ctrl-ab".into(),
                models: vec!["deepseek*".into()],
                budget: Some(1.0),
                spent: 0.0,
                period: "day".into(),
                created_at: now,
                revoked_at: None,
            },
            hash: "h".into(),
        };
        let book = KeyBook::default();
        let key = book.add(row, 0.25, now);
        assert!(key.allows("deepseek-r1") && !key.allows("gpt-4o"));
        let hold = key.reserve(0.75, now).unwrap();
        assert!(key.reserve(0.1, now).is_err());
        drop(hold);
        key.reserve(0.75, now).unwrap().settle(0.5, now);
        assert_eq!(book.find("h").unwrap().spent(now), 0.75);
        book.remove(1);
        assert!(book.find("h").is_none());
    }
}
