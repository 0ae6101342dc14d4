//! `[hub]`: this host reports to a hub, dialling out to it over one WebSocket.

use std::path::PathBuf;

use serde::Deserialize;

use super::units::Dur;
use super::validate::{Problem, problem};

/// `[hub]`. Absent: the host reports to no hub (every daemon can still be one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's address, `https://hub.example:8443` (or `http://` on a trusted network).
    pub url: String,
    /// The file holding the one-time token `ctrl hosts add NAME` printed on the hub.
    pub enroll_token_file: Option<PathBuf>,
    /// A CA certificate (PEM) the hub's certificate must chain to; without it the
    /// hub's certificate is pinned on first use.
    pub ca: Option<PathBuf>,
    /// How often the link is pinged; it counts as dead after three missed pings.
    #[serde(default = "default_ping")]
    pub ping: Dur,
    /// This host's name on the hub (default: the machine's host name).
    pub name: Option<String>,
}

fn default_ping() -> Dur {
    Dur::secs(15)
}

pub(super) fn check(c: &HubConfig, out: &mut Vec<Problem>) {
    let rest = c.url.strip_prefix("https://").or_else(|| c.url.strip_prefix("http://"));
    match rest.map(|r| r.trim_end_matches('/')) {
        Some(authority) if !authority.is_empty() && !authority.contains(['/', '@', '?', '#']) => {}
        _ => out.push(problem(
            &["hub", "url"],
            format!("'{}' is not a hub address; write it like \"https://hub.example:8443\"", c.url),
        )),
    }
    if c.ping.0.as_millis() < 100 {
        out.push(problem(&["hub", "ping"], "must be at least 100ms"));
    }
    if let Some(name) = &c.name
        && !super::valid_name(name)
    {
        out.push(problem(&["hub", "name"], "a host name is letters, digits, '-' and '_'"));
    }
    if c.ca.is_some() && c.url.starts_with("http://") {
        out.push(problem(&["hub", "ca"], "a CA applies to an https:// hub only"));
    }
}
