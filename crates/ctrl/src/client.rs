//! The CLI's side of the API: HTTP over the daemon's unix socket (trusted by
//! its file mode, no token needed) or over TCP with `--url`/`--token`.
//!
//! One code path for local and remote daemons: every command is an API call.
//! A single-threaded runtime drives hyper; the commands see a blocking API.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use ctrl_proto::Envelope;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::locate;

/// Where the daemon is, from the global flags (no `Debug`: it holds the token).
#[derive(Clone, Default, clap::Args)]
pub struct Remote {
    /// A remote daemon's API, e.g. http://10.0.0.5:8080 (default: the local daemon's socket).
    #[arg(long, global = true, env = "CTRL_URL")]
    pub url: Option<String>,
    /// The API token for --url (default: the local daemon's token, when --url is its address).
    #[arg(long, global = true, env = "CTRL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

enum Target {
    Unix { socket: PathBuf, state_dir: PathBuf },
    Tcp { addr: String },
}

/// How long a one-shot request may take (a stop waits for the service's `stop_timeout`).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(150);

/// A connection target plus the runtime that drives requests to it.
pub struct Client {
    rt: tokio::runtime::Runtime,
    target: Target,
    token: Option<String>,
    timeout: std::time::Duration,
}

impl Client {
    /// The daemon named by `--url`, or else the one of the config's state dir.
    pub fn connect(config: Option<&Path>, remote: &Remote) -> anyhow::Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (target, token) = match &remote.url {
            Some(url) => {
                let addr = parse_url(url)?;
                let token = match &remote.token {
                    Some(t) => Some(t.clone()),
                    None => local_token(config, &addr),
                };
                (Target::Tcp { addr }, token)
            }
            None => {
                let state_dir = locate::state_dir(config)?;
                (Target::Unix { socket: locate::socket_path(&state_dir)?, state_dir }, None)
            }
        };
        Ok(Client { rt, target, token, timeout: CALL_TIMEOUT })
    }

    /// The same client with another limit on one-shot calls.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// GET and decode the envelope's data.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        decode(self.call(Method::GET, path)?)
    }

    /// POST (no body) and decode the envelope's data.
    pub fn post<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        decode(self.call(Method::POST, path)?)
    }

    /// POST a JSON body and decode the envelope's data.
    pub fn post_json<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        decode(self.call_with(Method::POST, path, Some(body.to_string()))?)
    }

    /// PATCH a JSON body and decode the envelope's data.
    pub fn patch_json<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        decode(self.call_with(Method::PATCH, path, Some(body.to_string()))?)
    }

    /// DELETE and decode the envelope's data.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        decode(self.call(Method::DELETE, path)?)
    }

    /// A request; the status and the whole body.
    pub fn call(&self, method: Method, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        self.call_with(method, path, None)
    }

    fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let exchange = async {
            let res = self.send(method, path, body).await?;
            let status = res.status();
            let body = res.into_body().collect().await.context("the daemon's answer broke off")?.to_bytes();
            Ok((status, body))
        };
        self.rt
            .block_on(async { tokio::time::timeout(self.timeout, exchange).await })
            .map_err(|_| anyhow!("the daemon did not answer within {} s", self.timeout.as_secs()))?
    }

    /// Opens a server-sent event stream.
    pub fn events(&self, path: &str) -> anyhow::Result<EventStream<'_>> {
        let res = self.rt.block_on(self.send(Method::GET, path, None))?;
        if !res.status().is_success() {
            let status = res.status();
            let body = self.rt.block_on(res.into_body().collect())?.to_bytes();
            return Err(match decode::<serde_json::Value>((status, body)) {
                Err(e) => e,
                Ok(_) => anyhow!("the daemon answered {status}"),
            });
        }
        Ok(EventStream { client: self, body: res.into_body(), parser: SseParser::default() })
    }

    /// Runs `fut` on the client's runtime (for waiting on signals and timers between calls).
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<hyper::Response<Incoming>> {
        let host = match &self.target {
            Target::Unix { .. } => "localhost",
            Target::Tcp { addr } => addr.as_str(),
        };
        let mut req = Request::builder().method(method).uri(path).header("host", host);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        match &self.target {
            Target::Unix { socket, state_dir } => {
                let stream = tokio::net::UnixStream::connect(socket).await.with_context(|| {
                    format!(
                        "no daemon is running for {} (cannot connect to {}); start one with `ctrl up`",
                        state_dir.display(),
                        socket.display()
                    )
                })?;
                exchange(stream, req).await
            }
            Target::Tcp { addr } => {
                let stream = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .with_context(|| format!("cannot connect to the daemon at {addr}"))?;
                exchange(stream, req).await
            }
        }
    }
}

async fn exchange<S>(stream: S, req: Request<Full<Bytes>>) -> anyhow::Result<hyper::Response<Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("the daemon did not speak HTTP")?;
    tokio::spawn(conn);
    sender.send_request(req).await.context("the daemon closed the connection without answering")
}

/// The envelope's data, or its error message as the error.
fn decode<T: DeserializeOwned>((status, body): (StatusCode, Bytes)) -> anyhow::Result<T> {
    let env: Envelope<T> = serde_json::from_slice(&body)
        .map_err(|_| anyhow!("the daemon answered {status} with something this CLI does not understand"))?;
    env.into_result().map_err(|e| anyhow!(e.error))
}

/// `http://host:port[/]` to `host:port`.
fn parse_url(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--url must start with http:// (got '{url}')");
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        bail!("--url must be http://HOST:PORT (got '{url}')");
    }
    Ok(if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

/// The local daemon's token, but only when `addr` is where that daemon listens:
/// a token must never be sent to another host because of the folder one stands in.
fn local_token(config: Option<&Path>, addr: &str) -> Option<String> {
    let dir = locate::state_dir(config).ok()?;
    let bound = std::fs::read_to_string(dir.join("http.addr")).ok()?;
    let local =
        bound.trim() == addr || addr.strip_prefix("localhost:") == bound.trim().strip_prefix("127.0.0.1:");
    if !local {
        return None;
    }
    std::fs::read_to_string(dir.join("token")).ok().map(|s| s.trim().to_owned())
}

/// Escapes a path segment (service names are user text).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Server-sent events as they arrive.
pub struct EventStream<'a> {
    client: &'a Client,
    body: Incoming,
    parser: SseParser,
}

impl EventStream<'_> {
    /// The next event's name and data, or `None` when the daemon ended the stream.
    pub fn next_event(&mut self) -> anyhow::Result<Option<(String, String)>> {
        loop {
            if let Some(event) = self.parser.pop() {
                return Ok(Some(event));
            }
            match self.client.rt.block_on(self.body.frame()) {
                None => return Ok(None),
                Some(Err(e)) => return Err(anyhow!("the stream broke off: {e}")),
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
    fn urls_become_addresses() {
        assert_eq!(parse_url("http://127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
        assert_eq!(parse_url("http://example.org/").unwrap(), "example.org:80");
        assert_eq!(parse_url("http://[::1]:9000").unwrap(), "[::1]:9000");
        assert!(parse_url("https://example.org").is_err());
        assert!(parse_url("http://host/api").is_err());
    }

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
    fn segments_are_escaped() {
        assert_eq!(segment("web-1.a_b"), "web-1.a_b");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
    }
}
