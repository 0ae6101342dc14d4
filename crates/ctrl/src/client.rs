//! The CLI's side of the API: the typed client (`ctrl-client`) on a
//! single-threaded runtime, so that commands read as plain calls, and the one
//! place its errors become messages for a person.
//!
//! One code path for local and remote daemons: every command is an API call,
//! over the daemon's unix socket (trusted by its file mode, no token needed) or
//! over HTTP(S) with `--url`/`--token` (and `--ca` for a self-signed daemon).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use ctrl_client::{Error, Events, FromEvent};

use crate::locate;

/// Where the daemon is, from the global flags (no `Debug`: it holds the token).
#[derive(Clone, Default, clap::Args)]
pub struct Remote {
    /// A remote daemon's API, e.g. http://10.0.0.5:8080 or https://ctrl.example.org (default: the local daemon's socket).
    #[arg(long, global = true, env = "CTRL_URL")]
    pub url: Option<String>,
    /// The API token for --url (default: the local daemon's token, when --url is its address).
    #[arg(long, global = true, env = "CTRL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A CA certificate (PEM) to trust for an https:// --url, besides the system's.
    #[arg(long, global = true, env = "CTRL_CA")]
    pub ca: Option<PathBuf>,
    /// A host behind the hub: the command acts on that host, through the hub.
    #[arg(long, global = true, env = "CTRL_HOST")]
    pub host: Option<String>,
}

/// The typed client and the runtime that drives it.
pub struct Client {
    rt: tokio::runtime::Runtime,
    api: ctrl_client::Client,
    /// The state dir of a local daemon (for the message when none runs).
    local: Option<PathBuf>,
}

impl Client {
    /// The daemon named by `--url`, or else the one of the config's state dir;
    /// with `--host`, that host behind it.
    pub fn connect(config: Option<&Path>, remote: &Remote) -> anyhow::Result<Client> {
        let mut client = Client::connect_hub(config, remote)?;
        if let Some(host) = &remote.host {
            client.api = client.api.for_host(host);
        }
        Ok(client)
    }

    /// The daemon itself, even with `--host` (for the hub's own commands).
    pub fn connect_hub(config: Option<&Path>, remote: &Remote) -> anyhow::Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (api, local) = match &remote.url {
            Some(url) => {
                let token = remote.token.clone().or_else(|| local_token(config, url));
                (ctrl_client::Client::url(url, token, remote.ca.as_deref())?, None)
            }
            None => {
                let state_dir = locate::state_dir(config)?;
                (ctrl_client::Client::unix(locate::socket_path(&state_dir)?), Some(state_dir))
            }
        };
        Ok(Client { rt, api, local })
    }

    /// The same client with another limit on one-shot calls.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.api = self.api.with_timeout(timeout);
        self
    }

    /// Runs one call of the typed client.
    pub fn call<'a, T, Fut>(&'a self, f: impl FnOnce(&'a ctrl_client::Client) -> Fut) -> anyhow::Result<T>
    where
        Fut: Future<Output = Result<T, Error>> + 'a,
    {
        self.rt.block_on(f(&self.api)).map_err(|e| self.message(e))
    }

    /// The next item of a live stream, `None` when the daemon ended it.
    pub fn next<T: FromEvent>(&self, events: &mut Events<T>) -> anyhow::Result<Option<T>> {
        self.rt.block_on(events.next()).map_err(|e| self.message(e))
    }

    /// Runs `fut` on the client's runtime (for waiting on signals and timers between calls).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// The one place a client error becomes what the person reads.
    fn message(&self, e: Error) -> anyhow::Error {
        match (&e, &self.local) {
            (Error::Unreachable(why), Some(dir)) => {
                anyhow!("no daemon is running for {} ({why}); start one with `ctrl up`", dir.display())
            }
            _ => anyhow!(e),
        }
    }
}

/// The local daemon's token, but only when `url` is where that daemon listens:
/// a token must never be sent to another host because of the folder one stands in.
fn local_token(config: Option<&Path>, url: &str) -> Option<String> {
    let addr = url.strip_prefix("http://")?.trim_end_matches('/');
    let dir = locate::state_dir(config).ok()?;
    let bound = std::fs::read_to_string(dir.join("http.addr")).ok()?;
    let bound = bound.trim();
    // The very address, or localhost for a daemon bound to 127.0.0.1 on that port.
    let same_port = matches!(
        (addr.strip_prefix("localhost:"), bound.strip_prefix("127.0.0.1:")),
        (Some(a), Some(b)) if a == b
    );
    if addr != bound && !same_port {
        return None;
    }
    std::fs::read_to_string(dir.join("token")).ok().map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::local_token;

    /// The local token goes only to the local daemon's own address.
    #[test]
    fn the_local_token_never_goes_to_another_host() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ctrl.toml");
        std::fs::write(&config, "[server]\nstate_dir = \"state\"\n").unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("state/token"), "secret\n").unwrap();
        let token = |bound: &str, url: &str| {
            std::fs::write(dir.path().join("state/http.addr"), bound).unwrap();
            local_token(Some(&config), url)
        };
        assert_eq!(token("127.0.0.1:8080", "http://127.0.0.1:8080").as_deref(), Some("secret"));
        assert_eq!(token("127.0.0.1:8080", "http://localhost:8080/").as_deref(), Some("secret"));
        assert_eq!(token("127.0.0.1:8080", "http://localhost:9090"), None);
        assert_eq!(token("0.0.0.0:8080", "http://other.host:8080"), None);
        assert_eq!(token("[::]:8080", "http://10.0.0.9:80"), None);
        assert_eq!(token("127.0.0.1:8080", "https://127.0.0.1:8080"), None, "not for another scheme");
    }
}
