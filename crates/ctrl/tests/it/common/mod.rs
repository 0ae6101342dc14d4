//! A real `ctrl up` in a temporary folder, driven through the real CLI.
//!
//! Waits poll the daemon's state every 20 ms with a deadline; nothing sleeps blindly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod desktop;
pub mod fake_llm;
pub mod http;

pub const BIN: &str = env!("CARGO_BIN_EXE_ctrl");

/// The folder of test fixtures (small scripts).
pub fn fixture(name: &str) -> String {
    format!("{}/tests/it/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `cond` until it returns `Some`, or panics after `limit` naming `what`.
pub fn wait<T>(what: &str, limit: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')).unwrap_or(false))
        .unwrap_or(false)
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
    /// A command that runs `ctrl up` (`unshare --pid --fork …`), if any.
    wrapper: Vec<String>,
}

impl Daemon {
    /// Writes `services` (TOML) under a `[server]` section of its own and starts `ctrl up`.
    pub fn start(services: &str) -> Daemon {
        Daemon::start_with("", services)
    }

    /// Like `start`, with extra `[server]` keys (`server`) before the rest of the TOML.
    pub fn start_with(server: &str, services: &str) -> Daemon {
        let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
        let config = dir.path().join("ctrl.toml");
        let text =
            format!("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n{server}\n\n{services}");
        std::fs::write(&config, text).unwrap();
        let mut d = Daemon { dir, config, child: None, wrapper: Vec::new() };
        d.up();
        d
    }

    /// Like `start`, with `ctrl up` run by `wrapper` (which must run it as its child).
    pub fn start_wrapped(wrapper: &[&str], services: &str) -> Daemon {
        let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
        let config = dir.path().join("ctrl.toml");
        let text = format!("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n{services}");
        std::fs::write(&config, text).unwrap();
        let wrapper = wrapper.iter().map(|w| w.to_string()).collect();
        let mut d = Daemon { dir, config, child: None, wrapper };
        d.up();
        d
    }

    /// Starts a daemon on a folder and config written by the caller.
    pub fn adopt(dir: tempfile::TempDir, config: PathBuf) -> Daemon {
        let mut d = Daemon { dir, config, child: None, wrapper: Vec::new() };
        d.up();
        d
    }

    /// (Re)starts the daemon on the same folder and waits until it answers.
    pub fn up(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.path("daemon.log")).unwrap();
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let child = cmd
            .args(["up", "--config"])
            .arg(&self.config)
            .env("CTRL_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait("the daemon to answer", Duration::from_secs(20), || {
            let o = self.ctl(&["status", "--json"]);
            o.status.success().then_some(())
        });
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The API's address (the daemon binds port 0 and writes what it got).
    pub fn api_addr(&self) -> String {
        std::fs::read_to_string(self.path("state/http.addr")).unwrap().trim().to_owned()
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api_addr())
    }

    /// The API token written at first start.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.path("state/token")).unwrap().trim().to_owned()
    }

    /// The daemon's pid (under a wrapper, the wrapper's child).
    pub fn pid(&self) -> u32 {
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        if self.wrapper.is_empty() {
            return pid;
        }
        wait("the wrapped daemon's pid", Duration::from_secs(10), || {
            let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
            kids.split_whitespace().next()?.parse().ok()
        })
    }

    /// Runs the CLI against this daemon.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(BIN).args(args).arg("--config").arg(&self.config).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs the CLI and returns its stdout, panicking with stderr on failure.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(o.status.success(), "ctrl {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn services(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    pub fn service(&self, name: &str) -> Value {
        self.services().into_iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no service {name}"))
    }

    /// Waits until `name` is in `status`; returns its object.
    pub fn wait_status(&self, name: &str, status: &str, limit: Duration) -> Value {
        wait(&format!("{name} to be {status} ({})", self.describe(name)), limit, || {
            let s = self.service(name);
            (s["status"] == status).then_some(s)
        })
    }

    fn describe(&self, name: &str) -> String {
        self.services()
            .into_iter()
            .find(|s| s["name"] == name)
            .map(|s| format!("now {} {}", s["status"], s["reason"]))
            .unwrap_or_default()
    }

    pub fn events(&self, name: &str) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["events", name, "-n", "1000", "--json"])).unwrap()
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig).unwrap();
    }

    /// Waits for the daemon to exit (after a signal), up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "daemon did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }

    /// SIGKILL the daemon only (its services live on).
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("daemon running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

/// Waits until the fixture `tree.sh` has written its three pids (two grandchildren, then itself).
pub fn tree_pids(d: &Daemon) -> Vec<u32> {
    wait("three pids", Duration::from_secs(10), || {
        let p = pids_in(&d.path("pids"));
        (p.len() == 3).then_some(p)
    })
}

/// Reads pids written one per line by a fixture.
pub fn pids_in(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// `ctrl user add NAME --role ROLE --password-stdin` on a config (no daemon needed).
pub fn add_user(config: &Path, name: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["user", "add", name, "--role", role, "--password-stdin", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed certificate for `host`, written to `dir/cert.pem` and `dir/key.pem`.
pub fn self_signed(dir: &Path, host: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
    let made = rcgen::generate_simple_self_signed(vec![host.to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    made
}

/// An HTTPS client that trusts only `cert` (PEM) and finds `host` at 127.0.0.1:`port`.
pub fn https_client(cert: &str, host: &str, port: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(cert.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(host, format!("127.0.0.1:{port}").parse().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
