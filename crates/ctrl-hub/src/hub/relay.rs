//! Several hubs on one PostgreSQL database (`[storage] shared`), behind one
//! address. A host's link is held by one of them (`hosts.hub`, with a lease); a
//! request for that host that reaches another hub is relayed to the holder, at
//! the address the holder announced in `hubs`, and the answer streams back.
//!
//! The relaying hub has checked who asks (and audits it); the holder believes it
//! because the request is signed with the relaying hub's key of this run, whose
//! public half only a hub on the database could have written. A signature covers
//! both hubs, the time, a nonce seen once, the request and its body.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use ctrl_core::hex::hex;
use ctrl_proto::{ErrorCode, HostInfo};
use ctrl_store::HubRow;
use ctrl_web::client::Http;
use ctrl_web::{Address, ApiRouter, Failure};
use sha2::{Digest, Sha256};

use super::{Ask, Head, HubState, LEASE, proxy};
use crate::identity;

const FROM: HeaderName = HeaderName::from_static("x-ctrl-hub");
const AT: HeaderName = HeaderName::from_static("x-ctrl-hub-at");
const NONCE: HeaderName = HeaderName::from_static("x-ctrl-hub-nonce");
const SIGNATURE: HeaderName = HeaderName::from_static("x-ctrl-hub-signature");
const ACTOR: HeaderName = HeaderName::from_static("x-ctrl-hub-actor");
const OWNER: HeaderName = HeaderName::from_static("x-ctrl-hub-owner");
const ROLE: HeaderName = HeaderName::from_static("x-ctrl-hub-role");
/// Marks an answer as the holder's own refusal, not the host's answer.
const REFUSED: HeaderName = HeaderName::from_static("x-ctrl-hub-refused");

/// How far a relayed request's clock may be from the holder's.
const SKEW: Duration = Duration::from_secs(60);
/// The longest a peer has to answer a relayed request's head (as long as the API
/// gives any request: an action run on a host may take that long).
const ANSWER_WITHIN: Duration = Duration::from_secs(120);
/// The longest a peer's refusal is read, and its largest size.
const REFUSAL_WITHIN: Duration = Duration::from_secs(5);
const MAX_REFUSAL: usize = 64 * 1024;
/// The longest a peer has to list its hosts.
const LIST_WITHIN: Duration = Duration::from_secs(2);

/// The holder's routes: relayed requests, and the hosts it holds (public: each
/// request proves itself by its signature).
pub(super) fn routes<S>() -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    HubState: FromRef<S>,
{
    ApiRouter::new()
        .route("/hub/relay/{name}/{*rest}", axum::routing::any(answer))
        .route("/hub/hosts", axum::routing::get(held))
}

/// What a peer needs to reach a hub: where, and which certificate to hold it to.
#[derive(Debug, Clone)]
pub struct Advert {
    /// `http(s)://host:port`.
    pub address: String,
    /// The SHA-256 (hex) of its TLS certificate, when it serves HTTPS.
    pub cert_sha256: Option<String>,
}

/// Relaying state: this run's key, the clients to each peer, nonces seen.
pub(super) struct Relay {
    pub(super) key: identity::Identity,
    pub(super) advert: Advert,
    clients: Mutex<HashMap<(String, Option<String>), Http>>,
    nonces: Mutex<HashMap<String, Instant>>,
}

impl Relay {
    pub(super) fn new(key: identity::Identity, advert: Advert) -> Relay {
        Relay { key, advert, clients: Mutex::default(), nonces: Mutex::default() }
    }

    /// The client for `peer` (pooled connections; its certificate pinned).
    fn client(&self, peer: &HubRow) -> Result<Http, String> {
        let key = (peer.address.clone(), peer.cert_sha256.clone());
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = match &peer.cert_sha256 {
            Some(fp) => {
                let pin =
                    std::sync::Arc::new(crate::tofu::Pinning::fixed(crate::tofu::Pin::Cert(fp.clone())));
                let tls = crate::tofu::client_config(None, pin)?;
                ctrl_web::client::client_with((*tls).clone())
            }
            None => ctrl_web::client::client(),
        };
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Whether `nonce` is new (and notes it); nonces older than twice the skew go.
    fn fresh(&self, nonce: &str) -> bool {
        let now = Instant::now();
        let mut seen = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, t| now.duration_since(*t) < 2 * SKEW);
        }
        seen.insert(nonce.to_owned(), now).is_none()
    }
}

/// What a relayed request's signature covers.
#[derive(Clone, Copy)]
struct Signed<'a> {
    from: &'a str,
    to: &'a str,
    at: i64,
    nonce: &'a str,
    method: &'a str,
    target: &'a str,
    who: [&'a str; 3],
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl Signed<'_> {
    fn text(&self) -> String {
        let asked: Vec<&str> = proxy::ASKED
            .iter()
            .map(|h| self.headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default())
            .collect();
        format!(
            "ctrl-hub-relay/1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.from,
            self.to,
            self.at,
            self.nonce,
            self.method,
            self.target,
            self.who.join("\n"),
            asked.join("\n"),
            hex(&Sha256::digest(self.body)),
        )
    }
}

/// The hub that holds `name`'s link now, when it is another live hub on a
/// shared database (and not this hub's own previous run).
pub(super) async fn holder(hub: &HubState, row: &ctrl_store::HostRow) -> Option<HubRow> {
    peer(hub, held_by(hub, row)?).await
}

/// Another hub whose lease on `row`'s link is valid, on a shared database.
pub(super) fn held_by<'r>(hub: &HubState, row: &'r ctrl_store::HostRow) -> Option<&'r str> {
    hub.relay.as_ref()?;
    let holder = row.hub.as_deref().filter(|h| *h != hub.id)?;
    row.lease_until.is_some_and(|t| t > Utc::now()).then_some(holder)
}

/// Hub `name`, when it is live (renewed its row within a lease) and not this
/// hub's own previous run (which announced the same address).
pub(super) async fn peer(hub: &HubState, name: &str) -> Option<HubRow> {
    let relay = hub.relay.as_ref()?;
    let peer = hub.store.hub(name).await.ok()??;
    let mine = relay.advert.address == peer.address;
    (!mine && peer.seen_at + LEASE > Utc::now()).then_some(peer)
}

/// Sends `ask` for `name` to `peer`, signed; the host's answer as the peer
/// passed it on, or why there is none.
pub(super) async fn request(
    hub: &HubState,
    peer: &HubRow,
    name: &str,
    ask: Ask,
) -> Result<(Head, Body), String> {
    let target = format!("/hub/relay/{name}{}", ask.path);
    let method = Method::from_bytes(ask.method.as_bytes()).map_err(|_| "a bad method".to_owned())?;
    let mut headers = HeaderMap::new();
    for (k, v) in &ask.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            headers.insert(k, v);
        }
    }
    let body = Bytes::from(ask.body.unwrap_or_default());
    let who = [ask.actor.as_str(), ask.owner.as_str(), ask.role.as_str()];
    let fut = send(hub, peer, method, &target, who, headers, body);
    let res = tokio::time::timeout(ANSWER_WITHIN, fut)
        .await
        .map_err(|_| format!("hub {} did not answer in time", peer.name))??;
    let (parts, body) = res.into_parts();
    if parts.headers.contains_key(REFUSED) {
        let read = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_REFUSAL));
        let why = match tokio::time::timeout(REFUSAL_WITHIN, read).await {
            Ok(Ok(b)) => b.to_bytes(),
            _ => Bytes::new(),
        };
        let why: serde_json::Value = serde_json::from_slice(&why).unwrap_or_default();
        let why = why["error"]["message"].as_str().unwrap_or("refused").to_owned();
        return Err(format!("hub {} holds the host's link but {why}", peer.name));
    }
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    Ok((Head { status: parts.status.as_u16(), headers }, Body::new(body)))
}

/// The hosts whose links `peer` holds, as it lists them.
pub(super) async fn listed_by(hub: &HubState, peer: &HubRow) -> Result<Vec<HostInfo>, String> {
    let fut = async {
        let res =
            send(hub, peer, Method::GET, "/hub/hosts", ["", "", ""], HeaderMap::new(), Bytes::new()).await?;
        if !res.status().is_success() {
            return Err(format!("hub {} answered {}", peer.name, res.status()));
        }
        let body = http_body_util::Limited::new(res.into_body(), 16 * 1024 * 1024);
        let bytes = http_body_util::BodyExt::collect(body).await.map_err(|e| e.to_string())?.to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    tokio::time::timeout(LIST_WITHIN, fut)
        .await
        .map_err(|_| format!("hub {} did not answer in time", peer.name))?
}

async fn send(
    hub: &HubState,
    peer: &HubRow,
    method: Method,
    target: &str,
    who: [&str; 3],
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::Response<hyper::body::Incoming>, String> {
    let relay = hub.relay.as_ref().ok_or("this hub does not share its database")?;
    let (at, nonce) = (Utc::now().timestamp_millis(), identity::nonce());
    let signed = Signed {
        from: &hub.id,
        to: &peer.name,
        at,
        nonce: &nonce,
        method: method.as_str(),
        target,
        who,
        headers: &headers,
        body: &body,
    };
    let signature = relay.key.sign(&signed.text());
    let mut put = |k: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::try_from(v) {
            headers.insert(k, v);
        }
    };
    put(FROM, &hub.id);
    put(AT, &at.to_string());
    put(NONCE, &nonce);
    put(SIGNATURE, &signature);
    // Names are the hub's own (users, tokens): hex keeps any byte out of the head.
    put(ACTOR, &hex(who[0].as_bytes()));
    put(OWNER, &hex(who[1].as_bytes()));
    put(ROLE, who[2]);
    let mut req = axum::http::Request::new(http_body_util::Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = format!("{}{target}", peer.address).parse().map_err(|e| format!("{e}"))?;
    *req.headers_mut() = headers;
    relay.client(peer)?.request(req).await.map_err(|e| format!("hub {} cannot be reached: {e}", peer.name))
}

/// What a request that does not prove itself is told.
const NOT_SIGNED: &str = "not a request signed by a hub of this database";

/// A refusal of the holder's own (not the host's answer).
fn refused(code: ErrorCode, why: impl Into<String>) -> Response {
    let mut res = Failure::new(code, why).into_response();
    res.headers_mut().insert(REFUSED, HeaderValue::from_static("1"));
    res
}

/// Checks a relayed request's signature; who it is for when it holds.
async fn verify(
    hub: &HubState,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<[String; 3], String> {
    let relay = hub.relay.as_ref().ok_or("this hub does not share its database")?;
    let get = |h: &HeaderName| parts.headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (from, nonce, signature) = (get(&FROM), get(&NONCE), get(&SIGNATURE));
    let at: i64 = get(&AT).parse().map_err(|_| "no time")?;
    let skew = Utc::now().timestamp_millis().abs_diff(at);
    if skew > SKEW.as_millis() as u64 {
        return Err(format!("its clock is {} s off", skew / 1000));
    }
    let peer =
        hub.store.hub(from).await.ok().flatten().ok_or_else(|| format!("no hub '{from}' on the database"))?;
    if peer.seen_at + 2 * LEASE < Utc::now() {
        return Err(format!("hub '{from}' has not renewed its row since {}", peer.seen_at.to_rfc3339()));
    }
    let unhex = |h: &HeaderName| identity::unhex(get(h)).and_then(|v| String::from_utf8(v).ok());
    let (actor, owner) = (unhex(&ACTOR).ok_or("a bad actor")?, unhex(&OWNER).ok_or("a bad owner")?);
    let role = get(&ROLE).to_owned();
    let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let signed = Signed {
        from,
        to: &hub.id,
        at,
        nonce,
        method: parts.method.as_str(),
        target,
        who: [&actor, &owner, &role],
        headers: &parts.headers,
        body,
    };
    if !identity::verify(&peer.public_key, &signed.text(), signature) {
        return Err(format!("a bad signature from '{from}'"));
    }
    if !relay.fresh(nonce) {
        return Err("a request seen before".into());
    }
    Ok([actor, owner, role])
}

/// `ANY /hub/relay/{name}/…`: a peer's request for a host whose link is here.
async fn answer(State(hub): State<HubState>, Address(address): Address, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, proxy::MAX_BODY).await else {
        return refused(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {} KiB", proxy::MAX_BODY / 1024),
        );
    };
    let [actor, owner, role] = match verify(&hub, &parts, &body).await {
        Ok(who) => who,
        Err(why) => {
            if hub.note_refusal(address.as_deref(), "relay") {
                tracing::warn!(
                    address = address.as_deref().unwrap_or("-"),
                    "a relayed request refused: {why}"
                );
            }
            // The detail is for this hub's log, not for whoever knocked.
            return refused(ErrorCode::Unauthorized, NOT_SIGNED);
        }
    };
    let Some(role) = ctrl_core::Role::parse(&role) else {
        return refused(ErrorCode::Validation, "a bad role");
    };
    let raw = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let Some((name, path)) = raw.strip_prefix("/hub/relay/").and_then(|r| r.split_once('/')) else {
        return refused(ErrorCode::Validation, "a bad host path");
    };
    let Some(link) = hub.link(name) else {
        return refused(ErrorCode::HostOffline, format!("host '{name}' is not linked here any more"));
    };
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return refused(ErrorCode::Validation, "the body must be UTF-8 (JSON)");
    };
    let ask = Ask {
        method: parts.method.as_str().to_owned(),
        path: format!("/{path}"),
        headers: proxy::asked(&parts.headers),
        body: (!body.is_empty()).then_some(body),
        actor,
        owner,
        role,
    };
    match link.request(ask).await {
        // Passed on as the relaying hub would take it from a link: a status a
        // client can be given, only the headers it keeps (never this hub's marks).
        Ok((head, stream)) => {
            let mut res = Response::new(Body::from_stream(stream));
            *res.status_mut() = proxy::status_of(head.status);
            proxy::pass_answer_headers(&mut res, head.headers);
            res
        }
        Err(why) => refused(ErrorCode::HostOffline, why),
    }
}

/// `GET /hub/hosts`: the hosts whose links are here, for a peer's list.
async fn held(State(hub): State<HubState>, Address(address): Address, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    if let Err(why) = verify(&hub, &parts, &[]).await {
        if hub.note_refusal(address.as_deref(), "relay") {
            tracing::warn!(address = address.as_deref().unwrap_or("-"), "a peer's list refused: {why}");
        }
        return refused(ErrorCode::Unauthorized, NOT_SIGNED);
    }
    let rows = match hub.store.hosts().await {
        Ok(rows) => rows,
        Err(e) => return Failure::from(e).into_response(),
    };
    let mine: Vec<HostInfo> =
        rows.iter().filter(|r| hub.link(&r.name).is_some()).map(|r| super::routes::info(&hub, r)).collect();
    let mut res = axum::Json(mine).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_both_hubs_the_time_the_request_and_its_body() {
        let key = identity::Identity::ephemeral().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let signed = Signed {
            from: "hub-a:1",
            to: "hub-b:2",
            at: 1_700_000_000_000,
            nonce: "n1",
            method: "POST",
            target: "/hub/relay/web-1/api/services/idle/stop",
            who: ["ann", "ann", "operator"],
            headers: &headers,
            body: b"{}",
        };
        let signature = key.sign(&signed.text());
        assert!(identity::verify(&key.public_key(), &signed.text(), &signature));
        let other_headers = HeaderMap::new();
        let changed = [
            Signed { to: "hub-c:3", ..signed },
            Signed { at: 1_700_000_000_001, ..signed },
            Signed { nonce: "n2", ..signed },
            Signed { method: "DELETE", ..signed },
            Signed { target: "/hub/relay/web-2/api/services/idle/stop", ..signed },
            Signed { who: ["ann", "ann", "admin"], ..signed },
            Signed { headers: &other_headers, ..signed },
            Signed { body: b"{\"x\":1}", ..signed },
        ];
        for c in changed {
            assert!(!identity::verify(&key.public_key(), &c.text(), &signature), "{}", c.text());
        }
    }

    #[test]
    fn a_nonce_is_taken_once() {
        let advert = Advert { address: "http://127.0.0.1:8080".into(), cert_sha256: None };
        let relay = Relay::new(identity::Identity::ephemeral().unwrap(), advert);
        assert!(relay.fresh("a") && relay.fresh("b"));
        assert!(!relay.fresh("a"), "a replay");
    }
}
