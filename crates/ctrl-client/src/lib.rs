//! A typed async client of Control Center's API, for the CLI, the hub and tests.
//!
//! Every route of the API is a method returning its `ctrl-proto` object; the
//! live streams come as typed items over SSE ([`Events`]) or WebSocket
//! ([`Socket`]). It reaches the local daemon through its unix socket (trusted,
//! no token) or any daemon over `http://` or `https://` (the system's CA
//! certificates, or a CA file for a self-signed daemon) with a bearer token.
//! Failures keep the envelope's stable `code`, so callers branch on
//! [`Error::code`], never on message text.

mod agent;
mod api;
mod hosts;
mod knowledge;
mod llm;
mod sse;
mod transport;
pub mod ws;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use ctrl_proto::{Envelope, ErrorCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use api::JobsQuery;
pub use knowledge::{KbFiles, KbSearch};
pub use llm::LlmLog;
pub use sse::{Events, FromEvent};
pub use ws::Socket;

use transport::Endpoint;
pub use transport::HttpUrl;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon answered with an error envelope.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable code (`not_found`, `conflict`, `store_unavailable`, …).
        code: ErrorCode,
        /// The daemon's message for a person.
        message: String,
    },
    /// The daemon could not be reached (nothing listens, TLS refused).
    #[error("{0}")]
    Unreachable(String),
    /// The connection broke, or the daemon did not speak HTTP.
    #[error("{0}")]
    Broken(String),
    /// No answer within the client's timeout.
    #[error("the daemon did not answer within {0} s")]
    Timeout(u64),
    /// The answer is not what the API promises.
    #[error("{0}")]
    Protocol(String),
    /// The client was given something it cannot use (a bad URL, an unreadable CA file).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The envelope's code, when the daemon answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A connection to one daemon; cheap to clone. Each call opens its own connection.
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    token: Option<String>,
    timeout: Duration,
    /// `/api/hosts/NAME` when every call goes to a host behind the hub.
    prefix: Option<String>,
}

/// How long a one-shot call may take by default (a stop waits for the service's `stop_timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(150);

impl Client {
    /// The local daemon through its control socket.
    pub fn unix(socket: impl Into<PathBuf>) -> Client {
        Client {
            endpoint: Endpoint::Unix(socket.into()),
            token: None,
            timeout: DEFAULT_TIMEOUT,
            prefix: None,
        }
    }

    /// A daemon at `http://HOST:PORT` or `https://HOST[:PORT]`, with its API token;
    /// `ca` is a PEM file of CA certificates trusted besides the system's.
    pub fn url(url: &str, token: Option<String>, ca: Option<&Path>) -> Result<Client, Error> {
        Ok(Client { endpoint: Endpoint::from_url(url, ca)?, token, timeout: DEFAULT_TIMEOUT, prefix: None })
    }

    /// The same client with another limit on one-shot calls.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The same client talking to `host` behind the hub it reaches: every call
    /// goes to `/api/hosts/{host}/api/…`.
    pub fn for_host(mut self, host: &str) -> Client {
        self.prefix = Some(format!("/api/hosts/{}", segment(host)));
        self
    }

    /// The hub's own API, even when the client was made for one of its hosts.
    pub fn hub(&self) -> Client {
        Client { prefix: None, ..self.clone() }
    }

    /// GET `path` and decode the envelope's data.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// A request with an optional JSON body; the envelope's data.
    pub async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, Error> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::Usage(format!("cannot encode the request: {e}")))?;
        let (status, bytes) = self.raw(method, path, body).await?;
        decode(status, &bytes)
    }

    /// A request; the status and the whole body, whatever they are (`/metrics`, downloads).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let exchange = async {
            let res = self.send(method, path, body).await?;
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Broken(format!("the daemon's answer broke off: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(self.timeout.as_secs()))?
    }

    /// Opens a server-sent event stream of `T`.
    pub async fn events<T: FromEvent>(&self, path: &str) -> Result<Events<T>, Error> {
        let res = self.send(Method::GET, path, None).await?;
        if !res.status().is_success() {
            let status = res.status();
            let body = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            return Err(refusal(status, &body, "a stream"));
        }
        Ok(Events::new(res.into_body()))
    }

    /// Opens a WebSocket of `T`.
    pub async fn websocket<T: FromEvent>(&self, path: &str) -> Result<Socket<T>, Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        if self.prefix.is_some() {
            return Err(Error::Usage("WebSockets do not go through the hub; use the SSE streams".into()));
        }
        let stream = self.endpoint.connect().await?;
        let scheme = match &self.endpoint {
            Endpoint::Tcp { tls: Some(_), .. } => "wss",
            _ => "ws",
        };
        let mut req = format!("{scheme}://{}{path}", self.endpoint.host_header())
            .into_client_request()
            .map_err(|e| Error::Usage(format!("bad WebSocket path {path}: {e}")))?;
        if let Some(t) = &self.token
            && let Ok(v) = format!("Bearer {t}").parse()
        {
            req.headers_mut().insert("authorization", v);
        }
        let (ws, _) = tokio_tungstenite::client_async(req, stream).await.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(res) => {
                let status = res.status();
                refusal(status, res.body().as_deref().unwrap_or_default(), "a WebSocket")
            }
            e => Error::Broken(format!("the WebSocket handshake failed: {e}")),
        })?;
        Ok(Socket::new(ws))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, Error> {
        let path = match &self.prefix {
            Some(p) => format!("{p}{path}"),
            None => path.to_owned(),
        };
        let path = path.as_str();
        let mut req = Request::builder().method(method).uri(path).header("host", self.endpoint.host_header());
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Usage(format!("bad request for {path}: {e}")))?;
        let stream = self.endpoint.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Broken(format!("the daemon did not speak HTTP: {e}")))?;
        tokio::spawn(conn);
        sender
            .send_request(req)
            .await
            .map_err(|e| Error::Broken(format!("the daemon closed the connection without answering: {e}")))
    }
}

/// The envelope's data, or its error as [`Error::Api`].
fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, Error> {
    let env: Envelope<T> = serde_json::from_slice(body).map_err(|_| {
        Error::Protocol(format!(
            "the daemon answered {status} with something this client does not understand"
        ))
    })?;
    env.into_result().map_err(|e| Error::Api { status: status.as_u16(), code: e.code, message: e.error })
}

/// Why the daemon refused to open a stream: the error envelope it answered with.
fn refusal(status: StatusCode, body: &[u8], what: &str) -> Error {
    match decode::<serde_json::Value>(status, body) {
        Err(e) => e,
        Ok(_) => Error::Protocol(format!("the daemon answered {status} to {what}")),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("web-1.a_b"), "web-1.a_b");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
    }

    #[test]
    fn error_envelopes_keep_their_code() {
        let body = br#"{"success":false,"error":"no service named 'x'","code":"not_found"}"#;
        let e = decode::<serde_json::Value>(StatusCode::NOT_FOUND, body).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::NotFound));
        assert_eq!(e.to_string(), "no service named 'x'");
        let e = decode::<serde_json::Value>(StatusCode::BAD_GATEWAY, b"<html>").unwrap_err();
        assert_eq!(e.code(), None);
    }
}
