//! `ctrl check` on `[hub]`: what would keep the link from working.

use std::path::Path;
use std::time::Duration;

use ctrl_core::config::HubConfig;

use ctrl_client::HttpUrl;

use super::ENROLLED_FILE;

/// What `ctrl check` says of `[hub]`: problems (the link cannot work as
/// configured) and notes (it may work later: a hub that is down now).
pub fn preflight(config: &HubConfig, state_dir: &Path) -> (Vec<String>, Vec<String>) {
    use std::net::ToSocketAddrs;
    let (mut problems, mut notes) = (Vec::new(), Vec::new());
    match HttpUrl::parse(&config.url).map(|u| u.authority) {
        Err(e) => problems.push(format!("hub.url: {e}")),
        Ok(authority) => match authority.to_socket_addrs() {
            Err(e) => problems.push(format!("hub.url: '{authority}' does not resolve ({e})")),
            Ok(addrs) => {
                let reachable = addrs
                    .into_iter()
                    .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok());
                if !reachable {
                    notes.push(format!(
                        "hub.url: nothing answers at {authority} now; the host will keep dialling"
                    ));
                }
            }
        },
    }
    if let Some(ca) = &config.ca
        && let Err(e) = std::fs::read(ca)
    {
        problems.push(format!("hub.ca: cannot read {}: {e}", ca.display()));
    }
    let enrolled = state_dir.join(ENROLLED_FILE).exists();
    let token = config.enroll_token_file.as_ref().filter(|f| f.exists());
    if !enrolled && token.is_none() {
        problems.push(format!(
            "hub.enroll_token_file: this host has not enrolled and has no token{}: run `ctrl hosts add {}` on the hub",
            config.enroll_token_file.as_ref().map(|f| format!(" ({} does not exist)", f.display())).unwrap_or_default(),
            config.name.clone().unwrap_or_else(crate::hub::hostname)
        ));
    }
    (problems, notes)
}
