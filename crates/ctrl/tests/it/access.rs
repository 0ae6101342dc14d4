//! Users, login sessions, CSRF, roles, API tokens and the audit log, against a
//! real daemon (and the CLI writing the store before the daemon ever ran).

use std::time::Duration;

use crate::common::{Daemon, add_user};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SERVICES: &str = "[services.app]\ncommand = [\"sleep\", \"1000\"]\n";

/// A daemon with users ann (admin), bob (operator) and vic (viewer), all added
/// before its first start.
fn daemon() -> Daemon {
    let dir = tempfile::Builder::new().prefix("ctrl-test-").tempdir().unwrap();
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n{SERVICES}"),
    )
    .unwrap();
    add_user(&config, "ann", "admin", "ann-secret-1");
    add_user(&config, "bob", "operator", "bob-secret-1");
    add_user(&config, "vic", "viewer", "vic-secret-1");
    Daemon::adopt(dir, config)
}

struct Session {
    cookie: String,
    csrf: String,
}

async fn login(d: &Daemon, user: &str, password: &str) -> Result<Session, (StatusCode, Value)> {
    let res = reqwest::Client::new()
        .post(d.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let set = res.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap();
    if status != StatusCode::OK {
        return Err((status, body));
    }
    let set = set.expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "cookie lacks {attr}: {set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(body["data"]["user"], user);
    Ok(Session { cookie, csrf: body["data"]["csrf_token"].as_str().unwrap().to_owned() })
}

/// A request with the session cookie, and with the CSRF header when `csrf`.
async fn with(d: &Daemon, s: &Session, method: &str, path: &str, csrf: bool) -> (StatusCode, Value) {
    let mut req =
        reqwest::Client::new().request(method.parse().unwrap(), d.url(path)).header("cookie", &s.cookie);
    if csrf {
        req = req.header("x-csrf-token", &s.csrf);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn bearer(d: &Daemon, token: &str, method: &str, path: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .request(method.parse().unwrap(), d.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn audit(d: &Daemon) -> Vec<Value> {
    let (status, body) = bearer(d, &d.token(), "GET", "/api/audit?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_login_is_a_session_whose_writes_need_the_csrf_token() {
    let d = daemon();
    d.wait_status("app", "running", Duration::from_secs(10));
    let bob = login(&d, "bob", "bob-secret-1").await.unwrap();
    let (status, me) = with(&d, &bob, "GET", "/api/auth/me", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((me["data"]["user"].as_str(), me["data"]["role"].as_str()), (Some("bob"), Some("operator")));
    assert_eq!(me["data"]["csrf_token"], bob.csrf.as_str());

    // A write without the CSRF header is refused, and noted.
    let (status, body) = with(&d, &bob, "POST", "/api/services/app/stop", false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert_eq!(d.service("app")["status"], "running");
    let (status, body) = with(&d, &bob, "POST", "/api/services/app/stop", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "stopped");

    // Logout ends the session server side: the old cookie no longer works.
    let (status, _) = with(&d, &bob, "POST", "/api/auth/logout", true).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = with(&d, &bob, "GET", "/api/services", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let log = audit(&d).await;
    let has = |actor: &str, action: &str, result: &str| {
        log.iter().any(|e| e["actor"] == actor && e["action"] == action && e["result"] == result)
    };
    assert!(has("bob", "login", "ok"));
    assert!(has("bob", "forbidden", "denied"));
    assert!(has("bob", "stop", "ok"));
    assert!(has("bob", "logout", "ok"));
    let stop = log.iter().find(|e| e["action"] == "stop").unwrap();
    assert_eq!(stop["target"], "app");
    assert_eq!(stop["address"], "127.0.0.1");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_look_alike_and_slow_down() {
    let d = daemon();
    let (s1, wrong) = login(&d, "ann", "not-her-password").await.err().unwrap();
    let (s2, unknown) = login(&d, "nobody", "whatever-password").await.err().unwrap();
    assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(wrong, unknown, "the answer must not tell which part was wrong");
    // A third failure from this address is still answered; the fourth must wait.
    let (s3, _) = login(&d, "ann", "still-wrong-1").await.err().unwrap();
    assert_eq!(s3, StatusCode::UNAUTHORIZED);
    let (s4, body) = login(&d, "ann", "ann-secret-1").await.err().unwrap();
    assert_eq!(s4, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_requests");
    // After the wait, the right password works and clears the count.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    login(&d, "ann", "ann-secret-1").await.unwrap();
    let log = audit(&d).await;
    assert_eq!(log.iter().filter(|e| e["action"] == "login_failed").count(), 4);
    assert!(log.iter().any(|e| e["actor"] == "nobody" && e["action"] == "login_failed"));
    // Malformed logins are 4xx with the envelope.
    for body in [json!({"username": "ann"}), json!({"username": 1, "password": "x"}), json!([1])] {
        let res = reqwest::Client::new().post(d.url("/api/auth/login")).json(&body).send().await.unwrap();
        assert!(res.status().is_client_error(), "{body}: {}", res.status());
        assert_eq!(res.json::<Value>().await.unwrap()["success"], false);
    }
}

#[tokio::test]
async fn roles_are_enforced_by_the_api() {
    let d = daemon();
    d.wait_status("app", "running", Duration::from_secs(10));
    let vic = login(&d, "vic", "vic-secret-1").await.unwrap();
    let (status, _) = with(&d, &vic, "GET", "/api/services", false).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in
        [("POST", "/api/services/app/stop"), ("POST", "/api/services/stop"), ("POST", "/api/reload")]
    {
        let (status, body) = with(&d, &vic, method, path, true).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("viewer"), "{body}");
    }
    let (status, _) = with(&d, &vic, "GET", "/api/users", false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(d.service("app")["status"], "running");

    let bob = login(&d, "bob", "bob-secret-1").await.unwrap();
    let (status, _) = with(&d, &bob, "POST", "/api/services/app/restart", true).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in [("POST", "/api/reload"), ("GET", "/api/audit"), ("GET", "/api/tokens")] {
        let (status, _) = with(&d, &bob, method, path, true).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let log = audit(&d).await;
    assert!(log.iter().filter(|e| e["action"] == "forbidden").count() >= 6);
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_and_revocable() {
    let d = daemon();
    d.wait_status("app", "running", Duration::from_secs(10));
    let out = d.ok(&["token", "create", "--name", "ci", "--role", "operator", "--expires", "30d"]);
    let ci = out.trim().to_owned();
    assert_eq!(ci.len(), 64);
    let (status, body) = bearer(&d, &ci, "POST", "/api/services/app/restart").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = bearer(&d, &ci, "POST", "/api/reload").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // WebSocket and SSE take it too.
    let res =
        reqwest::Client::new().get(d.url("/api/services/stream")).bearer_auth(&ci).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(res);

    let list: Value = serde_json::from_str(&d.ok(&["token", "list", "--json"])).unwrap();
    let list = list.as_array().unwrap();
    let mine = list.iter().find(|t| t["name"] == "ci").unwrap();
    assert_eq!(mine["role"], "operator");
    assert!(mine["expires_at"].is_string());
    assert!(mine.get("token").is_none(), "a listed token never shows its value");
    let initial = list.iter().find(|t| t["name"] == "initial").unwrap();
    assert_eq!(initial["role"], "admin");
    // Only the hash is stored.
    let db = std::fs::read(d.path("state/ctrl.db")).unwrap();
    let wal = std::fs::read(d.path("state/ctrl.db-wal")).unwrap_or_default();
    let needle = ci.as_bytes();
    assert!(
        !db.windows(needle.len()).any(|w| w == needle) && !wal.windows(needle.len()).any(|w| w == needle)
    );

    d.ok(&["token", "revoke", &mine["id"].to_string()]);
    let (status, _) = bearer(&d, &ci, "GET", "/api/services").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The first-start token is revocable like any other.
    let (status, body) = bearer(&d, &d.token(), "DELETE", &format!("/api/tokens/{}", initial["id"])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = bearer(&d, &d.token(), "GET", "/api/services").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_removed_user_loses_sessions_and_tokens_and_sessions_survive_restarts() {
    let mut d = daemon();
    let ann = login(&d, "ann", "ann-secret-1").await.unwrap();
    let res = reqwest::Client::new()
        .post(d.url("/api/tokens"))
        .header("cookie", &ann.cookie)
        .header("x-csrf-token", &ann.csrf)
        .json(&json!({"name": "ann-script", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["data"]["token"].as_str().unwrap().to_owned();
    let vic = login(&d, "vic", "vic-secret-1").await.unwrap();

    // A daemon restart keeps sessions.
    d.stop();
    d.up();
    let (status, _) = with(&d, &vic, "GET", "/api/services", false).await;
    assert_eq!(status, StatusCode::OK);

    // Removing ann (with the CLI, beside the running daemon) ends her session and token.
    d.ok(&["user", "rm", "ann"]);
    let (status, _) = with(&d, &ann, "GET", "/api/services", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut last = StatusCode::OK;
    for _ in 0..100 {
        last = bearer(&d, &token, "GET", "/api/services").await.0;
        if last == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, StatusCode::UNAUTHORIZED, "the removed user's token still works");
    let users: Value = serde_json::from_str(&d.ok(&["user", "list", "--json"])).unwrap();
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bob", "vic"]);
}

/// `POST /api/auth/first-admin` with `token`, `username`, `password`.
async fn first_admin(
    d: &Daemon,
    token: &str,
    name: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let res = reqwest::Client::new()
        .post(d.url("/api/auth/first-admin"))
        .json(&json!({"token": token, "username": name, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let set = res.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    (status, set, res.json().await.unwrap())
}

#[tokio::test]
async fn with_no_user_a_terminal_gets_a_one_time_link_that_makes_the_first_admin() {
    // Not on a terminal (a service manager, a log file): no link is shown.
    let plain = Daemon::start(SERVICES);
    assert!(!plain.log().contains("once="), "{}", plain.log());
    drop(plain);

    // On a terminal (a pty): the link, at the API's own address.
    let d = Daemon::start_wrapped(&["python3", "-c", "import pty, sys; pty.spawn(sys.argv[1:])"], SERVICES);
    let prefix = format!("http://{}/login#once=", d.api_addr());
    let token = crate::common::wait("the one-time link", Duration::from_secs(10), || {
        let log = d.log();
        let at = log.find(&prefix)? + prefix.len();
        let token: String = log[at..].chars().take_while(char::is_ascii_hexdigit).collect();
        (token.len() == 64).then_some(token)
    });

    // A short password is the person's typo: refused, and the link still works.
    let (status, _, body) = first_admin(&d, &token, "root-admin", "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A guessed secret is refused.
    let (status, _, body) = first_admin(&d, &"0".repeat(64), "mallory", "mallory-secret-1").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{body}");

    // The real one: an admin, logged in at once.
    let (status, set, body) = first_admin(&d, &token, "root-admin", "first-secret-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["data"]["user"].as_str(), body["data"]["role"].as_str()),
        (Some("root-admin"), Some("admin"))
    );
    let set = set.expect("a session cookie");
    let session = Session {
        cookie: set.split(';').next().unwrap().to_owned(),
        csrf: body["data"]["csrf_token"].as_str().unwrap().to_owned(),
    };
    let (status, users) = with(&d, &session, "GET", "/api/users", false).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(users["data"][0]["name"], "root-admin");
    // The password works for an ordinary login.
    login(&d, "root-admin", "first-secret-1").await.unwrap();

    // Once only.
    let (status, _, body) = first_admin(&d, &token, "second", "second-secret-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].as_str().unwrap().contains("ctrl user add"), "{body}");

    let log = audit(&d).await;
    let made = log.iter().find(|e| e["action"] == "user_added").unwrap();
    assert_eq!((made["actor"].as_str(), made["target"].as_str()), (Some("root-admin"), Some("root-admin")));
    assert_eq!(made["detail"], "admin, by the one-time link");
    let refused = log.iter().filter(|e| e["action"] == "first_admin_failed").count();
    assert_eq!(refused, 2, "the guess and the second use: {log:?}");
}
