//! The hub's side: the links hosts opened to it, what they reported, and the
//! routes that list hosts and reach their APIs.

mod accept;
mod link;
mod proxy;
mod relay;
mod routes;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctrl_access::Access;
use ctrl_proto::{HostSummary, ServiceCounts};
use ctrl_store::Store;
use tokio::sync::{broadcast, watch};

pub use accept::public_routes;
pub(crate) use link::Head;
pub use link::{Ask, Link};
pub use relay::Advert;
pub use routes::routes;

/// How long a hub's hold on a host's link counts without being renewed.
pub const LEASE: Duration = Duration::from_secs(30);

/// Events kept per host in `host_events` (the newest).
pub const KEEP_EVENTS: u32 = 100_000;

/// Samples kept per host for its sparkline.
const HISTORY: usize = 60;

/// The hub: one per daemon, whether or not any host ever connects.
#[derive(Clone)]
pub struct HubState(pub Arc<Hub>);

impl std::ops::Deref for HubState {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.0
    }
}

/// What the hub holds.
pub struct Hub {
    store: Store,
    access: Access,
    /// This hub's name in the `hosts` table's `hub` column.
    id: String,
    /// The links up now, by host.
    links: RwLock<HashMap<String, Arc<Link>>>,
    /// What each host reported last (kept while it is offline too).
    seen: Mutex<HashMap<String, Seen>>,
    /// True once the daemon stops: links close.
    stop: watch::Sender<bool>,
    /// Hosts coming and going, and their alerts, for the hub's own alerts.
    news: broadcast::Sender<HostNews>,
    /// Refused links noted: when, by address and name; how many, by address this minute.
    refusals: Mutex<Refusals>,
    /// On a shared database: this run's key and address, for relaying to peers.
    relay: Option<relay::Relay>,
    /// Hosts this hub announced offline and has not seen back yet (here, or at
    /// another hub: its alerts hear of that too).
    down: Mutex<HashSet<String>>,
}

/// What the hub's alerts hear of its hosts.
#[derive(Debug, Clone, PartialEq)]
pub enum HostNews {
    /// A host's link is up.
    Online(String),
    /// A host's link ended (not because the hub stops), and why.
    Offline(String, String),
    /// A host raised or resolved an alert (its `AlertInfo`).
    Alert(String, serde_json::Value),
}

/// What a host's samples said, and the last report taken from each of its runs.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The latest numbers.
    pub stats: Option<HostSummary>,
    /// The latest service counts.
    pub services: Option<ServiceCounts>,
    /// CPU of the recent samples.
    pub cpu: VecDeque<f32>,
    /// The run and number of the last report taken.
    pub mark: Option<(String, i64)>,
    /// When the hub last heard from the host.
    pub heard: Option<DateTime<Utc>>,
    /// Links this hub welcomed from the host (a new one tells an outage ended).
    pub links: u64,
    /// Events stored since its history was last pruned.
    pub unpruned: usize,
}

impl HubState {
    /// The hub over `store`, auditing through `access`; `shared` when other hubs
    /// run on the same database, with where they reach this one.
    pub fn new(
        store: Store,
        access: Access,
        shared: Option<Advert>,
    ) -> Result<HubState, crate::identity::KeyError> {
        let id = format!("{}:{}", hostname(), crate::identity::nonce().get(..8).unwrap_or("0"));
        let relay = match shared {
            Some(advert) => Some(relay::Relay::new(crate::identity::Identity::ephemeral()?, advert)),
            None => None,
        };
        Ok(HubState(Arc::new(Hub {
            store,
            access,
            id,
            links: RwLock::default(),
            seen: Mutex::default(),
            stop: watch::channel(false).0,
            news: broadcast::channel(1024).0,
            refusals: Mutex::default(),
            relay,
            down: Mutex::default(),
        })))
    }

    /// Starts the hub's round every third of a lease: it announces itself to its
    /// peers, renews the leases of the links it holds (closing any another hub
    /// took), and ends leases whose hub stopped renewing them (the hub was
    /// killed): those hosts are offline, and the hub that ended it says so.
    pub async fn start(&self) {
        self.announce().await;
        self.check_advert().await;
        let hub = self.clone();
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            let mut stop = hub.stop.subscribe();
            let mut tick = tokio::time::interval(LEASE / 3);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = crate::until(&mut stop, |s| *s) => return,
                }
                hub.announce().await;
                hub.renew().await;
                hub.back_elsewhere().await;
                // Hosts get a lease's time to come back to a hub that just started.
                if started.elapsed() > LEASE + LEASE / 3 {
                    hub.sweep().await;
                }
            }
        });
    }

    /// Tells the alerts a host is offline, and remembers it until it is back.
    fn went_offline(&self, name: String, why: String) {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone());
        let _ = self.news.send(HostNews::Offline(name, why));
    }

    /// Hosts this hub announced offline that came back at another hub on the
    /// database: this hub's alerts hear they are online (and resolve).
    async fn back_elsewhere(&self) {
        if self.relay.is_none() {
            return;
        }
        let down: Vec<String> = self.down.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        for name in down {
            let back = match self.store.host(&name).await {
                Ok(Some(row)) => relay::held_by(self, &row).is_some(),
                Ok(None) => {
                    self.down.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
                    continue;
                }
                Err(_) => return,
            };
            if back && self.down.lock().unwrap_or_else(|p| p.into_inner()).remove(&name) {
                tracing::info!(host = %name, "host online at another hub");
                let _ = self.news.send(HostNews::Online(name));
            }
        }
    }

    /// Warns of an address peers cannot use: one another live hub announced too
    /// (each would take the other for its own previous run), or plain HTTP off
    /// this machine (relayed requests and answers would cross the network in clear).
    async fn check_advert(&self) {
        let Some(advert) = self.relay.as_ref().map(|r| &r.advert) else { return };
        if let Ok(hubs) = self.store.hubs().await {
            let live = |h: &&ctrl_store::HubRow| h.seen_at + LEASE > Utc::now();
            if let Some(twin) =
                hubs.iter().filter(live).find(|h| h.name != self.id && h.address == advert.address)
            {
                tracing::warn!(
                    "hub {} announced the same address, {}: give each hub its own [server] advertise",
                    twin.name,
                    advert.address
                );
            }
        }
        let host = advert.address.strip_prefix("http://").map(|r| r.rsplit_once(':').map_or(r, |(h, _)| h));
        if let Some(host) = host
            && !matches!(host, "127.0.0.1" | "localhost" | "[::1]")
        {
            tracing::warn!(
                "this hub's peers reach it at {} in clear text: serve [server.tls] or keep the hubs on a private network",
                advert.address
            );
        }
    }

    /// Writes this hub's row for its peers (on a shared database), and takes out
    /// the rows of hubs silent for ten minutes.
    async fn announce(&self) {
        let Some(relay) = &self.relay else { return };
        let row = ctrl_store::HubRow {
            name: self.id.clone(),
            address: relay.advert.address.clone(),
            public_key: relay.key.public_key(),
            cert_sha256: relay.advert.cert_sha256.clone(),
            seen_at: Utc::now(),
        };
        if let Err(e) = self.store.hub_announce(&row).await {
            tracing::warn!("cannot announce this hub to its peers: {e}");
        }
        let _ = self.store.hubs_prune(Utc::now() - chrono::Duration::minutes(10)).await;
    }

    /// Ends the leases that ran out (their hub stopped, or was killed): those
    /// hosts are offline. A link still up here (its renewal failed a while) is
    /// claimed again.
    async fn sweep(&self) {
        // Among hubs, a lease's time past its end: a peer whose clock is behind
        // is not swept. Alone, a hub's leases are its own earlier runs'.
        let grace = if self.relay.is_some() { LEASE } else { Duration::ZERO };
        let lapsed = match self.store.host_leases_lapsed(Utc::now() - grace).await {
            Ok(l) => l,
            Err(e) => return tracing::warn!("cannot check the hosts' leases: {e}"),
        };
        for name in lapsed {
            if self.link(&name).is_some() {
                if let Err(e) = self.store.host_reclaim(&name, &self.id, Utc::now() + LEASE).await {
                    tracing::warn!(host = %name, "cannot record the link: {e}");
                }
                continue;
            }
            tracing::info!(host = %name, "host offline: its hub stopped renewing the link's lease");
            self.went_offline(name, "its hub stopped without letting go of the link".into());
        }
    }

    /// Renews the leases of the links held here; a link whose host is no longer
    /// held by this hub in the store (another hub took it, or it was removed) ends.
    async fn renew(&self) {
        let mine: Vec<Arc<Link>> =
            self.links.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        if mine.is_empty() {
            return;
        }
        let renewed = match self.store.host_leases_renew(&self.id, Utc::now() + LEASE).await {
            Ok(r) => r,
            Err(e) => return tracing::warn!("cannot renew the hosts' leases: {e}"),
        };
        for link in mine {
            // A link welcomed after the update started is not judged by it.
            if !renewed.contains(&link.name) && link.age() > LEASE / 3 {
                link.replaced();
                link.close("another hub holds the host's link now, or the host was removed");
            }
        }
    }

    /// Closes every link (the daemon stops); hosts will dial again.
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let links: Vec<Arc<Link>> =
            self.links.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        futures_util::future::join_all(links.iter().map(|l| l.close_and_wait("the hub is stopping"))).await;
        if self.relay.is_some()
            && let Err(e) = self.store.hub_leave(&self.id).await
        {
            tracing::warn!("cannot take this hub out of the database's list: {e}");
        }
    }
}

impl Hub {
    /// The link to `name`, when it is up.
    pub fn link(&self, name: &str) -> Option<Arc<Link>> {
        self.links.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Each online host's `/metrics` text, fetched through its link (at most 2 s
    /// and 1 MiB each, 64 at a time).
    pub async fn host_metrics(&self) -> Vec<(String, String)> {
        use futures_util::StreamExt;
        let links: Vec<Arc<Link>> =
            self.links.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let fetches = links.into_iter().map(|link| async move {
            let ask = Ask {
                method: "GET".into(),
                path: "/metrics".into(),
                headers: Vec::new(),
                body: None,
                actor: "hub".into(),
                owner: ":hub".into(),
                role: ctrl_core::Role::Viewer,
            };
            let fetch = async {
                let (head, body) = link.request(ask).await.ok()?;
                if head.status != 200 {
                    return None;
                }
                let body = http_body_util::Limited::new(axum::body::Body::from_stream(body), 1024 * 1024);
                let bytes = http_body_util::BodyExt::collect(body).await.ok()?;
                String::from_utf8(bytes.to_bytes().to_vec()).ok()
            };
            let text = tokio::time::timeout(Duration::from_secs(2), fetch).await.ok().flatten()?;
            Some((link.name.clone(), text))
        });
        let mut all: Vec<(String, String)> = futures_util::stream::iter(fetches)
            .buffer_unordered(64)
            .filter_map(|x| async { x })
            .collect()
            .await;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Whether no hub holds `name`'s link (a lease another hub renews counts), and
    /// the host is not removed; a store that cannot tell says offline.
    pub async fn offline_everywhere(&self, name: &str) -> bool {
        match self.store.host(name).await {
            Ok(Some(row)) => row.hub.is_none() || row.lease_until.is_none_or(|t| t < Utc::now()),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// How many links this hub welcomed from `name`; `None` for a host it does
    /// not know (never linked here, or removed).
    pub fn links_of(&self, name: &str) -> Option<u64> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(name).map(|s| s.links)
    }

    /// Hosts coming and going, and their alerts, from now on.
    pub fn news(&self) -> broadcast::Receiver<HostNews> {
        self.news.subscribe()
    }

    /// Whether a refused link is worth noting (audit, log): once every 10 s per
    /// address and claimed name, at most 30 a minute per address, so that nobody
    /// can fill the audit log before being known.
    fn note_refusal(&self, address: Option<&str>, name: &str) -> bool {
        self.refusals.lock().unwrap_or_else(|p| p.into_inner()).note(
            address.unwrap_or("-"),
            name,
            std::time::Instant::now(),
        )
    }

    /// Whether the hub is stopping (its links end, but no host went offline).
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// What `name` reported last.
    pub fn seen(&self, name: &str) -> Seen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned().unwrap_or_default()
    }

    /// Takes a host's sample into its numbers and sparkline.
    fn take_sample(&self, name: &str, data: &serde_json::Value, at: DateTime<Utc>) {
        use serde::Deserialize;
        let stats = HostSummary::deserialize(&data["stats"]).ok();
        let services = ServiceCounts::deserialize(&data["services"]).ok();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = seen.get_mut(name) else { return };
        if let Some(st) = stats {
            if s.cpu.len() == HISTORY {
                s.cpu.pop_front();
            }
            s.cpu.push_back(st.cpu_percent);
            s.stats = Some(st);
        }
        if services.is_some() {
            s.services = services;
        }
        s.heard = Some(s.heard.map_or(at, |h| h.max(at)));
    }

    /// Notes that a host was heard from, and the last report taken (a mark only
    /// rises within a run).
    fn mark(&self, name: &str, mark: Option<(String, i64)>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // A host removed meanwhile is not brought back.
        let Some(s) = seen.get_mut(name) else { return };
        s.heard = Some(Utc::now());
        match (&s.mark, mark) {
            (Some((b, old)), Some((boot, seq))) if *b == boot && *old >= seq => {}
            (_, Some(m)) => s.mark = Some(m),
            (_, None) => {}
        }
    }

    /// The last report taken from run `boot` of `name`.
    fn mark_of(&self, name: &str, boot: &str) -> Option<i64> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(name)?.mark.as_ref().filter(|(b, _)| b == boot).map(|(_, s)| *s)
    }

    /// Counts `n` events stored for `name`; true when its history is due a pruning
    /// (every thousand, whatever links they came on).
    fn stored(&self, name: &str, n: usize) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = seen.get_mut(name) else { return false };
        s.unpruned += n;
        let due = s.unpruned >= 1000;
        if due {
            s.unpruned = 0;
        }
        due
    }

    /// Takes `link` out of the links up, if it is still the host's; whether it was.
    fn unlink(&self, link: &Arc<Link>) -> bool {
        let mut links = self.links.write().unwrap_or_else(|p| p.into_inner());
        let current = links.get(&link.name).is_some_and(|l| Arc::ptr_eq(l, link));
        if current {
            links.remove(&link.name);
        }
        current
    }

    /// Counts a welcomed link.
    fn linked(&self, name: &str) {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let s = seen.entry(name.to_owned()).or_default();
        s.links += 1;
        s.heard = Some(Utc::now());
    }

    /// Forgets a removed host.
    fn forget(&self, name: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        let link = self.links.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        if let Some(l) = link {
            l.close("the host was removed from the hub");
        }
    }
}

/// Refused links noted lately.
#[derive(Default)]
struct Refusals {
    last: HashMap<(String, String), std::time::Instant>,
    minute: HashMap<String, (std::time::Instant, u32)>,
}

impl Refusals {
    fn note(&mut self, address: &str, name: &str, now: std::time::Instant) -> bool {
        const EVERY: Duration = Duration::from_secs(10);
        const MINUTE: Duration = Duration::from_secs(60);
        if self.last.len() > 4096 {
            self.last.retain(|_, t| now.duration_since(*t) < EVERY);
            self.minute.retain(|_, (t, _)| now.duration_since(*t) < MINUTE);
        }
        let key = (address.to_owned(), name.to_owned());
        if self.last.get(&key).is_some_and(|t| now.duration_since(*t) < EVERY) {
            return false;
        }
        let window = self.minute.entry(address.to_owned()).or_insert((now, 0));
        if now.duration_since(window.0) >= MINUTE {
            *window = (now, 0);
        }
        if window.1 >= 30 {
            return false;
        }
        window.1 += 1;
        self.last.insert(key, now);
        true
    }
}

/// The machine's host name (for this hub's id, and a host's default name).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Refusals;

    #[test]
    fn refusals_are_noted_once_in_ten_seconds_and_thirty_a_minute() {
        let (mut r, t) = (Refusals::default(), Instant::now());
        assert!(r.note("10.0.0.1", "web-1", t));
        assert!(!r.note("10.0.0.1", "web-1", t + Duration::from_secs(5)), "the same again");
        assert!(r.note("10.0.0.1", "web-2", t + Duration::from_secs(5)), "another name");
        assert!(r.note("10.0.0.1", "web-1", t + Duration::from_secs(11)));
        let noted = (0..100).filter(|i| r.note("10.0.0.9", &format!("n{i}"), t)).count();
        assert_eq!(noted, 30, "a flood of names is noted 30 times a minute");
        assert!(r.note("10.0.0.9", "late", t + Duration::from_secs(61)));
    }
}
