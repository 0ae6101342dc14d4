//! Answers kept for exact repeats of a request, bounded in entries and bytes
//! (least recently used go first) and in age (`cache_ttl`).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;

use crate::tally::Tokens;

/// A cached answer, replayed exactly as the first client got it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A whole JSON body.
    Body(Bytes),
    /// The events of a stream, `[DONE]` included, as one run of bytes.
    Stream(Bytes),
}

impl Answer {
    /// Its bytes.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Answer::Body(b) | Answer::Stream(b) => b,
        }
    }

    /// Whether it is a stream.
    pub fn is_stream(&self) -> bool {
        matches!(self, Answer::Stream(_))
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One entry: the answer and what the log says of it.
#[derive(Debug)]
pub struct Entry {
    /// The answer.
    pub answer: Answer,
    /// The upstream that gave it.
    pub upstream: String,
    /// Its tokens then.
    pub tokens: Tokens,
    /// Its summary for the interaction log (none when prompts are not logged).
    pub logged: Option<String>,
    stored: Instant,
    size: usize,
}

/// The cache.
pub struct Cache {
    ttl: Duration,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    map: LruCache<[u8; 32], Arc<Entry>>,
    bytes: usize,
}

impl Cache {
    /// A cache of at most `entries` answers and `max_bytes` bytes, each kept `ttl`.
    pub fn new(ttl: Duration, entries: usize, max_bytes: usize) -> Cache {
        let cap = NonZeroUsize::new(entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        Cache { ttl, max_bytes, inner: Mutex::new(Inner { map: LruCache::new(cap), bytes: 0 }) }
    }

    /// Whether anything is ever cached.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_bytes > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer for `key` if it is young enough.
    pub fn get(&self, key: &[u8; 32], now: Instant) -> Option<Arc<Entry>> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.lock();
        let entry = inner.map.get(key)?.clone();
        if now.saturating_duration_since(entry.stored) < self.ttl {
            return Some(entry);
        }
        inner.map.pop(key);
        inner.bytes -= entry.size;
        None
    }

    /// The largest answer kept: an eighth of the cache.
    pub fn largest(&self) -> usize {
        if self.enabled() { self.max_bytes / 8 } else { 0 }
    }

    /// Keeps an answer (one larger than [`Cache::largest`] is not), in a buffer of its
    /// own size (what was read may sit in a larger one).
    pub fn put(
        &self,
        key: [u8; 32],
        answer: Answer,
        upstream: String,
        tokens: Tokens,
        logged: Option<String>,
        now: Instant,
    ) {
        let size = answer.len() + logged.as_ref().map_or(0, String::len) + 128;
        if !self.enabled() || size > self.largest() {
            return;
        }
        let answer = match answer {
            Answer::Body(b) => Answer::Body(Bytes::copy_from_slice(&b)),
            Answer::Stream(b) => Answer::Stream(Bytes::copy_from_slice(&b)),
        };
        let entry = Arc::new(Entry { answer, upstream, tokens, logged, stored: now, size });
        let mut inner = self.lock();
        inner.bytes += size;
        if let Some((_, old)) = inner.map.push(key, entry) {
            inner.bytes -= old.size;
        }
        while inner.bytes > self.max_bytes {
            match inner.map.pop_lru() {
                Some((_, old)) => inner.bytes -= old.size,
                None => break,
            }
        }
    }

    /// Drops everything; returns (entries, bytes) dropped.
    pub fn clear(&self) -> (u64, u64) {
        let mut inner = self.lock();
        let counts = (inner.map.len() as u64, inner.bytes as u64);
        inner.map.clear();
        inner.bytes = 0;
        counts
    }

    /// (entries, bytes) held.
    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.map.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Tokens = Tokens { prompt: 1, completion: 2, estimated: false };

    fn body(n: usize) -> Answer {
        Answer::Body(Bytes::from(vec![b'x'; n]))
    }

    #[test]
    fn answers_expire() {
        let c = Cache::new(Duration::from_secs(10), 10, 1 << 20);
        let t0 = Instant::now();
        c.put([1; 32], body(3), "u".into(), T, None, t0);
        assert_eq!(c.get(&[1; 32], t0 + Duration::from_secs(9)).unwrap().answer, body(3));
        assert!(c.get(&[1; 32], t0 + Duration::from_secs(10)).is_none());
        assert_eq!(c.size(), (0, 0));
    }

    #[test]
    fn the_least_recently_used_go_first_by_count_and_by_bytes() {
        let c = Cache::new(Duration::from_secs(10), 2, 1 << 20);
        let t0 = Instant::now();
        c.put([1; 32], body(1), "u".into(), T, None, t0);
        c.put([2; 32], body(1), "u".into(), T, None, t0);
        assert!(c.get(&[1; 32], t0).is_some());
        c.put([3; 32], body(1), "u".into(), T, None, t0);
        assert!(c.get(&[2; 32], t0).is_none());
        assert!(c.get(&[1; 32], t0).is_some());

        let c = Cache::new(Duration::from_secs(10), 100, 8 * 1000);
        for i in 0..20u8 {
            c.put([i; 32], body(800), "u".into(), T, None, t0);
        }
        let (n, bytes) = c.size();
        assert!(bytes <= 8000, "{bytes}");
        assert_eq!(n, 8000 / (800 + 128));
        assert!(c.get(&[19; 32], t0).is_some() && c.get(&[0; 32], t0).is_none());
        c.put([99; 32], body(1001), "u".into(), T, None, t0);
        assert!(c.get(&[99; 32], t0).is_none(), "over an eighth of the cache");
        assert_eq!(c.clear().0, n as u64);
        assert_eq!(c.size(), (0, 0));
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let c = Cache::new(Duration::ZERO, 10, 1 << 20);
        c.put([1; 32], body(1), "u".into(), T, None, Instant::now());
        assert!(c.get(&[1; 32], Instant::now()).is_none());
    }
}
