//! The link's language: JSON messages in text frames, body bytes in binary frames.
//!
//! A message of a type this build does not know (a newer peer's) parses as
//! `Unknown` and is skipped, so versions can add messages without breaking links.
//! A binary frame is a request's id (4 bytes, big-endian), a kind byte and data.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The protocol's version; a peer speaking another major version is refused.
pub const PROTOCOL: u32 = 1;

/// Bytes of a response body the host may send before the hub grants more.
pub const WINDOW: u32 = 256 * 1024;

/// The largest body chunk in one frame.
pub const CHUNK: usize = 64 * 1024;

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// What the hub says to a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToHost {
    /// First: prove your key by signing this.
    Challenge {
        /// Random, hex.
        nonce: String,
        /// The hub's `ctrl` version.
        version: String,
        /// The hub's protocol version.
        protocol: u32,
        /// The hub's clock (a host far off is told in its log).
        time: DateTime<Utc>,
    },
    /// The host is in; report what comes after `seq` of run `boot`.
    Welcome {
        /// The host's run whose reports the hub has.
        boot: Option<String>,
        /// The last of them.
        seq: i64,
    },
    /// The host is not let in, and why.
    Refused {
        /// A stable word: `unknown_host`, `key_mismatch`, `token_used`, `token_expired`, …
        code: String,
        /// For the host's log.
        message: String,
    },
    /// A request to the host's own API, on behalf of a hub user.
    Request {
        /// Its id on this link.
        id: u32,
        /// The HTTP method.
        method: String,
        /// Path and query, `/api/services`.
        path: String,
        /// Headers worth passing on (content type, accept, range, last event id).
        headers: Vec<(String, String)>,
        /// The body (the API's bodies are JSON).
        body: Option<String>,
        /// The hub user it is for.
        actor: String,
        /// Whose things are theirs on the hub (a user, `token:NAME`, `:local`).
        #[serde(default)]
        owner: Option<String>,
        /// That user's role on the hub.
        role: ctrl_core::Role,
    },
    /// The hub took `bytes` of a response body: the host may send that many more.
    Credit {
        /// The request.
        id: u32,
        /// How many.
        bytes: u32,
    },
    /// The hub's client went away: stop answering.
    Cancel {
        /// The request.
        id: u32,
    },
    /// The hub stored every report up to `seq`.
    Ack {
        /// The last stored.
        seq: i64,
    },
    /// A message of a newer version.
    #[serde(other)]
    Unknown,
}

/// What a host says to the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToHub {
    /// The answer to the challenge.
    Hello {
        /// The host's name.
        name: String,
        /// Its `ctrl` version.
        version: String,
        /// Its protocol version.
        protocol: u32,
        /// Its Ed25519 public key, hex.
        key: String,
        /// Its signature of [`challenge_text`], hex.
        signature: String,
        /// Its one-time token, on the connect that enrols it.
        enroll: Option<String>,
        /// Its run: new each time its daemon starts.
        boot: String,
        /// Its ping interval, in milliseconds (the hub counts it dead after three).
        ping_ms: u64,
    },
    /// The head of an answer to a request; its body follows in binary frames.
    Response {
        /// The request.
        id: u32,
        /// The HTTP status.
        status: u16,
        /// Its headers.
        headers: Vec<(String, String)>,
    },
    /// Events and samples, in order.
    Reports {
        /// The run they are from.
        boot: String,
        /// Each, numbered.
        items: Vec<Report>,
    },
    /// A message of a newer version.
    #[serde(other)]
    Unknown,
}

/// Something a host reports: a service event, an alert, a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Its number in the host's run, from 1.
    pub seq: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// `service`, `alert` or `sample`.
    pub kind: String,
    /// The object, as the host's API shows it.
    pub data: serde_json::Value,
}

/// What the host signs: the hub's nonce, tied to the name and run it claims.
pub fn challenge_text(nonce: &str, name: &str, boot: &str) -> String {
    format!("ctrl-hub-link/{PROTOCOL}\n{nonce}\n{name}\n{boot}")
}

/// What a binary frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Body bytes.
    Data = 0,
    /// The body is complete.
    End = 1,
    /// The body broke off (its data: why).
    Abort = 2,
}

/// A binary frame.
pub fn frame(id: u32, kind: Kind, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + data.len());
    b.put_u32(id);
    b.put_u8(kind as u8);
    b.put_slice(data);
    b.freeze()
}

/// Reads a binary frame: id, kind and data; `None` when it is not one.
pub fn parse_frame(mut b: Bytes) -> Option<(u32, Kind, Bytes)> {
    if b.len() < 5 {
        return None;
    }
    let id = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let kind = match b[4] {
        0 => Kind::Data,
        1 => Kind::End,
        2 => Kind::Abort,
        _ => return None,
    };
    Some((id, kind, b.split_off(5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let f = frame(0x0102_0304, Kind::Data, b"hello");
        assert_eq!(&f[..5], &[1, 2, 3, 4, 0]);
        assert_eq!(parse_frame(f), Some((0x0102_0304, Kind::Data, Bytes::from_static(b"hello"))));
        assert_eq!(parse_frame(frame(7, Kind::End, b"")), Some((7, Kind::End, Bytes::new())));
        assert_eq!(parse_frame(Bytes::from_static(&[0, 0, 0, 1])), None, "too short");
        assert_eq!(parse_frame(Bytes::from_static(&[0, 0, 0, 1, 9])), None, "unknown kind");
    }

    #[test]
    fn messages_of_a_newer_version_are_unknown_not_errors() {
        let m: ToHost = serde_json::from_str(r#"{"type":"resize","cols":80}"#).unwrap();
        assert_eq!(m, ToHost::Unknown);
        let m: ToHub = serde_json::from_str(r#"{"type":"telemetry","x":1}"#).unwrap();
        assert_eq!(m, ToHub::Unknown);
        // Fields a newer version adds to a known message are ignored too.
        let m: ToHost = serde_json::from_str(r#"{"type":"ack","seq":5,"extra":true}"#).unwrap();
        assert_eq!(m, ToHost::Ack { seq: 5 });
        assert!(serde_json::from_str::<ToHost>(r#"{"type":"ack"}"#).is_err(), "a known message is whole");
    }

    #[test]
    fn requests_carry_the_role_as_a_word() {
        let m = ToHost::Request {
            id: 3,
            method: "POST".into(),
            path: "/api/services/web/stop".into(),
            headers: vec![],
            body: None,
            actor: "ada".into(),
            owner: Some("ada".into()),
            role: ctrl_core::Role::Viewer,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains(r#""type":"request""#) && text.contains(r#""role":"viewer""#), "{text}");
        assert_eq!(serde_json::from_str::<ToHost>(&text).unwrap(), m);
    }
}
