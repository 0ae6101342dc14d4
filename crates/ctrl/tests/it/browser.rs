//! The dashboard in a real headless Chromium (through chromedriver) against a
//! real daemon: login, live charts, controls without page reloads, the live log
//! viewer, roles, payloads rendered as text, logout, reconnection. Screenshots of
//! every page, and of the page at any failure, go to `target/browser-screenshots/`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{Daemon, add_user};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Everything the browser tests need: a daemon with users, and a browser.
struct Ui {
    d: Daemon,
    c: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    name: &'static str,
}

const SERVICES: &str = r#"
[services.app]
command = ["sleep", "1000"]

[services.echo]
command = ["sh", "-c", "while true; do if [ -f say ]; then cat say; rm say; fi; sleep 0.05; done"]

[services.broken]
command = ["sh", "-c", "echo 'missing: settings.toml' >&2; exit 2"]
autostart = false

[services.evil]
command = ["sh", "-c", "echo '<script>window.__xss=1</script>'; echo '\"><img src=x onerror=window.__xss=2>'; sleep 1000"]

[actions.greet]
description = "Says hello"
command = ["printf", "hello %s\n", "{name}"]
params.name = { type = "string" }

[actions.steps]
command = ["sh", "-c", "for i in 1 2 3 4; do echo \"::progress $i/4\"; echo step $i; sleep 0.3; done"]

[actions.hang]
command = ["sleep", "300"]

[actions.wipe]
command = ["true"]
confirm = true
role = "admin"

[actions.backup-app]
kind = "backup"
source = { command = ["printf", "backup bytes"] }
target = "app"
ext = "txt"

[alerts.channels.void]
url = "http://127.0.0.1:9/nothing"

[alerts.rules.crashes]
on = ["crash"]
channels = ["void"]
"#;

const KNOWLEDGE: &str = "[knowledge]\nroots = [\"knowledge\"]\nwatch = false\n";

/// Notes for the knowledge page, one of them hostile.
const NOTES: &[(&str, &str)] = &[
    (
        "keeper/wombats.md",
        "---\ntitle: Wombat care\ntags: [animals]\n---\n# Feeding\nWombats eat **grass** and roots.\n",
    ),
    (
        "keeper/evil.md",
        "---\ntitle: <img src=x onerror=window.__xss=4>\n---\n## Heading\n<script>window.__xss=5</script>\n\
         [click](javascript:window.__xss=6) and [ok](https://example.org)\n\nA wombat mention.\n",
    ),
    ("writer/plain.md", "Numbats and wombats.\n"),
];

fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Ui {
    async fn start(name: &'static str) -> Ui {
        Ui::start_with(name, "").await
    }

    /// With more of `ctrl.toml` after the shared part.
    async fn start_with(name: &'static str, extra: &str) -> Ui {
        let dir = tempfile::Builder::new().prefix("ctrl-ui-").tempdir().unwrap();
        let config = dir.path().join("ctrl.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n{SERVICES}\n{KNOWLEDGE}\n{extra}"
            ),
        )
        .unwrap();
        for (rel, text) in NOTES {
            let p = dir.path().join("knowledge").join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        add_user(&config, "ann", "admin", "ann-secret-1");
        add_user(&config, "vic", "viewer", "vic-secret-1");
        let d = Daemon::adopt(dir, config);
        let (c, driver, profile) = browser().await;
        c.set_window_size(1280, 900).await.unwrap();
        Ui { d, c, driver, _profile: profile, name }
    }

    async fn shot(&self, what: &str) {
        if let Ok(png) = self.c.screenshot().await {
            let _ = std::fs::write(screenshot_dir().join(format!("{}-{what}.png", self.name)), png);
        }
    }

    async fn login(&self, user: &str, password: &str) {
        self.c.goto(&self.d.url("/login")).await.unwrap();
        self.shot("login").await;
        self.c.find(Locator::Id("username")).await.unwrap().send_keys(user).await.unwrap();
        self.c.find(Locator::Id("password")).await.unwrap().send_keys(password).await.unwrap();
        self.c.find(Locator::Id("login-submit")).await.unwrap().click().await.unwrap();
        self.wait_text("#whoami", user).await;
    }

    /// Waits until the browser shows `path`; screenshot and panic after 5 s.
    async fn wait_path(&self, path: &str) {
        for _ in 0..100 {
            if self.c.current_url().await.is_ok_and(|u| u.path() == path) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.shot("failure").await;
        panic!("the browser never went to {path}");
    }

    /// Waits until the element's text contains `want`; screenshot and panic after 10 s.
    async fn wait_text(&self, css: &str, want: &str) {
        let mut last = String::new();
        for _ in 0..200 {
            if let Ok(el) = self.c.find(Locator::Css(css)).await
                && let Ok(t) = el.text().await
            {
                if t.contains(want) {
                    return;
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.shot("failure").await;
        panic!("{css} never showed {want:?}; last text {last:?}");
    }

    async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.unwrap()
    }

    /// Ends the browser session (chromedriver itself goes when `Ui` is dropped).
    async fn finish(self) {
        let _ = self.c.clone().close().await;
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        // Whatever assertion failed, the page as it was goes into the test output; the
        // browser session is ended either way, so no Chromium outlives its test.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                if std::thread::panicking() {
                    self.shot("failure").await;
                }
                let _ = self.c.clone().close().await;
            })
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn browser() -> (Client, Child, tempfile::TempDir) {
    let port = crate::common::free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver on PATH (scripts/test installs Debian's chromium-driver)");
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        format!("--user-data-dir={}", profile.path().display())]}});
    let caps = caps.as_object().unwrap().clone();
    for _ in 0..100 {
        let mut builder = ClientBuilder::rustls().expect("rustls");
        if let Ok(c) = builder.capabilities(caps.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
            return (c, driver, profile);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut driver = driver;
    let _ = driver.kill();
    let _ = driver.wait();
    panic!("no webdriver session from chromedriver on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_logs_in_watches_charts_and_controls_services_without_reloads() {
    let ui = Ui::start("admin").await;
    ui.d.wait_status("app", "running", Duration::from_secs(10));
    ui.login("ann", "ann-secret-1").await;
    ui.wait_text("#gauges", "CPU").await;
    // The CPU chart draws the hour's history and then grows with live samples.
    let points = async || {
        ui.js("const c = document.getElementById('chart-cpu'); return c ? Number(c.dataset.last || 0) : 0;")
            .await
    };
    let mut first = 0;
    for _ in 0..100 {
        first = points().await.as_i64().unwrap_or(0);
        if first > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(first > 0, "the CPU chart never drew");
    ui.shot("overview").await;
    let mut later = first;
    for _ in 0..100 {
        later = points().await.as_i64().unwrap_or(0);
        if later > first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(later > first, "the chart did not update live");

    // Stop and start from the services table; a marker shows the page never reloaded.
    ui.js("window.__same_page = true; location.hash = '#/services'; return null;").await;
    ui.wait_text("tr.service-row[data-name='app']", "running").await;
    ui.shot("services").await;
    ui.c.find(Locator::Css("button[data-action='stop'][data-name='app']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ui.wait_text("tr.service-row[data-name='app']", "stopped").await;
    assert_eq!(ui.d.service("app")["status"], "stopped");
    // Start it again from the keyboard: the button takes Enter.
    let start = ui.c.find(Locator::Css("button[data-action='start'][data-name='app']")).await.unwrap();
    start.send_keys(&char::from(fantoccini::key::Key::Enter).to_string()).await.unwrap();
    ui.wait_text("tr.service-row[data-name='app']", "running").await;
    assert_eq!(ui.js("return window.__same_page === true;").await, json!(true));
    // A start that fails says why beside the button that asked, and stays said.
    ui.c.find(Locator::Css("button[data-action='start'][data-name='broken']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    ui.wait_text("tr.service-row[data-name='broken'] .start-failure", "missing: settings.toml").await;
    ui.wait_text("tr.service-row[data-name='broken']", "exited with code 2 during start-up").await;
    ui.wait_text("tr.service-row[data-name='broken']", "fatal").await;
    ui.shot("start-failed").await;

    for page in ["processes", "ports", "access", "audit"] {
        ui.js(&format!("location.hash = '#/{page}'; return null;")).await;
        ui.wait_text("#main h1", "").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        ui.shot(page).await;
    }
    ui.wait_text("#audit-table", "stop").await;
    // On a phone-sized screen the overview fits the width (no sideways scrolling).
    ui.c.set_window_size(390, 844).await.unwrap();
    ui.js("location.hash = '#/overview'; return null;").await;
    ui.wait_text("#gauges", "CPU").await;
    ui.shot("phone-overview").await;
    let overflow =
        ui.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth;").await;
    assert!(overflow.as_i64().unwrap_or(1) <= 0, "the overview scrolls sideways on a phone by {overflow}px");
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_service_prints_appears_in_the_live_log_viewer() {
    let ui = Ui::start("logs").await;
    ui.d.wait_status("echo", "running", Duration::from_secs(10));
    ui.login("ann", "ann-secret-1").await;
    ui.js("location.hash = '#/services/echo'; return null;").await;
    ui.wait_text("#svc-info", "running").await;
    std::fs::write(ui.d.dir.path().join("say.tmp"), "hello from the test\n").unwrap();
    std::fs::rename(ui.d.dir.path().join("say.tmp"), ui.d.dir.path().join("say")).unwrap();
    ui.wait_text("#log-lines", "hello from the test").await;
    ui.wait_text("#svc-config", "\"stop_timeout\": \"10s\"").await;
    ui.shot("service-detail").await;
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_controls_and_a_forged_request_is_refused() {
    let ui = Ui::start("viewer").await;
    ui.d.wait_status("app", "running", Duration::from_secs(10));
    ui.login("vic", "vic-secret-1").await;
    ui.js("location.hash = '#/services'; return null;").await;
    ui.wait_text("tr.service-row[data-name='app']", "running").await;
    ui.shot("services").await;
    assert!(ui.c.find_all(Locator::Css("button[data-action]")).await.unwrap().is_empty());
    // The viewer's own session, with a valid CSRF token, still cannot stop anything.
    let status = ui
        .c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/auth/me').then(r => r.json()).then(me =>
               fetch('/api/services/app/stop', {method: 'POST', headers: {'X-CSRF-Token': me.data.csrf_token}}))
             .then(r => done(r.status), e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403));
    assert_eq!(ui.d.service("app")["status"], "running");
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_in_logs_and_names_render_as_text() {
    let ui = Ui::start("payloads").await;
    ui.d.wait_status("evil", "running", Duration::from_secs(10));
    ui.login("ann", "ann-secret-1").await;
    ui.js("location.hash = '#/services/evil'; return null;").await;
    ui.wait_text("#log-lines", "<script>window.__xss=1</script>").await;
    ui.wait_text("#log-lines", "\"><img src=x onerror=window.__xss=2>").await;
    ui.wait_text("#svc-info", "<script>").await;
    // A token named with a payload shows as text in the tokens table.
    let token = r#""><img src=x onerror=window.__xss=3>"#;
    let res = reqwest::Client::new()
        .post(ui.d.url("/api/tokens"))
        .bearer_auth(ui.d.token())
        .json(&json!({"name": token, "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    ui.js("location.hash = '#/access'; return null;").await;
    ui.wait_text("#tokens-table", token).await;
    ui.shot("access").await;
    assert_eq!(ui.js("return document.querySelectorAll('#main img').length;").await, json!(0));
    assert_eq!(ui.js("return typeof window.__xss;").await, json!("undefined"));
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_returns_to_the_login_page_and_the_old_cookie_dies() {
    let ui = Ui::start("logout").await;
    ui.login("ann", "ann-secret-1").await;
    let cookie =
        ui.c.get_all_cookies()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.name() == "ctrl_session")
            .expect("the session cookie")
            .value()
            .to_owned();
    ui.c.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    ui.wait_path("/login").await;
    let res = reqwest::Client::new()
        .get(ui.d.url("/api/services"))
        .header("cookie", format!("ctrl_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A page that needs a session sends the browser to the login page.
    ui.c.goto(&ui.d.url("/")).await.unwrap();
    ui.wait_path("/login").await;
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_render_offline_under_the_csp() {
    let ui = Ui::start("docs").await;
    ui.c.goto(&ui.d.url("/docs/")).await.unwrap();
    ui.wait_text(".swagger-ui .info .title", "Control Center API").await;
    ui.wait_text(".swagger-ui", "/api/system/stats").await;
    ui.shot("swagger").await;
    ui.c.goto(&ui.d.url("/redoc")).await.unwrap();
    ui.wait_text("#redoc-container h1", "Control Center API").await;
    ui.shot("redoc").await;
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_by_itself_after_a_daemon_restart() {
    let mut ui = Ui::start("reconnect").await;
    ui.d.wait_status("app", "running", Duration::from_secs(10));
    ui.login("ann", "ann-secret-1").await;
    ui.js("window.__same_page = true; location.hash = '#/services'; return null;").await;
    ui.wait_text("tr.service-row[data-name='app']", "running").await;
    let live =
        async |ui: &Ui| ui.js("return document.getElementById('conn').classList.contains('live');").await;
    assert_eq!(live(&ui).await, json!(true));
    // The daemon goes away (its services stop) and comes back on the same address.
    let addr = ui.d.api_addr();
    ui.d.stop();
    let text = std::fs::read_to_string(&ui.d.config).unwrap().replace("127.0.0.1:0", &addr);
    std::fs::write(&ui.d.config, text).unwrap();
    ui.d.up();
    ui.d.wait_status("app", "running", Duration::from_secs(10));
    // The same page, without a reload, is live again and shows the new state.
    for _ in 0..200 {
        if live(&ui).await == json!(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live(&ui).await, json!(true), "the page did not reconnect");
    ui.d.ok(&["stop", "app"]);
    ui.wait_text("tr.service-row[data-name='app']", "stopped").await;
    assert_eq!(ui.js("return window.__same_page === true;").await, json!(true));
    ui.finish().await;
}

impl Ui {
    /// Submits the form of `action` on the Actions page and waits for its job page.
    async fn run_action(&self, action: &str) {
        self.js("location.hash = '#/actions'; return null;").await;
        let form = format!("form[data-action='{action}']");
        self.wait_text(&form, "Run").await;
        self.c
            .find(Locator::Css(&format!("{form} button[type=submit]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Waits until the page is a job's page; returns the job's id.
    async fn job_page(&self) -> String {
        for _ in 0..100 {
            let hash = self.js("return location.hash;").await;
            if let Some(id) = hash.as_str().and_then(|h| h.strip_prefix("#/jobs/")) {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.shot("failure").await;
        panic!("no job page");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_jobs_schedules_backups_and_alerts_pages_work() {
    let ui = Ui::start("jobs").await;
    ui.login("ann", "ann-secret-1").await;

    // A form generated from the parameter schema; the value comes back as text.
    ui.js("location.hash = '#/actions'; return null;").await;
    ui.wait_text("#actions", "Says hello").await;
    ui.shot("actions").await;
    let payload = "<img src=x onerror=window.__xss=3>";
    ui.c.find(Locator::Id("param-greet-name")).await.unwrap().send_keys(payload).await.unwrap();
    ui.run_action("greet").await;
    ui.job_page().await;
    ui.wait_text("#job-output", &format!("hello {payload}")).await;
    ui.wait_text("#job-info", "succeeded").await;
    assert_eq!(
        ui.js("return [window.__xss || 0, document.querySelectorAll('#job-output img').length];").await,
        json!([0, 0])
    );

    // Progress reported by the job fills the bar.
    ui.run_action("steps").await;
    ui.job_page().await;
    ui.wait_text("#job-output", "step 4").await;
    ui.wait_text("#job-info", "4/4").await;
    ui.wait_text("#job-info", "succeeded").await;
    assert_eq!(ui.js("return document.querySelector('#job-info progress').value;").await, json!(100));
    assert_eq!(
        ui.js("return document.querySelector('#job-info').textContent.includes('null');").await,
        json!(false)
    );
    ui.shot("job-progress").await;

    // Cancel from the job's page.
    ui.run_action("hang").await;
    ui.job_page().await;
    ui.wait_text("#job-info", "running").await;
    ui.c.find(Locator::Id("job-cancel")).await.unwrap().click().await.unwrap();
    ui.wait_text("#job-info", "cancelled").await;

    // An action that asks for confirmation runs after the dialog is accepted.
    ui.run_action("wipe").await;
    for _ in 0..50 {
        if ui.c.accept_alert().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ui.job_page().await;
    ui.wait_text("#job-info", "succeeded").await;

    ui.js("location.hash = '#/jobs'; return null;").await;
    ui.wait_text("#jobs-table", "cancelled").await;
    ui.wait_text("#jobs-table", "wipe").await;
    ui.shot("jobs").await;

    // The cron helper shows the next runs, or the parser's complaint.
    ui.js("location.hash = '#/schedules'; return null;").await;
    ui.wait_text("#cron-preview", "Next runs").await;
    let cron = ui.c.find(Locator::Id("schedule-cron")).await.unwrap();
    cron.clear().await.unwrap();
    cron.send_keys("61 * * * *").await.unwrap();
    ui.wait_text("#cron-preview", "not a cron expression").await;
    cron.clear().await.unwrap();
    cron.send_keys("*/5 * * * *").await.unwrap();
    ui.wait_text("#cron-preview", "Next runs").await;
    assert_eq!(ui.js("return document.querySelectorAll('#cron-preview li').length;").await, json!(6));
    ui.c.find(Locator::Id("schedule-name")).await.unwrap().send_keys("every5").await.unwrap();
    ui.js("const s = document.getElementById('schedule-action'); s.value = 'greet'; s.dispatchEvent(new Event('change')); return null;").await;
    ui.c.find(Locator::Id("param-schedule-name")).await.unwrap().send_keys("cron").await.unwrap();
    ui.c.find(Locator::Css("#schedule-form button[type=submit]")).await.unwrap().click().await.unwrap();
    ui.wait_text("#schedules-table", "every5").await;
    ui.wait_text("#schedules-table", "*/5 * * * *").await;
    ui.shot("schedules").await;

    // A backup made from its action is listed and downloads.
    ui.run_action("backup-app").await;
    ui.job_page().await;
    ui.wait_text("#job-info", "succeeded").await;
    ui.js("location.hash = '#/backups'; return null;").await;
    ui.wait_text("section[data-target='app']", ".txt").await;
    let got = ui
        .c
        .execute_async(
            "const done = arguments[0]; fetch(document.querySelector(\"section[data-target='app'] a\").href).then((r) => r.text()).then(done);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(got, json!("backup bytes"));
    ui.shot("backups").await;

    ui.js("location.hash = '#/alerts'; return null;").await;
    ui.wait_text("#rules-table", "crashes").await;
    ui.wait_text("#main", "void (json)").await;
    ui.shot("alerts").await;
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_knowledge_page_searches_as_you_type_scans_and_renders_notes_as_text() {
    let ui = Ui::start("knowledge").await;
    ui.login("ann", "ann-secret-1").await;
    ui.js("location.hash = '#/knowledge'; return null;").await;
    ui.wait_text("#kb-stats", "3 files").await;
    ui.wait_text("#kb-agents", "keeper").await;
    // Search as you type: every keystroke may search; the last answer wins.
    ui.c.find(Locator::Id("kb-q")).await.unwrap().send_keys("wombat").await.unwrap();
    ui.wait_text("#kb-total", "2 files").await;
    ui.wait_text("#kb-hits", "Wombat care").await;
    let marks = ui
        .js("return [...document.querySelectorAll('#kb-hits mark')].map(m => m.textContent.toLowerCase());")
        .await;
    assert!(marks.as_array().unwrap().iter().any(|m| m == "wombat" || m == "wombats"), "{marks}");
    ui.shot("search").await;
    // The per-agent counts filter when clicked.
    ui.c.find(Locator::Css("#kb-counts button.chip")).await.unwrap().click().await.unwrap();
    ui.wait_text("#kb-total", "2 files").await;
    assert_eq!(ui.js("return document.getElementById('kb-agent').value;").await, json!("keeper"));
    // Prefixes and the hostile note's title, shown as text.
    ui.c.find(Locator::Id("kb-q")).await.unwrap().clear().await.unwrap();
    ui.c.find(Locator::Id("kb-q")).await.unwrap().send_keys("mention").await.unwrap();
    ui.wait_text("#kb-total", "1 files").await;
    ui.wait_text("#kb-hits", "<img src=x onerror=window.__xss=4>").await;
    ui.c.find(Locator::Css("#kb-hits h3 a")).await.unwrap().click().await.unwrap();
    ui.wait_text("#kb-content", "Heading").await;
    ui.wait_text("#kb-content", "<script>window.__xss=5</script>").await;
    ui.shot("file").await;
    let page = ui.js("const c = document.getElementById('kb-content'); return { h3: c.querySelector('h3')?.textContent,         bad: c.querySelectorAll('a[href^=\"javascript\"], script, img').length, ok: c.querySelector('a[href=\"https://example.org\"]')?.textContent };").await;
    assert_eq!(page, json!({"h3": "Heading", "bad": 0, "ok": "ok"}));
    assert_eq!(ui.js("return typeof window.__xss;").await, json!("undefined"));
    // A scan from the page, with its outcome shown where it was asked for.
    std::fs::write(ui.d.path("knowledge/writer/new.md"), "Quolls at night.\n").unwrap();
    ui.js("location.hash = '#/knowledge'; return null;").await;
    ui.c.find(Locator::Id("kb-scan")).await.unwrap().click().await.unwrap();
    ui.wait_text("#kb-scan-state", "added 1, changed 0, removed 0, unchanged 3").await;
    ui.wait_text("#kb-stats", "4 files").await;
    ui.c.find(Locator::Id("kb-q")).await.unwrap().send_keys("quolls").await.unwrap();
    ui.wait_text("#kb-hits", "writer/new.md").await;
    ui.shot("scanned").await;
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_page_shows_upstreams_usage_and_calls_and_its_playground_streams() {
    let fake = crate::common::fake_llm::FakeLlm::start("alpha", false).await;
    let extra = format!("[llm]\n[llm.upstreams.alpha]\nurl = \"{}\"\nmodels = [\"fake-*\"]\n", fake.url);
    let ui = Ui::start_with("llm", &extra).await;
    ui.login("ann", "ann-secret-1").await;
    ui.js("location.hash = '#/llm'; return null;").await;
    ui.wait_text("#llm-upstreams", "alpha").await;
    ui.wait_text("#llm-by-day", "No calls yet").await;

    // The playground streams: its output grows chunk by chunk, and a model's text stays text.
    ui.js("const m = document.getElementById('llm-model'); m.value = 'fake-slowstream'; \
           document.getElementById('llm-prompt').value = 'hi <img src=x onerror=window.__xss=7>'; \
           window.__lengths = new Set(); \
           new MutationObserver(() => window.__lengths.add(document.getElementById('llm-output').textContent.length)) \
             .observe(document.getElementById('llm-output'), { childList: true, characterData: true, subtree: true }); \
           return null;")
        .await;
    ui.c.find(Locator::Id("llm-send")).await.unwrap().click().await.unwrap();
    ui.wait_text("#llm-play-state", "done").await;
    ui.wait_text("#llm-output", "Hello from alpha: hi <img src=x onerror=window.__xss=7>").await;
    let steps = ui.js("return window.__lengths.size;").await;
    assert!(steps.as_u64().unwrap() >= 4, "the answer arrived in pieces: {steps}");
    assert_eq!(ui.js("return document.querySelectorAll('#llm-output *').length;").await, json!(0));
    ui.wait_text("#llm-play-state", "tokens").await;
    ui.shot("playground").await;

    // The call is in the log and the usage; its detail shows the request and the attempts.
    ui.wait_text("#llm-log-table", "fake-slowstream").await;
    ui.wait_text("#llm-by-model", "fake-slowstream").await;
    ui.c.find(Locator::Css("#llm-log-table a")).await.unwrap().click().await.unwrap();
    ui.wait_text("#llm-detail", "fake-slowstream").await;
    ui.wait_text("#llm-attempts", "alpha").await;
    ui.wait_text("#main", "onerror=window.__xss=7").await;
    ui.shot("detail").await;

    // A key, shown once; the upstreams' test.
    ui.js("location.hash = '#/llm'; return null;").await;
    ui.c.find(Locator::Id("llm-key-name")).await.unwrap().send_keys("app").await.unwrap();
    ui.c.find(Locator::Id("llm-key-create")).await.unwrap().click().await.unwrap();
    ui.wait_text("#llm-key-new", "sk-ctrl-").await;
    ui.wait_text("#llm-keys", "app").await;
    ui.js("window.scrollTo(0, 0); return null;").await;
    ui.c.find(Locator::Id("llm-test")).await.unwrap().click().await.unwrap();
    ui.wait_text("#llm-test-state", "alpha: ok").await;
    ui.shot("page").await;
    assert_eq!(ui.js("return typeof window.__xss;").await, json!("undefined"));
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_page_streams_a_chat_survives_drops_and_reloads_and_shows_the_desktop() {
    let desktop = tokio::task::spawn_blocking(crate::common::desktop::Desktop::with_vnc).await.unwrap();
    let fake = crate::common::fake_llm::FakeLlm::start("model", false).await;
    let extra = format!(
        "[llm]\n[llm.upstreams.fake]\nurl = \"{}\"\nmodels = [\"fake-*\"]\n\n\
         [agent]\nmodel = \"fake-agent\"\ntools = [\"services\"]\n\n\
         [vnc.targets.desktop]\naddress = \"127.0.0.1:{}\"\n",
        fake.url,
        desktop.vnc_port.unwrap()
    );
    let ui = Ui::start_with("sessions", &extra).await;
    ui.login("ann", "ann-secret-1").await;
    ui.js("location.hash = '#/sessions'; return null;").await;
    ui.wait_text("#sessions", "No sessions yet").await;
    ui.c.find(Locator::Id("session-title")).await.unwrap().send_keys("<b>bold?</b>").await.unwrap();
    ui.c.find(Locator::Id("session-new")).await.unwrap().click().await.unwrap();
    ui.wait_text("#session-name", "<b>bold?</b>").await;

    // A turn: reasoning, a tool call folded with its result, and a long answer
    // written slowly while the page's socket is dropped again and again.
    let words: Vec<String> = (1..=60).map(|i| format!("w{i}")).collect();
    let answer = format!("{} <img src=x onerror=window.__xss=8>", words.join(" "));
    let script = json!([
        {"think": "Checking app.", "calls": [["services_status", "{\"name\":\"app\"}"]]},
        {"text": answer, "gap_ms": 25}
    ]);
    ui.js(&format!(
        "document.getElementById('chat-input').value = {}; return null;",
        serde_json::to_string(&script.to_string()).unwrap()
    ))
    .await;
    ui.c.find(Locator::Id("chat-send")).await.unwrap().click().await.unwrap();
    ui.wait_text("#chat", "w3").await;
    for _ in 0..5 {
        ui.js("window.ctrl.dropSessionSocket(); return null;").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    ui.wait_text("#session-status", "idle").await;
    let bubbles = ui
        .js("return [...document.querySelectorAll('#chat .turn.agent .bubble')].map(b => b.textContent);")
        .await;
    assert_eq!(bubbles, json!([answer]), "the answer once, whole, in order");
    assert_eq!(ui.js("return document.querySelectorAll('#chat details.tool.ok').length;").await, json!(1));
    assert_eq!(
        ui.js("return document.querySelector('#chat details.tool').open;").await,
        json!(false),
        "folded"
    );
    ui.wait_text("#chat details.thinking", "thinking").await;
    let result = ui.js("return document.querySelector('#chat .tool-result pre').textContent;").await;
    assert!(result.as_str().unwrap().contains("\"name\":\"app\""), "{result}");
    ui.shot("chat").await;

    // A reload draws the same chat from the stored events.
    ui.c.refresh().await.unwrap();
    ui.wait_text("#session-status", "idle").await;
    ui.wait_text("#chat", "w60").await;
    let again = ui
        .js("return [...document.querySelectorAll('#chat .turn.agent .bubble')].map(b => b.textContent);")
        .await;
    assert_eq!(again, bubbles);
    let users = ui.js("return document.querySelectorAll('#chat .turn.user').length;").await;
    assert_eq!(users, json!(1));

    // Interrupt: the button stops a slow answer.
    let slow = json!([{"text": "z ".repeat(300), "gap_ms": 20}]);
    ui.js(&format!(
        "document.getElementById('chat-input').value = {}; return null;",
        serde_json::to_string(&slow.to_string()).unwrap()
    ))
    .await;
    ui.c.find(Locator::Id("chat-send")).await.unwrap().click().await.unwrap();
    ui.wait_text("#session-status", "running").await;
    ui.wait_text("#chat", "z z").await;
    ui.c.find(Locator::Id("session-interrupt")).await.unwrap().click().await.unwrap();
    ui.wait_text("#session-status", "interrupted").await;
    ui.wait_text("#chat", "interrupted").await;

    // The desktop through the bridge, drawn by noVNC.
    ui.js("location.hash = '#/sessions'; return null;").await;
    ui.wait_text("#desktops", "desktop").await;
    ui.js("location.hash = '#/desktop/desktop'; return null;").await;
    ui.wait_text("#desktop-state", "connected").await;
    let mut drawn = json!(false);
    for _ in 0..100 {
        drawn = ui
            .js("const c = document.querySelector('#desktop canvas'); if (!c || !c.width) return false; \
                 const p = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data; \
                 return p[3] === 255 && p[0] + p[1] + p[2] > 0;")
            .await;
        if drawn == json!(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(drawn, json!(true), "the canvas shows the desktop");
    ui.shot("desktop").await;
    assert_eq!(ui.js("return typeof window.__xss;").await, json!("undefined"));
    ui.finish().await;
    drop(desktop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_page_shows_hosts_live_and_the_picker_turns_every_page_into_a_hosts() {
    let ui = Ui::start("hosts").await;
    let token = ui.d.ok(&["hosts", "add", "edge"]).trim().to_owned();
    let dir = tempfile::Builder::new().prefix("ctrl-edge-").tempdir().unwrap();
    std::fs::write(dir.path().join("hub.enroll"), token).unwrap();
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[hub]\nurl = \"{}\"\n\
             enroll_token_file = \"hub.enroll\"\nname = \"edge\"\nping = \"1s\"\n\n\
             [services.edge-app]\ncommand = [\"sh\", \"-c\", \"while true; do echo edge-tick; sleep 0.2; done\"]\n",
            ui.d.url("")
        ),
    )
    .unwrap();
    let edge = Daemon::adopt(dir, config);
    ui.login("ann", "ann-secret-1").await;
    ui.js("location.hash = '#/hosts'; return null;").await;
    ui.wait_text("#hosts-table", "edge").await;
    ui.wait_text("#hosts-table", "online").await;
    ui.wait_text("#hosts-table", "1/1 running").await;
    for _ in 0..100 {
        if ui.js("return document.querySelector('#hosts-table svg.spark polyline') !== null;").await
            == json!(true)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ui.js("return document.querySelector('#hosts-table svg.spark polyline') !== null;").await,
        json!(true)
    );
    ui.shot("hosts").await;

    // The host's name opens its pages: services, a service's live log, through the hub.
    ui.c.find(Locator::Css("#hosts-table a")).await.unwrap().click().await.unwrap();
    ui.js("location.hash = '#/services'; return null;").await;
    ui.wait_text("#services-table", "edge-app").await;
    assert_eq!(ui.js("return document.querySelector('#host-picker').value;").await, json!("edge"));
    assert_eq!(
        ui.js("return document.querySelector('#services-table').textContent.includes('echo');").await,
        json!(false)
    );
    ui.js("location.hash = '#/services/edge-app'; return null;").await;
    ui.wait_text("#log-lines", "edge-tick").await;
    ui.shot("host-service").await;

    // Cut off: the hosts page shows it offline well within 45 s.
    edge.signal(nix::sys::signal::Signal::SIGSTOP);
    ui.js("location.hash = '#/hosts'; return null;").await;
    ui.wait_text("#hosts-table", "offline").await;
    edge.signal(nix::sys::signal::Signal::SIGCONT);
    ui.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_time_link_asks_for_the_first_admins_password_and_logs_them_in() {
    // No user, and `ctrl up` on a terminal (a pty): the link is printed.
    let d = Daemon::start_wrapped(
        &["python3", "-c", "import pty, sys; pty.spawn(sys.argv[1:])"],
        "[services.app]\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let prefix = format!("http://{}/login#once=", d.api_addr());
    let link = crate::common::wait("the one-time link", Duration::from_secs(10), || {
        let log = d.log();
        let at = log.find(&prefix)?;
        let link: String = log[at..].chars().take_while(|c| !c.is_whitespace()).collect();
        (link.len() == prefix.len() + 64).then_some(link)
    });
    let (c, driver, profile) = browser().await;
    c.set_window_size(1280, 900).await.unwrap();
    let ui = Ui { d, c, driver, _profile: profile, name: "first-admin" };
    ui.c.goto(&link).await.unwrap();
    // The secret leaves the address bar at once; the login form gives way to the first admin's.
    for _ in 0..100 {
        if ui.c.current_url().await.is_ok_and(|u| u.fragment().is_none()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ui.c.current_url().await.unwrap().fragment(), None);
    assert_eq!(ui.js("return document.getElementById('login-form').hidden").await, Value::Bool(true));
    ui.shot("first-admin").await;
    let field = async |id: &str, text: &str| {
        let el = ui.c.find(Locator::Id(id)).await.unwrap();
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    };
    field("admin-name", "first").await;
    field("admin-password", "first-secret-1").await;
    field("admin-again", "first-secret-2").await;
    ui.c.find(Locator::Id("first-admin-submit")).await.unwrap().click().await.unwrap();
    ui.wait_text("#first-admin-error", "differ").await;
    field("admin-again", "first-secret-1").await;
    ui.c.find(Locator::Id("first-admin-submit")).await.unwrap().click().await.unwrap();
    ui.wait_text("#whoami", "first").await;
    ui.wait_path("/").await;
    ui.finish().await;
}
