//! Live output for followers: raw chunks as read from the pipe, framed into lines.

use bytes::Bytes;
use ctrl_proto::LogLine;

use super::Stream;

/// Bytes one read of a pipe returned, with when and from where.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The pipe.
    pub stream: Stream,
    /// When it was read (RFC 3339).
    pub ts: String,
    /// What the child wrote.
    pub bytes: Bytes,
}

/// Reassembles lines from chunks of both streams, each stream separately.
#[derive(Default)]
pub struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    /// The complete lines this chunk finishes; a partial tail is kept for later.
    pub fn push(&mut self, chunk: &Chunk) -> Vec<LogLine> {
        let buf = match chunk.stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        buf.extend_from_slice(&chunk.bytes);
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            if buf.len() > 64 * 1024 {
                let line = String::from_utf8_lossy(buf).into_owned();
                buf.clear();
                return vec![LogLine {
                    ts: Some(chunk.ts.clone()),
                    stream: chunk.stream.as_str().into(),
                    line,
                }];
            }
            return Vec::new();
        };
        let rest = buf.split_off(end + 1);
        let lines = buf[..end]
            .split(|b| *b == b'\n')
            .map(|l| LogLine {
                ts: Some(chunk.ts.clone()),
                stream: chunk.stream.as_str().into(),
                line: String::from_utf8_lossy(l).into_owned(),
            })
            .collect();
        *buf = rest;
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(stream: Stream, b: &[u8]) -> Chunk {
        Chunk { stream, ts: "t".into(), bytes: Bytes::copy_from_slice(b) }
    }

    #[test]
    fn partial_lines_wait_for_their_end_per_stream() {
        let mut s = LineSplitter::default();
        assert!(s.push(&chunk(Stream::Stdout, b"hel")).is_empty());
        let e = s.push(&chunk(Stream::Stderr, b"err\n"));
        assert_eq!((e.len(), e[0].line.as_str(), e[0].stream.as_str()), (1, "err", "stderr"));
        let o = s.push(&chunk(Stream::Stdout, b"lo\n\nnext\xff\nta"));
        let lines: Vec<_> = o.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(lines, ["hello", "", "next\u{fffd}"]);
        assert_eq!(s.push(&chunk(Stream::Stdout, b"il\n"))[0].line, "tail");
    }
}
