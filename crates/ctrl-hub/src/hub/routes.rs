//! `/api/hosts`: the hosts behind this hub, adding (enrolment tokens), removing,
//! their reported events, and every host's own API under `/api/hosts/{name}/api/…`.
//!
//! Listing is for every role; adding and removing are for admins and audited.
//! Through a host's API a hub user has their hub role: the host checks it as it
//! checks its own clients, and the hub audits what they changed.

use axum::extract::{FromRef, State};
use chrono::Utc;
use ctrl_access::Access;
use ctrl_proto::{
    Enrolment, Envelope, ErrorCode, ErrorEnvelope, EventsQuery, HostEvent, HostInfo, HostStatus, NewHost,
};
use ctrl_store::HostRow;
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Body, Caller, Failure, Path, Query, ok};

use std::collections::{BTreeSet, HashMap};

use super::{HubState, relay};

/// The default life of an enrolment token.
const DEFAULT_EXPIRY: std::time::Duration = std::time::Duration::from_secs(3600);
/// The longest life of an enrolment token.
const MAX_EXPIRY: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// The hub's routes (the host's own routes come through [`super::proxy`]).
pub fn routes<S>(access: &Access) -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    HubState: FromRef<S>,
    Access: FromRef<S>,
{
    let anyone = ApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(events))
        .merge(super::proxy::routes());
    let admins = ApiRouter::new().routes(routes!(add)).routes(routes!(remove));
    anyone.merge(access.admins_only(admins))
}

/// The hosts, with their state and latest numbers.
#[utoipa::path(get, path = "/api/hosts", tag = "hosts",
    responses((status = 200, body = Envelope<Vec<HostInfo>>)))]
pub async fn list(State(hub): State<HubState>) -> ApiResult<Vec<HostInfo>> {
    let rows = hub.store.hosts().await?;
    let elsewhere = elsewhere(&hub, &rows).await;
    ok(rows.iter().map(|r| listed(&hub, r, &elsewhere)).collect())
}

/// One host.
#[utoipa::path(get, path = "/api/hosts/{name}", tag = "hosts",
    params(("name" = String, Path, description = "The host")),
    responses((status = 200, body = Envelope<HostInfo>), (status = 404, body = ErrorEnvelope)))]
pub async fn one(State(hub): State<HubState>, Path(name): Path<String>) -> ApiResult<HostInfo> {
    match hub.store.host(&name).await? {
        Some(r) => {
            let elsewhere = elsewhere(&hub, std::slice::from_ref(&r)).await;
            ok(listed(&hub, &r, &elsewhere))
        }
        None => Err(unknown(&name)),
    }
}

/// What a host reported (service state changes, alerts), in the host's order.
#[utoipa::path(get, path = "/api/hosts/{name}/events", tag = "hosts",
    params(("name" = String, Path, description = "The host"), EventsQuery),
    responses((status = 200, body = Envelope<Vec<HostEvent>>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn events(
    State(hub): State<HubState>,
    Path(name): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Vec<HostEvent>> {
    let limit = q.limit()?;
    if hub.store.host(&name).await?.is_none() {
        return Err(unknown(&name));
    }
    ok(hub.store.host_events(&name, limit).await?)
}

/// Adds a host and makes its one-time enrolment token (shown once).
#[utoipa::path(post, path = "/api/hosts", tag = "hosts", request_body = NewHost,
    responses((status = 200, body = Envelope<Enrolment>), (status = 409, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope)))]
pub async fn add(State(hub): State<HubState>, c: Caller, Body(new): Body<NewHost>) -> ApiResult<Enrolment> {
    if !ctrl_core::config::valid_name(&new.name) {
        return Err(Failure::new(ErrorCode::Validation, "a host name is letters, digits, '-' and '_'"));
    }
    let life = match new.expires.as_deref() {
        None => DEFAULT_EXPIRY,
        Some(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            Failure::new(ErrorCode::Validation, format!("expires: '{s}' is not a duration ({e})"))
        })?,
    };
    if life.is_zero() || life > MAX_EXPIRY {
        return Err(Failure::new(ErrorCode::Validation, "expires must be above 0 and at most 30 days"));
    }
    let token = crate::identity::new_token();
    let expires_at = Utc::now() + life;
    if !hub.store.host_add(&new.name, &crate::identity::hash(&token), expires_at).await? {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!("host '{}' exists; remove it first to enrol it again", new.name),
        ));
    }
    let detail = format!("token expires {}", expires_at.to_rfc3339());
    hub.access.audit(&c.principal.actor, "host_add", Some(&new.name), c.address, "ok", Some(&detail)).await;
    ok(Enrolment { name: new.name, enroll_token: token, expires_at })
}

/// Removes a host: its pinned key is forgotten and its link dropped.
#[utoipa::path(delete, path = "/api/hosts/{name}", tag = "hosts",
    params(("name" = String, Path, description = "The host")),
    responses((status = 200, body = Envelope<String>), (status = 404, body = ErrorEnvelope)))]
pub async fn remove(State(hub): State<HubState>, c: Caller, Path(name): Path<String>) -> ApiResult<String> {
    if !hub.store.host_remove(&name).await? {
        return Err(unknown(&name));
    }
    hub.forget(&name);
    hub.access.audit(&c.principal.actor, "host_remove", Some(&name), c.address, "ok", None).await;
    ok(format!("host '{name}' removed"))
}

pub(super) fn unknown(name: &str) -> Failure {
    Failure::new(ErrorCode::NotFound, format!("no host '{name}' on this hub"))
}

/// The hosts of `rows` whose links other hubs on the database hold, with what
/// those hubs list for them (nothing when a hub does not answer in time).
async fn elsewhere(hub: &HubState, rows: &[HostRow]) -> HashMap<String, Option<HostInfo>> {
    let held: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| hub.link(&r.name).is_none())
        .filter_map(|r| Some((r.name.as_str(), relay::held_by(hub, r)?)))
        .collect();
    let holders: BTreeSet<&str> = held.iter().map(|(_, h)| *h).collect();
    let lists = holders.into_iter().map(|name| async move {
        let peer = relay::peer(hub, name).await?;
        let listed = match relay::listed_by(hub, &peer).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot list the hosts of hub {name}: {e}");
                Vec::new()
            }
        };
        Some((name, listed))
    });
    let mut by_hub: HashMap<&str, Vec<HostInfo>> = HashMap::new();
    for (name, listed) in futures_util::future::join_all(lists).await.into_iter().flatten() {
        by_hub.insert(name, listed);
    }
    held.into_iter()
        .filter_map(|(host, holder)| {
            let listed = by_hub.get(holder)?;
            Some((host.to_owned(), listed.iter().find(|i| i.name == host).cloned()))
        })
        .collect()
}

/// A host as listed here: by the hub that holds its link.
fn listed(hub: &HubState, r: &HostRow, elsewhere: &HashMap<String, Option<HostInfo>>) -> HostInfo {
    match elsewhere.get(&r.name) {
        Some(Some(theirs)) => {
            HostInfo { created_at: r.created_at, enrolled_at: r.enrolled_at, ..theirs.clone() }
        }
        Some(None) => HostInfo { status: HostStatus::Online, ..info(hub, r) },
        None => info(hub, r),
    }
}

/// A host as listed: the store's row, its link and what it reported.
pub(super) fn info(hub: &HubState, r: &HostRow) -> HostInfo {
    let link = hub.link(&r.name);
    let seen = hub.seen(&r.name);
    let online = link.is_some();
    let status = match (&link, &r.public_key) {
        (Some(_), _) => HostStatus::Online,
        (None, Some(_)) => HostStatus::Offline,
        (None, None) => HostStatus::Pending,
    };
    let last_seen = match (seen.heard, r.last_seen) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    HostInfo {
        name: r.name.clone(),
        status,
        last_seen,
        version: link.as_ref().map(|l| l.version.clone()).or_else(|| r.version.clone()),
        address: link.as_ref().and_then(|l| l.address.clone()).or_else(|| r.address.clone()),
        stats: seen.stats.filter(|_| online),
        services: seen.services.filter(|_| online),
        cpu_history: seen.cpu.iter().copied().collect(),
        created_at: r.created_at,
        enrolled_at: r.enrolled_at,
    }
}
