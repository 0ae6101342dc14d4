//! A host's side: dial the hub, prove who it is, answer the hub's requests
//! through the host's own API, and report events and samples — kept while the
//! link is down and sent again, in order, once it is back.
//!
//! One task owns the link. It dials out (NAT-friendly), looking the hub's name
//! up again each time, and waits a jittered 1–30 s between attempts. Nothing
//! here touches the host's services: a hub that is down, unknown or refusing
//! only shows in the log.

mod outbox;
mod preflight;
mod serve;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ctrl_client::HttpUrl;
use ctrl_core::config::HubConfig;
use ctrl_web::{Loopback, Principal};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub use outbox::Outbox;
pub use preflight::preflight;

use crate::identity::{self, Identity};
use crate::tofu::{self, Pinning};
use crate::wire::{self, PROTOCOL, ToHost, ToHub};

/// Time to connect, shake hands and be welcomed.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// Reports per message.
const BATCH: usize = 256;
/// Written in the state dir once a hub welcomed this host (it is enrolled there).
pub const ENROLLED_FILE: &str = "hub.enrolled";
/// A clock this far from the hub's is worth a warning.
const CLOCK_SKEW: i64 = 60;

/// Why the uplink could not start.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The key could not be read or made.
    #[error(transparent)]
    Key(#[from] identity::KeyError),
    /// The hub's address or CA is unusable.
    #[error("[hub] {0}")]
    Config(String),
}

/// The host's link to its hub; cheap to clone.
#[derive(Clone)]
pub struct Uplink(Arc<Inner>);

struct Inner {
    outbox: Mutex<Outbox>,
    wake: Notify,
    stop: watch::Sender<bool>,
    /// This run of the daemon.
    boot: String,
    /// The task that owns the link, until `close` waits for it.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What one link needs.
struct Setup {
    name: String,
    url: String,
    authority: String,
    host: String,
    tls: Option<tokio_rustls::TlsConnector>,
    pin: Arc<Pinning>,
    identity: Identity,
    token_file: Option<PathBuf>,
    state_dir: PathBuf,
    ping: Duration,
    api: Loopback,
}

impl Uplink {
    /// Starts dialling the hub of `config`, answering through `api`.
    pub fn start(config: &HubConfig, state_dir: &Path, api: Loopback) -> Result<Uplink, UplinkError> {
        let identity = Identity::load_or_create(state_dir)?;
        let HttpUrl { tls, authority, host } =
            HttpUrl::parse(&config.url).map_err(|e| UplinkError::Config(e.to_string()))?;
        let pin = Arc::new(Pinning::load(state_dir));
        let tls = match tls {
            true => Some(tokio_rustls::TlsConnector::from(
                tofu::client_config(config.ca.as_deref(), pin.clone()).map_err(UplinkError::Config)?,
            )),
            false => None,
        };
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let loopback = ["127.", "localhost:", "[::1]:"].iter().any(|p| authority.starts_with(p));
        if tls.is_none() && !loopback {
            tracing::warn!(
                hub = %authority,
                "[hub] url is http://: anyone on the way can read the link and act on this host as the hub; use https://"
            );
        }
        let setup = Setup {
            name: config.name.clone().unwrap_or_else(crate::hub::hostname),
            url: format!("{scheme}://{authority}/hub/link"),
            authority,
            host,
            tls,
            pin,
            identity,
            token_file: config.enroll_token_file.clone(),
            state_dir: state_dir.to_path_buf(),
            ping: config.ping.0,
            api,
        };
        let inner = Arc::new(Inner {
            outbox: Mutex::default(),
            wake: Notify::new(),
            stop: watch::channel(false).0,
            boot: identity::nonce(),
            task: Mutex::default(),
        });
        let task = tokio::spawn(run(inner.clone(), setup));
        *inner.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(Uplink(inner))
    }

    /// Reports something to the hub (now, or once the link is back).
    pub fn report(&self, kind: &str, data: serde_json::Value, at: DateTime<Utc>) {
        self.0.outbox.lock().unwrap_or_else(|p| p.into_inner()).push(kind, data, at, Instant::now());
        self.0.wake.notify_one();
    }

    /// Sends what is left (for at most 2 s) and closes the link.
    pub async fn close(&self) {
        let _ = self.0.stop.send(true);
        let task = self.0.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }
}

/// The pause before attempt `attempt` (0 after a link that was up): a random
/// time between 1 s and 2^(attempt+1) s, at most 30 s, so that hosts cut off
/// together do not all come back in the same second. `r` is uniform in [0, 1).
pub fn backoff(attempt: u32, r: f64) -> Duration {
    let top = 2f64.powi(attempt.min(5) as i32 + 1).min(30.0);
    Duration::from_secs_f64(1.0 + (top - 1.0) * r.clamp(0.0, 1.0))
}

/// How a link ended.
enum Ended {
    /// The daemon stops.
    Stopped,
    /// It was up, then broke.
    Lost(String),
}

async fn run(inner: Arc<Inner>, setup: Setup) {
    let mut attempt = 0u32;
    let mut stop = inner.stop.subscribe();
    loop {
        match link(&inner, &setup).await {
            Ok(Ended::Stopped) => break,
            Ok(Ended::Lost(why)) => {
                tracing::warn!(hub = %setup.authority, "the link to the hub broke ({why}); dialling again");
                attempt = 0;
            }
            Err(why) => {
                tracing::warn!(hub = %setup.authority, "cannot link to the hub: {why}");
                attempt = attempt.saturating_add(1);
            }
        }
        let pause = backoff(attempt, rand::random::<f64>());
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = crate::until(&mut stop, |s| *s) => break,
        }
    }
}

/// Any byte stream the WebSocket runs over (TCP, or TLS over TCP).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects, shakes hands and is welcomed: the open socket.
async fn dial(
    inner: &Inner,
    s: &Setup,
) -> Result<(tokio_tungstenite::WebSocketStream<Box<dyn Io>>, i64, Option<tofu::Pin>), String> {
    s.pin.begin();
    // A fresh lookup every time: the hub may have moved.
    let tcp = tokio::net::TcpStream::connect(&s.authority)
        .await
        .map_err(|e| format!("cannot reach {}: {e}", s.authority))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = match &s.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from(s.host.clone())
                .map_err(|_| format!("'{}' is not a name TLS can check", s.host))?;
            Box::new(
                tls.connect(name, tcp).await.map_err(|e| format!("TLS with {} failed: {e}", s.authority))?,
            )
        }
    };
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(wire::MAX_FRAME);
    config.max_frame_size = Some(wire::MAX_FRAME);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(s.url.as_str(), io, Some(config))
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(res) => {
                format!("{} answered {} instead of a link: is it a ctrl hub?", s.authority, res.status())
            }
            e => format!("the WebSocket handshake with {} failed: {e}", s.authority),
        })?;
    let Some(ToHost::Challenge { nonce, protocol, time, version }) = next_message(&mut ws).await? else {
        return Err("the hub did not start with a challenge".into());
    };
    let skew = (Utc::now() - time).num_seconds();
    if skew.abs() > CLOCK_SKEW {
        tracing::warn!("this host's clock is {skew} s off the hub's: event times will not line up");
    }
    if protocol != PROTOCOL {
        return Err(format!(
            "the hub (ctrl {version}) speaks link protocol {protocol}, this host {PROTOCOL}"
        ));
    }
    let enroll = match &s.token_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t.trim().to_owned()).filter(|t| !t.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read the enrolment token {}: {e}", f.display())),
        },
        None => None,
    };
    let hello = ToHub::Hello {
        name: s.name.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: PROTOCOL,
        key: s.identity.public_key(),
        signature: s.identity.sign(&wire::challenge_text(&nonce, &s.name, &inner.boot)),
        enroll,
        boot: inner.boot.clone(),
        ping_ms: u64::try_from(s.ping.as_millis()).unwrap_or(15_000),
    };
    let text = serde_json::to_string(&hello).map_err(|e| e.to_string())?;
    ws.send(Message::Text(text.into())).await.map_err(|e| format!("the link broke: {e}"))?;
    match next_message(&mut ws).await? {
        Some(ToHost::Welcome { boot, seq }) => {
            let seq = if boot.as_deref() == Some(inner.boot.as_str()) { seq } else { 0 };
            let pinned = s.pin.record().map_err(|e| format!("cannot keep the hub's certificate: {e}"))?;
            let mark = s.state_dir.join(ENROLLED_FILE);
            if !mark.exists() {
                let _ = std::fs::write(&mark, format!("{}\n", s.url));
            }
            Ok((ws, seq, pinned))
        }
        Some(ToHost::Refused { code, message }) => {
            Err(format!("the hub refused this host ({code}): {message}"))
        }
        _ => Err("the hub did not answer the hello".into()),
    }
}

/// The next JSON message of the handshake.
async fn next_message<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Result<Option<ToHost>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let m = tokio::time::timeout(CONNECT_WITHIN, ws.next())
            .await
            .map_err(|_| "the hub did not answer within 10 s")?;
        match m {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).ok()),
            Some(Ok(Message::Close(f))) => {
                return Err(format!(
                    "the hub closed the link: {}",
                    f.map(|f| f.reason.to_string()).unwrap_or_default()
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("the link broke: {e}")),
            None => return Err("the hub closed the link".into()),
        }
    }
}

/// One link, from dialling to its end.
async fn link(inner: &Arc<Inner>, s: &Setup) -> Result<Ended, String> {
    let (ws, stored, pinned) = tokio::time::timeout(CONNECT_WITHIN * 2, dial(inner, s))
        .await
        .map_err(|_| format!("{} did not let this host in within 20 s", s.authority))??;
    match pinned {
        Some(tofu::Pin::Cert(fp)) => {
            tracing::info!(hub = %s.authority, "trusting the hub's certificate from now on (pinned sha256:{fp})");
        }
        Some(tofu::Pin::System) => {
            tracing::info!(hub = %s.authority, "the system's CAs vouch for the hub: holding it to that from now on");
        }
        None => {}
    }
    let dropped = {
        let mut outbox = inner.outbox.lock().unwrap_or_else(|p| p.into_inner());
        outbox.rewind(stored);
        std::mem::take(&mut outbox.dropped)
    };
    if dropped > 0 {
        tracing::warn!(
            "{dropped} reports never reached the hub (older than 10 minutes, or too many while cut off)"
        );
    }
    tracing::info!(hub = %s.authority, name = %s.name, "linked to the hub");
    let (mut sink, mut stream) = ws.split();
    let (out, mut out_rx) = mpsc::channel::<Message>(256);
    // A write that takes three pings means the hub is gone (a half-open
    // connection): the writer ends, and with it the link.
    let limit = s.ping * 3;
    let mut writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if !matches!(tokio::time::timeout(limit, sink.send(m)).await, Ok(Ok(()))) || close {
                break;
            }
        }
    });
    let answers = serve::Answers::default();
    let mut stop = inner.stop.subscribe();
    let mut ping = tokio::time::interval(s.ping);
    ping.tick().await;
    let mut quiet_since = Instant::now();
    let ended = loop {
        send_reports(inner, &out).await;
        tokio::select! {
            m = stream.next() => {
                quiet_since = Instant::now();
                let m = match m {
                    None => break Ended::Lost("the hub closed the connection".into()),
                    Some(Err(e)) => break Ended::Lost(e.to_string()),
                    Some(Ok(m)) => m,
                };
                match m {
                    Message::Text(t) => match serde_json::from_str::<ToHost>(&t) {
                        Ok(ToHost::Request { id, method, path, headers, body, actor, owner, role }) => {
                            let owner = format!("hub:{}", owner.as_deref().unwrap_or(&actor)).into();
                            let p = Principal { actor: format!("hub:{actor}").into(), role, csrf: None, session: None, owner };
                            match serve::request(&method, &path, &headers, body) {
                                Ok(req) => answers.start(&s.api, &out, id, req, p),
                                Err(e) => serve::refuse(&out, id, &e).await,
                            }
                        }
                        Ok(ToHost::Credit { id, bytes }) => answers.credit(id, bytes),
                        Ok(ToHost::Cancel { id }) => answers.cancel(id),
                        Ok(ToHost::Ack { seq }) => inner.outbox.lock().unwrap_or_else(|p| p.into_inner()).ack(seq),
                        Ok(ToHost::Unknown) => tracing::debug!("skipped a message of a newer hub"),
                        Ok(other) => tracing::debug!("an unexpected message from the hub: {other:?}"),
                        Err(e) => tracing::warn!("a message from the hub this host cannot read: {e}"),
                    },
                    Message::Close(f) => {
                        let why = f.map(|f| f.reason.to_string()).filter(|r| !r.is_empty());
                        break Ended::Lost(why.unwrap_or_else(|| "the hub closed the link".into()));
                    }
                    _ => {}
                }
            }
            _ = inner.wake.notified() => {}
            _ = &mut writer => break Ended::Lost("cannot write to the hub".into()),
            _ = ping.tick() => {
                if quiet_since.elapsed() > s.ping * 3 {
                    break Ended::Lost(format!("no word from the hub for {} s", (s.ping * 3).as_secs()));
                }
                if out.send(Message::Ping(Default::default())).await.is_err() {
                    break Ended::Lost("the connection broke".into());
                }
            }
            _ = crate::until(&mut stop, |s| *s) => {
                send_reports(inner, &out).await;
                flush(inner, &mut stream).await;
                break Ended::Stopped;
            }
        }
    };
    answers.cancel_all();
    let _ = tokio::time::timeout(Duration::from_secs(1), out.send(Message::Close(None))).await;
    drop(out);
    if !writer.is_finished() && tokio::time::timeout(Duration::from_secs(1), &mut writer).await.is_err() {
        writer.abort();
    }
    Ok(ended)
}

/// Sends every report not sent on this link yet.
async fn send_reports(inner: &Inner, out: &mpsc::Sender<Message>) {
    loop {
        let items = inner.outbox.lock().unwrap_or_else(|p| p.into_inner()).unsent(BATCH);
        if items.is_empty() {
            return;
        }
        let msg = ToHub::Reports { boot: inner.boot.clone(), items };
        let Ok(text) = serde_json::to_string(&msg) else { return };
        if out.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

/// At shutdown: waits (at most 2 s) for the hub to acknowledge what was sent.
async fn flush<S>(inner: &Inner, stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !inner.outbox.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Ok(ToHost::Ack { seq }) = serde_json::from_str(&t) {
                    inner.outbox.lock().unwrap_or_else(|p| p.into_inner()).ack(seq);
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_between_one_and_thirty_seconds() {
        assert_eq!(backoff(0, 0.5), Duration::from_secs_f64(1.5), "after a link that was up: 1-2 s");
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(1, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(2, 0.5), Duration::from_secs_f64(4.5));
        assert_eq!(backoff(9, 1.0), Duration::from_secs(30), "capped");
        assert_eq!(backoff(u32::MAX, 0.0), Duration::from_secs(1));
        assert!(backoff(5, 0.25) < backoff(5, 0.75), "spread, not one instant");
    }
}
