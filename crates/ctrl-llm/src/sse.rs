//! Server-sent events, cut out of a byte stream as they complete.
//!
//! Upstreams send `data: {…}\n\n` events in chunks that need not line up with
//! events; the gateway forwards whole events (so it can drop or check one) and
//! reads their `data` lines alongside.

use bytes::{Bytes, BytesMut};

/// One event as it came: its bytes (with the blank line that ended it) and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's bytes, exactly as the upstream sent them.
    pub raw: Bytes,
    /// Its `data:` lines joined by `\n` (empty for comments and keep-alives).
    pub data: String,
}

impl Event {
    /// Whether this is the `[DONE]` that ends an OpenAI stream.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// An event larger than this is an error (a stream that never ends an event).
pub const MAX_EVENT: usize = 4 * 1024 * 1024;

/// Collects bytes and hands out complete events.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: BytesMut,
    /// Where the search for the end of an event resumes.
    scanned: usize,
}

/// The stream broke the event format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SseError {
    /// An event over [`MAX_EVENT`].
    #[error("an event of the stream is over {} MiB", MAX_EVENT / 1024 / 1024)]
    TooLarge,
}

impl Splitter {
    /// Adds bytes as they came.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, if one is in.
    pub fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        let Some(end) = self.find_end() else {
            if self.buf.len() > MAX_EVENT {
                return Err(SseError::TooLarge);
            }
            return Ok(None);
        };
        self.scanned = 0;
        let raw = self.buf.split_to(end).freeze();
        Ok(Some(Event { data: data_of(&raw), raw }))
    }

    /// What is left that is not a complete event (a stream cut short).
    pub fn rest(&self) -> &[u8] {
        &self.buf
    }

    /// The end (exclusive) of the first event: after a blank line (`\n\n` or `\r\n\r\n`).
    fn find_end(&mut self) -> Option<usize> {
        let b = &self.buf[..];
        for i in self.scanned.max(1)..b.len() {
            if b[i] == b'\n' && (b[i - 1] == b'\n' || (i >= 3 && &b[i - 3..i] == b"\r\n\r")) {
                return Some(i + 1);
            }
        }
        self.scanned = b.len();
        None
    }
}

/// The `data:` lines of an event, joined.
fn data_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut first = true;
    for line in text.split(['\n', '\r']) {
        let Some(v) = line.strip_prefix("data:") else { continue };
        if !first {
            out.push('\n');
        }
        first = false;
        out.push_str(v.strip_prefix(' ').unwrap_or(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &mut Splitter) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(e) = s.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn events_split_across_chunks_come_out_whole() {
        let mut s = Splitter::default();
        s.push(b"data: {\"a\":");
        assert!(all(&mut s).is_empty());
        s.push(b"1}\n\ndata: [DO");
        let e = all(&mut s);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].data, "{\"a\":1}");
        assert_eq!(&e[0].raw[..], b"data: {\"a\":1}\n\n");
        s.push(b"NE]\n\n");
        let e = all(&mut s);
        assert!(e[0].is_done());
        assert!(s.rest().is_empty());
    }

    #[test]
    fn crlf_comments_and_multi_line_data() {
        let mut s = Splitter::default();
        s.push(b": keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\nevent: x\ndata:c\n\n");
        let e = all(&mut s);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].data, "");
        assert_eq!(e[1].data, "a\nb");
        assert_eq!(e[2].data, "c");
    }

    #[test]
    fn a_cut_stream_leaves_its_rest() {
        let mut s = Splitter::default();
        s.push(b"data: 1\n\ndata: {\"trunc");
        assert_eq!(all(&mut s).len(), 1);
        assert_eq!(s.rest(), b"data: {\"trunc");
    }

    #[test]
    fn an_endless_event_is_an_error() {
        let mut s = Splitter::default();
        s.push(&vec![b'x'; MAX_EVENT + 1]);
        assert_eq!(s.next_event(), Err(SseError::TooLarge));
    }
}
