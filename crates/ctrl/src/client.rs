//! The CLI side of the control socket: one request line, one envelope line back.
//!
//! Blocking std I/O on purpose: a one-shot command needs no async runtime, and
//! skipping it keeps `ctrl status` in the low milliseconds.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, anyhow};
use ctrl_proto::{Envelope, Request};
use serde::de::DeserializeOwned;

use crate::locate;

/// A connection to the daemon.
pub struct Client {
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the daemon of the config's state folder.
    pub fn connect(config: Option<&Path>) -> anyhow::Result<Client> {
        let dir = locate::state_dir(config)?;
        let sock = locate::socket_path(&dir)?;
        let stream = UnixStream::connect(&sock).with_context(|| {
            format!(
                "no daemon is running for {} (cannot connect to {}); start one with `ctrl up`",
                dir.display(),
                sock.display()
            )
        })?;
        Ok(Client { reader: BufReader::new(stream) })
    }

    /// Sends `req` and returns the raw answer line.
    pub fn raw(&mut self, req: &Request) -> anyhow::Result<String> {
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        self.reader.get_mut().write_all(line.as_bytes()).context("cannot talk to the daemon")?;
        self.next_line()?.ok_or_else(|| anyhow!("the daemon closed the connection without answering"))
    }

    /// Sends `req` and decodes the envelope's data; a failure becomes an error with its message.
    pub fn call<T: DeserializeOwned>(&mut self, req: &Request) -> anyhow::Result<T> {
        let line = self.raw(req)?;
        let env: Envelope<T> =
            serde_json::from_str(&line).context("the daemon sent an answer this CLI does not understand")?;
        env.into_result().map_err(|e| anyhow!(e.error))
    }

    /// The next line the daemon sends (for streams), or `None` when it hung up.
    pub fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        let mut line = String::new();
        match self.reader.read_line(&mut line)? {
            0 => Ok(None),
            _ => Ok(Some(line.trim_end_matches('\n').to_owned())),
        }
    }
}
