//! Live output for followers: raw chunks as read from the pipe, framed into lines.

use std::sync::Arc;

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

/// A line longer than this is handed out in pieces.
const MAX_LINE: usize = 64 * 1024;

/// Reassembles lines from chunks of both streams (each stream separately), one
/// line at a time: a follower holds the shared chunk and at most one partial
/// line, never a copy of every line of a big chunk.
#[derive(Default)]
pub struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    current: Option<(Arc<Chunk>, usize)>,
}

impl LineSplitter {
    /// Takes the next chunk; lines left from the previous one are dropped, so
    /// drain `next_line` first.
    pub fn feed(&mut self, chunk: Arc<Chunk>) {
        self.current = Some((chunk, 0));
    }

    /// The next complete line; `None` when the chunk is used up (a partial tail
    /// waits for the next chunk of its stream).
    pub fn next_line(&mut self) -> Option<LogLine> {
        let (chunk, pos) = self.current.as_mut()?;
        let buf = match chunk.stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let rest = &chunk.bytes[*pos..];
        let line = |text: &[u8]| LogLine {
            ts: Some(chunk.ts.clone()),
            stream: chunk.stream.as_str().into(),
            line: String::from_utf8_lossy(text).into_owned(),
        };
        match rest.iter().position(|b| *b == b'\n') {
            Some(end) => {
                *pos += end + 1;
                if buf.is_empty() {
                    return Some(line(&rest[..end]));
                }
                buf.extend_from_slice(&rest[..end]);
                let out = line(buf);
                buf.clear();
                Some(out)
            }
            None => {
                buf.extend_from_slice(rest);
                let long = (buf.len() > MAX_LINE).then(|| line(buf));
                if long.is_some() {
                    buf.clear();
                }
                self.current = None;
                long
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(stream: Stream, b: &[u8]) -> Arc<Chunk> {
        Arc::new(Chunk { stream, ts: "t".into(), bytes: Bytes::copy_from_slice(b) })
    }

    fn lines(s: &mut LineSplitter, c: Arc<Chunk>) -> Vec<LogLine> {
        s.feed(c);
        std::iter::from_fn(|| s.next_line()).collect()
    }

    #[test]
    fn partial_lines_wait_for_their_end_per_stream() {
        let mut s = LineSplitter::default();
        assert!(lines(&mut s, chunk(Stream::Stdout, b"hel")).is_empty());
        let e = lines(&mut s, chunk(Stream::Stderr, b"err\n"));
        assert_eq!((e.len(), e[0].line.as_str(), e[0].stream.as_str()), (1, "err", "stderr"));
        let o = lines(&mut s, chunk(Stream::Stdout, b"lo\n\nnext\xff\nta"));
        let text: Vec<_> = o.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(text, ["hello", "", "next\u{fffd}"]);
        assert_eq!(lines(&mut s, chunk(Stream::Stdout, b"il\n"))[0].line, "tail");
        let long = lines(&mut s, chunk(Stream::Stdout, &[b'x'; MAX_LINE + 1]));
        assert_eq!(long[0].line.len(), MAX_LINE + 1);
    }
}
