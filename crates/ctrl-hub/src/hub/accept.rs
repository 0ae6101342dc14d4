//! `GET /hub/link`: where hosts dial in. Not behind the API's authentication: a
//! host proves itself on the link, by signing the hub's challenge with the key
//! it pinned at enrolment (or by spending its one-time token to pin one).

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ctrl_proto::ErrorEnvelope;
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{Address, Failure};

use super::{HubState, LEASE, Link};
use crate::identity;
use crate::wire::{self, PROTOCOL, ToHost, ToHub};

/// Time a host has to answer the challenge.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// The longest hello read (a real one is well under 1 KiB).
const MAX_HELLO: usize = 8 * 1024;

/// The routes hosts dial and peers relay to (public: the link authenticates
/// itself, a relayed request by its signature).
pub fn public_routes<S>() -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    HubState: FromRef<S>,
{
    ApiRouter::new().routes(routes!(link)).merge(super::relay::routes())
}

/// WS for hosts reporting to this hub (`[hub] url` on the host); JSON and binary frames of the link protocol.
#[utoipa::path(get, path = "/hub/link", tag = "hosts", security(()),
    responses((status = 101, description = "The link: challenge, hello, then requests and reports"),
        (status = 400, body = ErrorEnvelope)))]
pub async fn link(
    State(hub): State<HubState>,
    Address(address): Address,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    let ws =
        ws.map_err(|e| Failure::bad_request(format!("this path takes a WebSocket: {}", e.body_text())))?;
    // Reads of 16 KiB, not tungstenite's 128 KiB: a hub holds a buffer per host,
    // and a link carries small messages (bench/hub: 146 KiB per host before).
    Ok(ws
        .read_buffer_size(16 * 1024)
        .max_message_size(wire::MAX_FRAME)
        .on_upgrade(move |socket| handshake(hub, socket, address))
        .into_response())
}

/// Why a host was not let in: a stable code and a message for its log.
struct Refusal(&'static str, String);

async fn handshake(hub: HubState, mut socket: WebSocket, address: Option<String>) {
    if hub.stopping() {
        refuse(&mut socket, Refusal("unavailable", "the hub is stopping".into())).await;
        return;
    }
    let nonce = identity::nonce();
    let challenge = ToHost::Challenge {
        nonce: nonce.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: PROTOCOL,
        time: Utc::now(),
    };
    if send(&mut socket, &challenge).await.is_err() {
        return;
    }
    let hello = match tokio::time::timeout(HELLO_WITHIN, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) if t.len() <= MAX_HELLO => serde_json::from_str::<ToHub>(&t).ok(),
        _ => None,
    };
    let Some(ToHub::Hello { name, version, protocol, key, signature, enroll, boot, ping_ms }) = hello else {
        refuse(&mut socket, Refusal("bad_hello", "the link must start with a hello".into())).await;
        return;
    };
    let claim = Claim {
        name: &name,
        protocol,
        key: &key,
        signature: &signature,
        enroll: enroll.as_deref(),
        boot: &boot,
        nonce: &nonce,
    };
    let stored = match admit(&hub, &claim).await {
        Ok(s) => s,
        Err(r) => {
            // Noted once per address every 10 s: refusals come before anyone is known.
            let named = ctrl_core::config::valid_name(&name).then_some(name.as_str());
            if hub.note_refusal(address.as_deref(), named.unwrap_or("?")) {
                let actor = format!("host:{}", named.unwrap_or("?"));
                hub.access.audit(&actor, "host_link", named, address.clone(), "denied", Some(&r.1)).await;
                tracing::warn!(
                    host = named.unwrap_or("?"),
                    address = address.as_deref().unwrap_or("-"),
                    "link refused: {}",
                    r.1
                );
            }
            refuse(&mut socket, r).await;
            return;
        }
    };
    if stored.enrolled {
        hub.access
            .audit(&format!("host:{name}"), "host_enroll", Some(&name), address.clone(), "ok", None)
            .await;
        tracing::info!(host = %name, "host enrolled; its key is pinned");
    }
    // A link it still has (the host came back before the hub saw it go) ends
    // first, its reports stored: the mark read below is then the last word.
    if let Some(old) = hub.link(&name) {
        old.replaced();
        old.close_and_wait("replaced by a new link from the host").await;
    }
    let (link, out_rx) = Link::new(name.clone(), address.clone(), version.clone());
    let old = hub.links.write().unwrap_or_else(|p| p.into_inner()).insert(name.clone(), link.clone());
    if let Some(old) = old {
        old.replaced();
        old.close("replaced by a new link from the host");
    }
    // The row again, with the link in place: a host removed meanwhile goes (and
    // nobody hears of it), and the mark is the one its old link left.
    let stored = match hub.store.host(&name).await {
        Ok(Some(row)) => row.boot.map(|b| (b, row.seq)),
        Ok(None) => {
            hub.unlink(&link);
            return refuse(&mut socket, Refusal("unknown_host", "the host was removed".into())).await;
        }
        Err(_) => stored.mark,
    };
    // The mark to resume from: this hub's memory of the host's run, or the store's.
    let seq = match (hub.mark_of(&name, &boot), stored.filter(|(b, _)| *b == boot)) {
        (Some(a), Some((_, b))) => a.max(b),
        (Some(a), None) | (None, Some((_, a))) => a,
        (None, None) => 0,
    };
    if send(&mut socket, &ToHost::Welcome { boot: Some(boot.clone()), seq }).await.is_err() {
        hub.unlink(&link);
        return;
    }
    if let Err(e) =
        hub.store.host_linked(&name, &hub.id, Utc::now() + LEASE, &version, address.as_deref()).await
    {
        tracing::warn!(host = %name, "cannot record the link: {e}");
    }
    hub.linked(&name);
    let _ = hub.news.send(super::HostNews::Online(name.clone()));
    tracing::info!(host = %name, address = address.as_deref().unwrap_or("-"), version = %version, "host online");
    let ping = Duration::from_millis(ping_ms.clamp(100, 60_000));
    super::link::run(hub, link, socket, out_rx, ping).await;
}

/// What a hello claims.
struct Claim<'a> {
    name: &'a str,
    protocol: u32,
    key: &'a str,
    signature: &'a str,
    enroll: Option<&'a str>,
    boot: &'a str,
    nonce: &'a str,
}

/// What admitting a host found.
struct Admitted {
    /// It enrolled just now.
    enrolled: bool,
    /// The run and number of its last stored report.
    mark: Option<(String, i64)>,
}

/// Checks a hello against the host's row: its signature, its pinned key, or its
/// token (which pins the key, once).
async fn admit(hub: &HubState, c: &Claim<'_>) -> Result<Admitted, Refusal> {
    if c.protocol != PROTOCOL {
        return Err(Refusal(
            "protocol",
            format!(
                "the host speaks link protocol {}, this hub {PROTOCOL}: run the same ctrl version on both",
                c.protocol
            ),
        ));
    }
    if !ctrl_core::config::valid_name(c.name) {
        return Err(Refusal("unknown_host", "the hello's name is not a host name".into()));
    }
    let unavailable =
        |e: ctrl_store::StoreError| Refusal("unavailable", format!("the hub cannot check hosts now: {e}"));
    let Some(row) = hub.store.host(c.name).await.map_err(unavailable)? else {
        return Err(Refusal(
            "unknown_host",
            format!("no host '{}' on this hub: add it with `ctrl hosts add {}` there", c.name, c.name),
        ));
    };
    if !identity::verify(c.key, &wire::challenge_text(c.nonce, c.name, c.boot), c.signature) {
        return Err(Refusal("bad_signature", "the hello's signature does not match its key".into()));
    }
    let mark = row.boot.clone().map(|b| (b, row.seq));
    match (&row.public_key, c.enroll) {
        (Some(pinned), _) if identity::constant_eq(pinned, c.key) => Ok(Admitted { enrolled: false, mark }),
        (Some(_), Some(_)) => Err(Refusal(
            "token_used",
            format!("this enrolment token was used already: host '{}' is enrolled with another key", c.name),
        )),
        (Some(_), None) => Err(Refusal(
            "key_mismatch",
            format!("host '{}' is enrolled with another key; this is not that host", c.name),
        )),
        (None, None) => Err(Refusal(
            "not_enrolled",
            format!(
                "host '{}' has not enrolled: put the token of `ctrl hosts add` in [hub] enroll_token_file",
                c.name
            ),
        )),
        (None, Some(token)) => {
            let now = Utc::now();
            if row.enroll_expires_at.is_some_and(|t| t <= now) {
                return Err(Refusal(
                    "token_expired",
                    "the enrolment token expired: make another with `ctrl hosts add`".into(),
                ));
            }
            let hash = identity::hash(token);
            if !row.enroll_hash.as_deref().is_some_and(|h| identity::constant_eq(h, &hash)) {
                return Err(Refusal("bad_token", format!("that is not host '{}''s enrolment token", c.name)));
            }
            match hub.store.host_enroll(c.name, &hash, c.key, now).await.map_err(unavailable)? {
                true => Ok(Admitted { enrolled: true, mark: None }),
                false => Err(Refusal("token_used", "this enrolment token was used already".into())),
            }
        }
    }
}

async fn send(socket: &mut WebSocket, msg: &ToHost) -> Result<(), ()> {
    let text = serde_json::to_string(msg).map_err(|_| ())?;
    socket.send(Message::Text(text.into())).await.map_err(|_| ())
}

async fn refuse(socket: &mut WebSocket, r: Refusal) {
    let msg = ToHost::Refused { code: r.0.into(), message: r.1.clone() };
    let _ = send(socket, &msg).await;
    let bye = CloseFrame { code: 1008, reason: crate::short(&r.1).into() };
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(bye)))).await;
}
