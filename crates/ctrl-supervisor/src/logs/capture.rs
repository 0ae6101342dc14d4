//! Reads one pipe of a child to its end, line-framing it into a [`LogSink`].
//!
//! Memory stays bounded: one read buffer (allocated lazily, so idle services
//! cost nothing) and at most one partial line of `MAX_LINE` bytes. A child
//! that writes faster than the disk takes is slowed by its own full pipe; the
//! supervisor never waits on it.

use std::os::fd::AsFd;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::sink::LogSink;

const READ_SIZE: usize = 256 * 1024;
/// A line longer than this is written in pieces, each marked as a line.
const MAX_LINE: usize = 64 * 1024;

/// Copies `pipe` into `sink` until EOF. A final partial line gets a newline.
pub async fn capture<R: AsyncRead + AsFd + Unpin>(pipe: R, sink: Arc<LogSink>) {
    capture_with(pipe, sink, |_| {}).await
}

/// [`capture`], also handing every complete line (without its newline) to
/// `on_line`: how jobs read their progress markers. Lines are only seen in the
/// timestamped format, which frames them.
pub async fn capture_with<R, F>(mut pipe: R, sink: Arc<LogSink>, mut on_line: F)
where
    R: AsyncRead + AsFd + Unpin,
    F: FnMut(&[u8]),
{
    // A bigger pipe means fewer wake-ups for chatty children; best effort.
    let _ = nix::fcntl::fcntl(pipe.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
    let mut buf = BytesMut::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let stream = sink.stream.as_str().as_bytes();
    loop {
        if buf.capacity() < READ_SIZE {
            buf.reserve(READ_SIZE);
        }
        let n = match pipe.read_buf(&mut buf).await {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        let ts = super::timestamp();
        if n == 0 {
            if !partial.is_empty() {
                partial.push(b'\n');
                sink.publish(b"\n", &ts);
                write_lines(&sink, &ts, stream, &partial, &mut out, &mut on_line);
            }
            return;
        }
        sink.publish(&buf, &ts);
        if sink.timestamped() {
            partial.extend_from_slice(&buf);
            let cut = match partial.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if partial.len() >= MAX_LINE => {
                    partial.push(b'\n');
                    partial.len()
                }
                None => 0,
            };
            if cut > 0 {
                let rest = partial.split_off(cut);
                write_lines(&sink, &ts, stream, &partial, &mut out, &mut on_line);
                partial = rest;
            }
        } else {
            write_file(&sink, &buf);
        }
        buf.clear();
    }
}

fn write_file(sink: &LogSink, bytes: &[u8]) {
    if let Err(e) = sink.write(bytes) {
        tracing::warn!(path = %sink.path().display(), error = %e, "cannot write log");
    }
}

/// Writes complete `lines` (each ending in `\n`), prefixed in timestamped format.
fn write_lines(
    sink: &LogSink,
    ts: &str,
    stream: &[u8],
    lines: &[u8],
    out: &mut Vec<u8>,
    on_line: &mut impl FnMut(&[u8]),
) {
    if !sink.timestamped() {
        return write_file(sink, lines);
    }
    out.clear();
    for line in lines.split_inclusive(|b| *b == b'\n') {
        on_line(line.strip_suffix(b"\n").unwrap_or(line));
        out.extend_from_slice(ts.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream);
        out.push(b' ');
        out.extend_from_slice(line);
    }
    write_file(sink, out);
    if out.capacity() > 4 * READ_SIZE {
        *out = Vec::new();
    }
}
