//! Many hosts behind one hub.
//!
//! Every `ctrl up` is a hub ([`HubState`]): hosts added with `POST /api/hosts`
//! dial in on `GET /hub/link`, and their APIs are served under
//! `/api/hosts/{name}/api/…`. A host with `[hub]` runs an [`Uplink`]: one
//! WebSocket it opens itself, over which it answers the hub's requests through
//! its own router and reports its events and samples, kept while cut off.
//!
//! The link's language is in [`wire`]; a host proves itself with the key it
//! pinned at enrolment ([`identity`]) and trusts the hub's certificate on first
//! use unless given a CA ([`tofu`]).

mod hub;
pub mod identity;
pub mod metrics;
pub mod tofu;
mod uplink;
pub mod wire;

pub use hub::{Advert, Ask, HostNews, Hub, HubState, Link, Seen, hostname, public_routes, routes};
pub use uplink::{Uplink, UplinkError, preflight};

/// A close frame's reason holds at most 123 bytes.
pub(crate) fn short(why: &str) -> String {
    let mut end = why.len().min(123);
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    why[..end].to_owned()
}

/// Waits until `rx`'s value passes `f` (or its sender is gone), holding no
/// borrow of it across the wait's end (a borrow cannot cross threads).
pub(crate) async fn until<T>(rx: &mut tokio::sync::watch::Receiver<T>, f: impl FnMut(&T) -> bool) {
    let _ = rx.wait_for(f).await.map(|_| ());
}
