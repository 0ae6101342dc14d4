//! Service output: captured from pipes into rotating files, read back, followed.
//!
//! Files live at `<state_dir>/logs/<service>.stdout.log` and `.stderr.log`;
//! rotated files get `.1`, `.2`, …. Timestamped lines look like
//! `2026-11-21T21:51:35.123456Z stdout the line`.

mod capture;
mod follow;
mod read;
mod sink;

use std::path::{Path, PathBuf};

pub use capture::{capture, capture_with};
pub use follow::{Chunk, LineSplitter};
pub use read::{last_lines, last_lines_of};
pub use sink::LogSink;

/// Which pipe a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The current log file of one stream of one service.
pub fn log_path(state_dir: &Path, service: &str, stream: Stream) -> PathBuf {
    state_dir.join("logs").join(format!("{service}.{}.log", stream.as_str()))
}

/// Now, as log lines and chunks carry it (RFC 3339, microseconds).
pub fn timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The folder of the service logs.
pub fn logs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("logs")
}
