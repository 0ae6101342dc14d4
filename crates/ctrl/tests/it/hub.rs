//! Many hosts behind one hub: real `ctrl up` processes on one machine, the hub
//! over TLS with a self-signed certificate (pinned by the hosts on first use),
//! each host in its own folder with its own key, config and port.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::common::http::eventually;
use crate::common::{Daemon, free_port, https_client, self_signed, wait};

/// A hub on a fixed port (hosts dial it again after it restarts), over TLS.
struct Hub {
    d: Daemon,
    port: u16,
    https: reqwest::Client,
}

impl Hub {
    fn start() -> Hub {
        Hub::start_with("")
    }

    /// A hub with more config (`extra`: whole sections).
    fn start_with(extra: &str) -> Hub {
        Hub::start_beside(extra, None)
    }

    /// A hub with `extra` config and the certificate and key of `twin` (hubs
    /// behind one address show one certificate), or its own.
    fn start_beside(extra: &str, twin: Option<&Hub>) -> Hub {
        let dir = tempfile::Builder::new().prefix("ctrl-hub-").tempdir().unwrap();
        let cert = match twin {
            Some(t) => {
                for f in ["cert.pem", "key.pem"] {
                    std::fs::copy(t.d.path(f), dir.path().join(f)).unwrap();
                }
                std::fs::read_to_string(dir.path().join("cert.pem")).unwrap()
            }
            None => self_signed(dir.path(), "localhost").cert.pem(),
        };
        let port = free_port();
        let config = dir.path().join("ctrl.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nstate_dir = \"state\"\n\n[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n{extra}\n"
            ),
        )
        .unwrap();
        let d = Daemon::adopt(dir, config);
        let https = https_client(&cert, "localhost", &port.to_string());
        Hub { d, port, https }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// `ctrl hosts add NAME`: the one-time token it prints.
    fn add(&self, name: &str) -> String {
        self.d.ok(&["hosts", "add", name]).trim().to_owned()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res = self.https.get(self.url(path)).bearer_auth(self.d.token()).send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self.https.post(self.url(path)).bearer_auth(token).send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    /// Follows a stream through the hub until `done` says so of what came (10 s at
    /// most); what came.
    async fn follow(&self, path: &str, done: impl Fn(&str) -> bool) -> String {
        let mut res = self.https.get(self.url(path)).bearer_auth(self.d.token()).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            while !done(&text) {
                match res.chunk().await.unwrap() {
                    Some(c) => text.push_str(&String::from_utf8_lossy(&c)),
                    None => panic!("{path} ended after {} events", text.matches("event: ").count()),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{path}: not all within 10 s"));
        text
    }

    /// How many times this hub's log says `name` linked to it.
    fn hub_links(&self, name: &str) -> usize {
        self.d
            .log()
            .lines()
            .filter(|l| l.contains("host online") && l.contains(&format!("host={name}")))
            .count()
    }

    fn hosts(&self) -> Vec<Value> {
        serde_json::from_str(&self.d.ok(&["hosts", "--json"])).unwrap()
    }

    fn status_of(&self, name: &str) -> String {
        self.hosts()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["status"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    fn wait_status(&self, name: &str, status: &str, limit: Duration) {
        wait(&format!("host {name} to be {status} on the hub"), limit, || {
            (self.status_of(name) == status).then_some(())
        });
    }

    /// The hub's history of a host's service events: (service, from, to, pid), in order.
    fn history(&self, host: &str) -> Vec<(String, String, String, Value)> {
        let list: Vec<Value> =
            serde_json::from_str(&self.d.ok(&["hosts", "events", host, "-n", "10000", "--json"])).unwrap();
        list.iter().filter(|e| e["kind"] == "service").map(|e| transition(&e["data"])).collect()
    }
}

fn transition(e: &Value) -> (String, String, String, Value) {
    (
        e["service"].as_str().unwrap_or_default().to_owned(),
        e["from"].as_str().unwrap_or_default().to_owned(),
        e["to"].as_str().unwrap_or_default().to_owned(),
        e["pid"].clone(),
    )
}

/// Waits until `d`'s log says `needle`; shows the log when it does not.
fn wait_log(d: &Daemon, needle: &str, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while !d.log().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "no '{needle}' in the log within {limit:?}:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A host reporting to `hub` as `name`, with two services.
fn host(hub: &Hub, name: &str, token: Option<&str>, extra: &str) -> Daemon {
    host_at(hub.port, name, token, extra)
}

/// A host reporting to the hub at `https://localhost:{port}`.
fn host_at(port: u16, name: &str, token: Option<&str>, extra: &str) -> Daemon {
    let dir = tempfile::Builder::new().prefix("ctrl-host-").tempdir().unwrap();
    if let Some(t) = token {
        std::fs::write(dir.path().join("hub.enroll"), format!("{t}\n")).unwrap();
    }
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[hub]\nurl = \"https://localhost:{}\"\nenroll_token_file = \"hub.enroll\"\nname = \"{name}\"\nping = \"1s\"\n{extra}\n\n\
             [services.tick]\ncommand = [\"sh\", \"-c\", \"while true; do echo tick-$$; sleep 0.2; done\"]\n\n\
             [services.idle]\ncommand = [\"sleep\", \"3600\"]\n\n\
             [services.burst]\ncommand = [\"sh\", \"-c\", \"seq 1 3000; sleep 3600\"]\nautostart = false\n\n\
             [actions.greet]\ncommand = [\"printf\", \"hello %s\\\\n\", \"{{who}}\"]\nparams.who = {{ type = \"string\" }}\n",
            port
        ),
    )
    .unwrap();
    Daemon::adopt(dir, config)
}

/// The host's own history of its service events.
fn own_history(h: &Daemon) -> Vec<(String, String, String, Value)> {
    let mut all = Vec::new();
    for svc in ["burst", "idle", "tick"] {
        all.extend(h.events(svc).iter().map(transition));
    }
    all
}

/// Every event of the host's own history is in the hub's once, and in the host's order.
fn assert_same_history(hub: &Hub, name: &str, h: &Daemon) {
    let own = own_history(h);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut seen = hub.history(name);
    while seen.len() < own.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        seen = hub.history(name);
    }
    for svc in ["burst", "idle", "tick"] {
        let mine: Vec<_> = own.iter().filter(|e| e.0 == svc).collect();
        let hubs: Vec<_> = seen.iter().filter(|e| e.0 == svc).collect();
        assert_eq!(
            hubs, mine,
            "{name}/{svc}: the hub's history must be the host's, each event once, in order"
        );
    }
}

#[tokio::test]
async fn a_hub_serves_three_hosts_and_keeps_every_event_once_through_cuts_and_restarts() {
    let mut hub = Hub::start();
    let names = ["web-1", "web-2", "web-3"];
    let mut hosts: Vec<Daemon> = names.iter().map(|n| host(&hub, n, Some(&hub.add(n)), "")).collect();
    for n in names {
        hub.wait_status(n, "online", Duration::from_secs(20));
    }
    // Trust on first use: the hub's certificate is pinned, the host's key private.
    let pin = std::fs::read_to_string(hosts[0].path("state/hub.pin")).unwrap();
    assert_eq!(pin.trim().len(), 64, "{pin}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(hosts[0].path("state/hub-key.pk8")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The list: state, version, address, numbers, services.
    let list = hub.hosts();
    let w1 = list.iter().find(|h| h["name"] == "web-1").unwrap();
    assert_eq!(
        (w1["version"].as_str(), w1["address"].as_str()),
        (Some(env!("CARGO_PKG_VERSION")), Some("127.0.0.1"))
    );
    wait("web-1's first sample", Duration::from_secs(10), || {
        let h = hub.hosts().into_iter().find(|h| h["name"] == "web-1")?;
        (h["services"]["total"] == 3
            && h["services"]["running"] == 2
            && h["stats"]["memory_percent"].as_f64()? > 0.0)
            .then_some(())
    });

    // Each host's own API through the hub, over HTTPS.
    let (code, body) = hub.get("/api/hosts/web-2/api/services").await;
    assert_eq!(code, 200, "{body}");
    let names_seen: Vec<&str> =
        body["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names_seen, ["burst", "idle", "tick"]);
    let (code, body) = hub.get("/api/hosts/web-2/api/system/stats").await;
    assert_eq!((code, body["data"]["cpu"]["count"].as_u64().unwrap() > 0), (200, true));
    let (code, body) = hub.get("/api/hosts/nowhere/api/services").await;
    assert_eq!((code, body["code"].as_str()), (404, Some("not_found")));

    // Control through the hub: the service really stops on that host, and only there.
    let (code, body) = hub.post("/api/hosts/web-1/api/services/idle/stop", &hub.d.token()).await;
    assert_eq!((code, body["data"]["status"].as_str()), (200, Some("stopped")), "{body}");
    assert_eq!(hosts[0].service("idle")["status"], "stopped");
    assert_eq!(hosts[1].service("idle")["status"], "running");

    // The CLI: any verb with --host, through the hub's socket.
    let out = hub.d.ok(&["--host", "web-2", "status", "--json"]);
    let st: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(st.len(), 3);
    hub.d.ok(&["--host", "web-2", "stop", "tick"]);
    hosts[1].wait_status("tick", "stopped", Duration::from_secs(10));
    hub.d.ok(&["--host", "web-2", "start", "tick"]);
    hosts[1].wait_status("tick", "running", Duration::from_secs(10));
    let logs = hub.d.ok(&["--host", "web-2", "logs", "tick", "-n", "3"]);
    assert!(logs.contains("tick-"), "{logs}");
    // An action run on a host, followed to its end, through the hub.
    let ran = hub.d.ok(&["--host", "web-1", "run", "greet", "-p", "who=fleet"]);
    assert!(ran.contains("hello fleet"), "{ran}");
    // A log follow from the CLI: new lines keep coming through the link.
    let mut follow = std::process::Command::new(crate::common::BIN)
        .args(["--host", "web-2", "logs", "tick", "-f", "-n", "1", "--config"])
        .arg(&hub.d.config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    for _ in 0..4 {
        let line = lines.next().expect("a followed line").unwrap();
        assert!(line.contains("tick-"), "{line}");
    }
    follow.kill().unwrap();
    follow.wait().unwrap();

    // One scrape of the hub covers the fleet: each host's gauges, labelled.
    let metrics = hub.https.get(hub.url("/metrics")).bearer_auth(hub.d.token()).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for n in names {
        assert!(
            metrics.contains(&format!("ctrl_service_up{{host=\"{n}\",service=\"tick\"}} 1")),
            "{n}: {metrics}"
        );
        assert!(metrics.contains(&format!("ctrl_host_cpu_percent{{host=\"{n}\"}} ")), "{n}");
    }
    assert_eq!(metrics.matches("# TYPE ctrl_service_up gauge").count(), 1, "one family");

    // A backlog of 3,000 short lines comes through whole, each its own event:
    // the window counts bytes, not frames.
    let (code, _) = hub.post("/api/hosts/web-3/api/services/burst/start", &hub.d.token()).await;
    assert_eq!(code, 200);
    let text = hub
        .follow("/api/hosts/web-3/api/services/burst/logs?follow=true&lines=3000", |t| {
            t.contains("data: {\"ts\"") && t.contains("\"line\":\"3000\"")
        })
        .await;
    assert_eq!(text.matches("event: log").count(), 3000);

    // A log follow streams through the link (SSE), line by line.
    hub.follow("/api/hosts/web-3/api/services/tick/logs?follow=true&lines=1", |t| {
        t.matches("tick-").count() >= 3
    })
    .await;

    // Cut a host (SIGSTOP): the hub counts it offline after three missed pings;
    // SIGCONT: it is back, and nothing it did is lost or repeated.
    hosts[2].signal(Signal::SIGSTOP);
    hub.wait_status("web-3", "offline", Duration::from_secs(10));
    let (code, body) = hub.get("/api/hosts/web-3/api/services").await;
    assert_eq!((code, body["code"].as_str()), (503, Some("host_offline")), "{body}");
    hosts[2].signal(Signal::SIGCONT);
    hub.wait_status("web-3", "online", Duration::from_secs(20));
    hosts[2].ok(&["restart", "tick"]);
    assert_same_history(&hub, "web-3", &hosts[2]);

    // Restart the hub while hosts go on changing: they buffer, then backfill.
    hub.d.stop();
    hosts[0].ok(&["start", "idle"]);
    hosts[1].ok(&["restart", "tick"]);
    hub.d.up();
    for n in names {
        hub.wait_status(n, "online", Duration::from_secs(30));
    }
    for (n, h) in names.iter().zip(&hosts) {
        assert_same_history(&hub, n, h);
    }

    // Restart a host, gracefully and by SIGKILL: a new run's events follow the old ones.
    hosts[0].stop();
    hub.wait_status("web-1", "offline", Duration::from_secs(10));
    hosts[0].up();
    hub.wait_status("web-1", "online", Duration::from_secs(20));
    assert_same_history(&hub, "web-1", &hosts[0]);
    hosts[1].kill9();
    hosts[1].up();
    hub.wait_status("web-2", "online", Duration::from_secs(20));
    hosts[1].ok(&["restart", "idle"]);
    assert_same_history(&hub, "web-2", &hosts[1]);
    drop(hosts);
}

#[tokio::test]
async fn stolen_tokens_borrowed_names_and_low_roles_are_refused_and_audited() {
    let hub = Hub::start();
    let token = hub.add("db-1");
    let real = host(&hub, "db-1", Some(&token), "");
    hub.wait_status("db-1", "online", Duration::from_secs(20));

    // The same token again, from another machine (another key): refused.
    let thief = host(&hub, "db-1", Some(&token), "");
    wait_log(&thief, "token_used", Duration::from_secs(15));
    // Another host's name without a token: refused.
    let impostor = host(&hub, "db-1", None, "");
    wait_log(&impostor, "key_mismatch", Duration::from_secs(15));
    assert_eq!(hub.status_of("db-1"), "online", "the real host keeps its link");
    assert_eq!(impostor.service("idle")["status"], "running", "a refused host supervises on");

    // An expired token.
    let late = hub.d.ok(&["hosts", "add", "late", "--expires", "1s"]).trim().to_owned();
    std::thread::sleep(Duration::from_millis(1100));
    let tardy = host(&hub, "late", Some(&late), "");
    wait_log(&tardy, "token_expired", Duration::from_secs(15));
    assert_eq!(hub.status_of("late"), "pending");

    // A viewer of the hub cannot stop a host's service; an operator can.
    let viewer = hub.d.ok(&["token", "create", "--name", "v", "--role", "viewer"]).trim().to_owned();
    let (code, body) = hub.post("/api/hosts/db-1/api/services/idle/stop", &viewer).await;
    assert_eq!((code, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert_eq!(real.service("idle")["status"], "running");
    let (code, _) = hub.get("/api/hosts/db-1/api/services").await;
    assert_eq!(code, 200);

    // Everything refused is in the hub's audit log.
    let audit: Vec<Value> = {
        let res =
            hub.https.get(hub.url("/api/audit?limit=100")).bearer_auth(hub.d.token()).send().await.unwrap();
        res.json::<Value>().await.unwrap()["data"].as_array().unwrap().clone()
    };
    let has = |action: &str, result: &str, needle: &str| {
        audit.iter().any(|e| {
            e["action"] == action
                && e["result"] == result
                && e["detail"].as_str().unwrap_or_default().contains(needle)
        })
    };
    assert!(has("host_link", "denied", "used already"), "{audit:#?}");
    assert!(has("host_link", "denied", "another key"), "{audit:#?}");
    assert!(has("host_link", "denied", "expired"), "{audit:#?}");
    assert!(has("host_request", "denied", "POST /api/services/idle/stop -> 403"), "{audit:#?}");
    assert!(audit.iter().any(|e| e["action"] == "host_enroll" && e["target"] == "db-1"));

    // Removing a host drops its link; it is refused from then on.
    let (code, _) = {
        let res =
            hub.https.delete(hub.url("/api/hosts/db-1")).bearer_auth(hub.d.token()).send().await.unwrap();
        (res.status().as_u16(), ())
    };
    assert_eq!(code, 200);
    let (code, _) = hub.get("/api/hosts/db-1/api/services").await;
    assert_eq!(code, 404);
    wait_log(&real, "unknown_host", Duration::from_secs(15));
}

#[test]
fn a_hub_that_cannot_be_reached_or_changed_its_certificate_leaves_the_host_supervising() {
    let dir = tempfile::Builder::new().prefix("ctrl-host-").tempdir().unwrap();
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[hub]\nurl = \"https://no-such-hub.invalid:8443\"\n\n\
         [services.idle]\ncommand = [\"sleep\", \"3600\"]\n",
    )
    .unwrap();
    let h = Daemon::adopt(dir, config);
    h.wait_status("idle", "running", Duration::from_secs(10));
    wait_log(&h, "cannot reach no-such-hub.invalid:8443", Duration::from_secs(15));
    assert_eq!(h.service("idle")["status"], "running");
    let check = h.ctl(&["check"]);
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{said}");
    assert!(said.contains("hub.url: 'no-such-hub.invalid:8443' does not resolve"), "{said}");
    assert!(said.contains("has not enrolled and has no token") && said.contains("ctrl hosts add"), "{said}");

    // A hub whose certificate changed after the host pinned it.
    let mut hub = Hub::start();
    let token = hub.add("app-1");
    let app = host(&hub, "app-1", Some(&token), "");
    hub.wait_status("app-1", "online", Duration::from_secs(20));
    hub.d.stop();
    self_signed(hub.d.dir.path(), "localhost");
    hub.d.up();
    wait_log(&app, "the hub's certificate changed", Duration::from_secs(20));
    assert_eq!(hub.status_of("app-1"), "offline");
    assert_eq!(app.service("idle")["status"], "running", "the host supervises on");
}

/// Alert rules on a channel nobody listens to: the alerts are recorded all the same.
const ALERTS: &str = "[alerts.channels.log]\nurl = \"http://127.0.0.1:9/hook\"\n\n\
    [alerts.rules.crashes]\non = [\"crash\"]\nchannels = [\"log\"]\n";

#[tokio::test]
async fn the_hubs_alerts_fire_once_for_a_host_offline_and_for_each_alert_a_host_raises() {
    let rules =
        format!("{ALERTS}\n[alerts.rules.hosts-down]\non = [\"host_offline\"]\nchannels = [\"log\"]\n");
    let hub = Hub::start_with(&rules);
    let token = hub.add("h1");
    // The host has its own crash rule and a service that crashes over and over.
    let crashing = format!(
        "\n{ALERTS}\n[services.flaky]\ncommand = [\"sh\", \"-c\", \"sleep 0.2; exit 3\"]\nrestart = \"always\"\n"
    );
    let h1 = host(&hub, "h1", Some(&token), &crashing);
    hub.wait_status("h1", "online", Duration::from_secs(20));
    let alerts = || async {
        let (_, body) = hub.get("/api/alerts?limit=100").await;
        body["data"].as_array().cloned().unwrap_or_default()
    };
    let count = |list: &[Value], rule: &str, subject: &str, state: &str| {
        list.iter().filter(|a| a["rule"] == rule && a["subject"] == subject && a["state"] == state).count()
    };
    let (alerts, count) = (&alerts, &count);
    let raised = |rule: &'static str, subject: &'static str, state: &'static str, limit: u64| async move {
        let what = format!("the hub's {rule} alert {state} for {subject}");
        eventually(&what, Duration::from_secs(limit), || async {
            (count(&alerts().await, rule, subject, state) > 0).then_some(())
        })
        .await
    };
    // The crash loop: the host fires once, and so does the hub, for h1/flaky.
    raised("crashes", "h1/flaky", "firing", 15).await;
    wait("three crashes of flaky", Duration::from_secs(20), || {
        (h1.service("flaky")["restarts"].as_u64()? >= 3).then_some(())
    });
    let list = alerts().await;
    assert_eq!(count(&list, "crashes", "h1/flaky", "firing"), 1, "one episode: {list:#?}");
    assert_eq!(count(&list, "crashes", "flaky", "firing"), 0, "the hub has no service of that name");

    // Cut off: one host_offline alert; back: resolved.
    h1.signal(Signal::SIGSTOP);
    hub.wait_status("h1", "offline", Duration::from_secs(10));
    raised("hosts-down", "h1", "firing", 10).await;
    h1.signal(Signal::SIGCONT);
    hub.wait_status("h1", "online", Duration::from_secs(20));
    raised("hosts-down", "h1", "resolved", 10).await;
    let list = alerts().await;
    assert_eq!(count(&list, "hosts-down", "h1", "firing"), 1, "{list:#?}");
    assert_eq!(count(&list, "crashes", "h1/flaky", "firing"), 1, "the backfill repeats no alert: {list:#?}");

    // The hub restarts and the host does not come back: once the link's lease
    // has lapsed (and the host had a lease's time to return), it is offline.
    let mut hub = hub;
    hub.d.stop();
    let mut h1 = h1;
    h1.stop();
    hub.d.up();
    wait_log(&hub.d, "host offline: its hub stopped renewing", Duration::from_secs(60));
    raised_again(&hub, "hosts-down", "h1", 2).await;
}

/// Waits until the hub's `rule` has fired `n` times for `subject`.
async fn raised_again(hub: &Hub, rule: &str, subject: &str, n: usize) {
    eventually(&format!("{rule} firing {n} times for {subject}"), Duration::from_secs(10), || async {
        // A connection kept from before a restart may fail once: asked again.
        let res =
            hub.https.get(hub.url("/api/alerts?limit=100")).bearer_auth(hub.d.token()).send().await.ok()?;
        let body: Value = res.json().await.ok()?;
        let list = body["data"].as_array().cloned().unwrap_or_default();
        let fired =
            list.iter().filter(|a| a["rule"] == rule && a["subject"] == subject && a["state"] == "firing");
        (fired.count() == n).then_some(())
    })
    .await
}

/// One address in front of several hubs, as a load balancer: each connection
/// goes to the first hub that accepts it, in order (a dead hub is passed over).
fn balancer(ports: [u16; 2]) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    for p in ports {
                        if let Ok(mut hub) = tokio::net::TcpStream::connect(("127.0.0.1", p)).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut hub).await;
                            return;
                        }
                    }
                });
            }
        });
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_one_postgresql_relay_to_each_other_and_a_host_moves_when_its_hub_dies() {
    let url = ctrl_store::testing::postgres().await;
    let shared = format!(
        "[storage]\nurl = \"{url}\"\nshared = true\n\n{ALERTS}\n[alerts.rules.hosts-down]\non = [\"host_offline\"]\nchannels = [\"log\"]\n"
    );
    let mut a = Hub::start_with(&shared);
    let b = Hub::start_beside(&shared, Some(&a));
    let front = balancer([a.port, b.port]);
    let hosts: Vec<Daemon> = ["h1", "h2"].iter().map(|n| host_at(front, n, Some(&a.add(n)), "")).collect();
    for n in ["h1", "h2"] {
        a.wait_status(n, "online", Duration::from_secs(20));
    }

    // Hub b lists the hosts that hub a holds as online, with a's numbers.
    let listed = |hub: &Hub, name: &str| hub.hosts().into_iter().find(|h| h["name"] == name).unwrap();
    wait("hub b to list h1 with its numbers", Duration::from_secs(10), || {
        let h1 = listed(&b, "h1");
        (h1["status"] == "online" && h1["stats"]["cpu_percent"].is_number()).then_some(())
    });

    // A request at hub b is relayed to hub a, which holds the link: reads,
    // changes, a log follow and the CLI.
    let (code, body) = b.get("/api/hosts/h1/api/services").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
    let (code, body) = b.post("/api/hosts/h1/api/services/idle/stop", &b.d.token()).await;
    assert_eq!((code, body["data"]["status"].as_str()), (200, Some("stopped")), "{body}");
    assert_eq!(hosts[0].service("idle")["status"], "stopped");
    b.follow("/api/hosts/h1/api/services/tick/logs?follow=true&lines=1", |t| t.matches("tick-").count() >= 3)
        .await;
    b.d.ok(&["--host", "h1", "start", "idle"]);
    hosts[0].wait_status("idle", "running", Duration::from_secs(10));
    // Each change is audited once, by the hub the person asked.
    let (_, audit) = a.get("/api/audit?limit=200").await;
    let changes: Vec<&Value> =
        audit["data"].as_array().unwrap().iter().filter(|e| e["action"] == "host_request").collect();
    assert_eq!(changes.len(), 2, "{changes:#?}");

    // The relay's door is shut to anyone who cannot sign as a hub of the database.
    let forged = b
        .https
        .post(b.url("/hub/relay/h1/api/services/idle/stop"))
        .header("x-ctrl-hub", "evil:00000000")
        .header("x-ctrl-hub-at", chrono::Utc::now().timestamp_millis().to_string())
        .header("x-ctrl-hub-signature", "00".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let plain = a.https.get(a.url("/hub/hosts")).bearer_auth(a.d.token()).send().await.unwrap();
    assert_eq!(plain.status(), 401, "an API token is no hub's signature");
    assert_eq!(hosts[0].service("idle")["status"], "running", "nothing stopped");

    // Hub a dies (SIGKILL), with h2 cut off at that moment: h1 moves to hub b
    // through the same address, within the backoff window, its history whole.
    hosts[1].signal(Signal::SIGSTOP);
    a.d.kill9();
    hosts[0].ok(&["restart", "tick"]);
    wait("h1 to link to hub b", Duration::from_secs(40), || {
        b.d.log().contains("host online").then_some(()).filter(|_| {
            let h1 = listed(&b, "h1");
            h1["status"] == "online" && h1["stats"]["cpu_percent"].is_number()
        })
    });
    let (code, body) = b.get("/api/hosts/h1/api/services").await;
    assert_eq!(code, 200, "served by hub b's own link now: {body}");
    assert_same_history(&b, "h1", &hosts[0]);

    // h2's lease runs out with nobody renewing it: hub b finds it, h2 is offline
    // and hub b's rule fires once; h2 comes back to hub b and it resolves.
    b.wait_status("h2", "offline", Duration::from_secs(50));
    wait_log(&b.d, "its hub stopped renewing the link's lease", Duration::from_secs(45));
    let alerts = || async {
        let (_, body) = b.get("/api/alerts?limit=100").await;
        body["data"].as_array().cloned().unwrap_or_default()
    };
    let count = |list: &[Value], subject: &str, state: &str| {
        list.iter()
            .filter(|a| a["rule"] == "hosts-down" && a["subject"] == subject && a["state"] == state)
            .count()
    };
    eventually("hub b's host_offline alert for h2", Duration::from_secs(10), || async {
        (count(&alerts().await, "h2", "firing") == 1).then_some(())
    })
    .await;
    hosts[1].signal(Signal::SIGCONT);
    b.wait_status("h2", "online", Duration::from_secs(40));
    eventually("h2's alert resolved", Duration::from_secs(10), || async {
        (count(&alerts().await, "h2", "resolved") == 1).then_some(())
    })
    .await;
    let list = alerts().await;
    assert_eq!(count(&list, "h1", "firing"), 0, "h1 moved, it was never offline: {list:#?}");
    assert_same_history(&b, "h2", &hosts[1]);

    // Hub a comes back: a request there is relayed to hub b, which holds both.
    a.d.up();
    let (code, body) = a.get("/api/hosts/h2/api/services").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(listed(&a, "h1")["status"], "online");

    // h1 is cut off from hub b, which says so, and comes back through the front
    // to hub a: hub b hears it is back there and resolves its alert.
    hosts[0].signal(Signal::SIGSTOP);
    eventually("hub b's host_offline alert for h1", Duration::from_secs(10), || async {
        (count(&alerts().await, "h1", "firing") == 1).then_some(())
    })
    .await;
    let before = a.hub_links("h1");
    hosts[0].signal(Signal::SIGCONT);
    wait("h1 to link to hub a", Duration::from_secs(40), || (a.hub_links("h1") > before).then_some(()));
    eventually("h1's alert resolved by hub b", Duration::from_secs(15), || async {
        (count(&alerts().await, "h1", "resolved") == 1).then_some(())
    })
    .await;
}
