//! Requests over the daemon's unix control socket: one JSON object per line.

use serde::{Deserialize, Serialize};

/// Which captured stream to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Both, in time order.
    #[default]
    All,
}

/// A control request. The answer is one envelope line, except for a following
/// `logs`, which streams `LogLine` objects, one per line, until the client hangs up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// All services.
    Status,
    /// Start one service, or all with `name = None`.
    Start {
        /// The service, or every service.
        name: Option<String>,
    },
    /// Stop one service, or all in reverse dependency order.
    Stop {
        /// The service, or every service.
        name: Option<String>,
    },
    /// Restart one service, or all.
    Restart {
        /// The service, or every service.
        name: Option<String>,
    },
    /// The last lines of a service's output, optionally followed.
    Logs {
        /// The service.
        name: String,
        /// How many lines back.
        lines: usize,
        /// Which stream.
        #[serde(default)]
        stream: LogStream,
        /// Keep streaming new lines.
        #[serde(default)]
        follow: bool,
    },
    /// A service's recent state transitions.
    Events {
        /// The service.
        name: String,
        /// How many.
        limit: u32,
    },
    /// Re-read the config and apply the difference.
    Reload,
}
