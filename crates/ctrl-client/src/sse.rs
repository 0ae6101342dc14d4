//! Server-sent events, typed: the `text/event-stream` framing, and each event's
//! data decoded as the item type of its stream.

use std::marker::PhantomData;

use ctrl_proto::{JobUpdate, LogLine, ServiceUpdate, Stats};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::Error;

/// An item of a live stream, made from a server-sent event's name and data (or
/// a WebSocket frame's text, named [`crate::ws::FRAME`]).
pub trait FromEvent: Sized {
    /// The item, `None` for events the type does not carry (skipped).
    fn from_event(name: &str, data: &str) -> Result<Option<Self>, Error>;
}

fn json<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, Error> {
    serde_json::from_str(data)
        .map_err(|e| Error::Protocol(format!("an event this client does not understand: {e}")))
}

/// The services stream: a snapshot, then every transition.
impl FromEvent for ServiceUpdate {
    fn from_event(_: &str, data: &str) -> Result<Option<Self>, Error> {
        json(data).map(Some)
    }
}

/// The stats stream: a sample every `ws_interval`, each in the envelope.
impl FromEvent for Stats {
    fn from_event(name: &str, data: &str) -> Result<Option<Self>, Error> {
        if name != "stats" && name != crate::ws::FRAME {
            return Ok(None);
        }
        let sample: ctrl_proto::Envelope<Stats> = json(data)?;
        sample.into_result().map(Some).map_err(|e| Error::Protocol(e.error))
    }
}

/// A followed log: its lines.
impl FromEvent for LogLine {
    fn from_event(name: &str, data: &str) -> Result<Option<Self>, Error> {
        if name == "log" { json(data).map(Some) } else { Ok(None) }
    }
}

/// A followed job: its output lines and the job whenever it changes.
impl FromEvent for JobUpdate {
    fn from_event(name: &str, data: &str) -> Result<Option<Self>, Error> {
        match name {
            "log" => json(data).map(|l| Some(JobUpdate::Log(l))),
            "job" => json(data).map(|j| Some(JobUpdate::Job(Box::new(j)))),
            // WebSocket frames: `{"type", "data"}` on a job's own socket (a type this
            // client does not know, or a job the daemon could not read, is skipped),
            // a bare job on the jobs socket.
            crate::ws::FRAME => {
                let frame: serde_json::Value = json(data)?;
                match frame.get("type").and_then(|t| t.as_str()) {
                    Some(kind @ ("log" | "job")) => match frame.get("data") {
                        Some(d) if !d.is_null() => JobUpdate::from_event(kind, &d.to_string()),
                        _ => Ok(None),
                    },
                    Some(_) => Ok(None),
                    None => json(data).map(|j| Some(JobUpdate::Job(Box::new(j)))),
                }
            }
            // Events a newer daemon may add are not this client's business.
            _ => Ok(None),
        }
    }
}

/// A live stream of `T`, until the daemon ends it.
pub struct Events<T> {
    body: Incoming,
    parser: SseParser,
    item: PhantomData<fn() -> T>,
}

impl<T: FromEvent> Events<T> {
    pub(crate) fn new(body: Incoming) -> Events<T> {
        Events { body, parser: SseParser::default(), item: PhantomData }
    }

    /// The next item, or `None` when the daemon ended the stream.
    pub async fn next(&mut self) -> Result<Option<T>, Error> {
        loop {
            while let Some((name, data)) = self.parser.pop() {
                if let Some(item) = T::from_event(&name, &data)? {
                    return Ok(Some(item));
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(Error::Broken(format!("the stream broke off: {e}"))),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.parser.push(&data);
                    }
                }
            }
        }
    }
}

/// The text/event-stream framing: events end at a blank line; `event:` names one,
/// `data:` lines (joined with newlines) carry it, comments and other fields are skipped.
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
    pending_cr: bool,
}

impl SseParser {
    /// Appends bytes with CRLF and CR line ends turned into LF (all three are valid
    /// SSE line ends); a CR at the end of a chunk waits for the next byte.
    fn push(&mut self, data: &[u8]) {
        for &b in data {
            if self.pending_cr {
                self.pending_cr = false;
                self.buf.push(b'\n');
                if b == b'\n' {
                    continue;
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                self.buf.push(b);
            }
        }
    }

    /// The next complete event, if one has arrived.
    fn pop(&mut self) -> Option<(String, String)> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block[..end]);
            let (mut name, mut data) = (String::from("message"), Vec::new());
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.strip_prefix(' ').unwrap_or(v).to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                }
            }
            if !data.is_empty() {
                return Some((name, data.join("\n")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_on_any_line_end_and_across_chunks() {
        let mut p = SseParser::default();
        p.push(b": keep-alive\n\nevent: log\r\ndata: {\"a\":1}\r");
        assert_eq!(p.pop(), None, "the event is not finished yet");
        p.push(b"\n\r\ndata: two\rdata: lines\r\r");
        assert_eq!(p.pop(), Some(("log".into(), "{\"a\":1}".into())));
        // The last CR may still be the first half of a CRLF: the next byte settles it.
        assert_eq!(p.pop(), None);
        p.push(b": ping\n\n");
        assert_eq!(p.pop(), Some(("message".into(), "two\nlines".into())));
        assert_eq!(p.pop(), None);
    }

    #[test]
    fn job_events_become_typed_updates() {
        let line = r#"{"ts":null,"stream":"stdout","line":"hi"}"#;
        match JobUpdate::from_event("log", line).unwrap() {
            Some(JobUpdate::Log(l)) => assert_eq!(l.line, "hi"),
            other => panic!("{other:?}"),
        }
        assert!(LogLine::from_event("job", "{}").unwrap().is_none(), "other events are skipped");
        assert!(
            JobUpdate::from_event("progress", "{}").unwrap().is_none(),
            "so are events of a newer daemon"
        );
        assert!(LogLine::from_event("log", "not json").is_err());
    }
}
