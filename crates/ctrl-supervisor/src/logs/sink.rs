//! A log file that rotates by size and keeps N old files.
//!
//! Written by hand: rotation must happen between whole lines of our own
//! format and share the file with the live followers, which no rotation crate
//! does; it is a rename loop.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ctrl_core::config::{LogFormat, LogSpec};
use tokio::sync::broadcast;

use super::Stream;
use super::follow::Chunk;

struct Open {
    file: File,
    size: u64,
}

/// One stream's log of one service: the file, its rotation, and live followers.
pub struct LogSink {
    /// Which stream this is.
    pub stream: Stream,
    path: PathBuf,
    spec: LogSpec,
    file: Mutex<Option<Open>>,
    follow: broadcast::Sender<Arc<Chunk>>,
}

impl LogSink {
    /// A sink writing to `path` (opened lazily at the first byte).
    pub fn new(path: PathBuf, stream: Stream, spec: LogSpec, follow: broadcast::Sender<Arc<Chunk>>) -> Self {
        LogSink { stream, path, spec, file: Mutex::new(None), follow }
    }

    /// Whether lines are prefixed with a timestamp and stream.
    pub fn timestamped(&self) -> bool {
        self.spec.format == LogFormat::Timestamped
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands what the child wrote to live followers, if there are any.
    pub fn publish(&self, raw: &[u8], ts: &str) {
        if self.follow.receiver_count() > 0 {
            let _ = self.follow.send(Arc::new(Chunk {
                stream: self.stream,
                ts: ts.to_owned(),
                bytes: Bytes::copy_from_slice(raw),
            }));
        }
    }

    /// Writes one line of the daemon's own (not the child's) to followers and the file.
    pub fn write_line(&self, line: &str) {
        let ts = super::timestamp();
        let text = format!("{line}\n");
        self.publish(text.as_bytes(), &ts);
        let stored = if self.timestamped() { format!("{ts} {} {text}", self.stream.as_str()) } else { text };
        if let Err(e) = self.write(stored.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write log");
        }
    }

    /// Appends bytes already in the file's format, rotating first if they would
    /// push the file past `max_size`.
    pub fn write(&self, formatted: &[u8]) -> io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let max = self.spec.max_size.0;
        if let Some(open) = guard.as_ref()
            && max > 0
            && open.size > 0
            && open.size + formatted.len() as u64 > max
        {
            *guard = None;
            // Best effort: a failed rotation must not stop the logging itself.
            if let Err(e) = self.rotate() {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot rotate the log; appending");
            }
        }
        if guard.is_none() {
            let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
            let size = file.metadata()?.len();
            *guard = Some(Open { file, size });
        }
        let Some(open) = guard.as_mut() else {
            return Ok(());
        };
        open.file.write_all(formatted)?;
        open.size += formatted.len() as u64;
        Ok(())
    }

    /// `x.log` -> `x.log.1` -> … -> `x.log.keep`; the oldest is removed.
    fn rotate(&self) -> io::Result<()> {
        let keep = self.spec.keep;
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if keep == 0 {
            return std::fs::remove_file(&self.path).or_else(ignore_missing);
        }
        std::fs::remove_file(numbered(keep)).or_else(ignore_missing)?;
        for n in (1..keep).rev() {
            std::fs::rename(numbered(n), numbered(n + 1)).or_else(ignore_missing)?;
        }
        std::fs::rename(&self.path, numbered(1)).or_else(ignore_missing)
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrl_core::config::ByteSize;

    fn sink(dir: &Path, max: u64, keep: u32) -> LogSink {
        let spec = LogSpec { max_size: ByteSize(max), keep, format: LogFormat::Raw };
        LogSink::new(dir.join("s.stdout.log"), Stream::Stdout, spec, broadcast::channel(1).0)
    }

    #[test]
    fn rotation_keeps_exactly_keep_files_of_whole_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = sink(dir.path(), 100, 2);
        for i in 0..10 {
            s.write(format!("{i:039}\n").as_bytes()).unwrap(); // 40 bytes: two fit in 100
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["s.stdout.log", "s.stdout.log.1", "s.stdout.log.2"]);
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(read("s.stdout.log"), format!("{:039}\n{:039}\n", 8, 9));
        assert_eq!(read("s.stdout.log.1"), format!("{:039}\n{:039}\n", 6, 7));
        assert_eq!(read("s.stdout.log.2"), format!("{:039}\n{:039}\n", 4, 5));
    }

    #[test]
    fn size_zero_never_rotates_and_keep_zero_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let s = sink(dir.path(), 0, 3);
        for _ in 0..100 {
            s.write(&[b'x'; 100]).unwrap();
        }
        assert_eq!(std::fs::metadata(dir.path().join("s.stdout.log")).unwrap().len(), 10_000);
        let dir = tempfile::tempdir().unwrap();
        let s = sink(dir.path(), 150, 0);
        for _ in 0..5 {
            s.write(&[b'y'; 100]).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(std::fs::metadata(dir.path().join("s.stdout.log")).unwrap().len(), 100);
    }
}
