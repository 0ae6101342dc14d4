//! HTTPS with `[server.tls]`: a self-signed certificate made here, a real TLS
//! handshake, and what TLS changes (Secure session cookies, HSTS).

use std::time::Duration;

use crate::common::{Daemon, add_user, https_client, self_signed};
use serde_json::{Value, json};

#[tokio::test]
async fn the_api_serves_https_with_secure_cookies_and_hsts() {
    let dir = tempfile::Builder::new().prefix("ctrl-tls-").tempdir().unwrap();
    let made = self_signed(dir.path(), "localhost");
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[server.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    add_user(&config, "ann", "admin", "ann-secret-1");
    let d = Daemon::adopt(dir, config);
    let port = d.api_addr().rsplit_once(':').unwrap().1.to_owned();
    let https = https_client(&made.cert.pem(), "localhost", &port);
    let base = format!("https://localhost:{port}");

    let res = https.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000");
    let res = https
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "ann", "password": "ann-secret-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let res = https.get(format!("{base}/api/services")).bearer_auth(d.token()).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["success"], true);

    // The CLI over https: trusted through --ca, refused without it (the system's
    // CA store does not know this self-signed certificate).
    let url = format!("https://localhost:{port}");
    let cert = d.path("cert.pem");
    let cli = |ca: bool| {
        let mut cmd = std::process::Command::new(crate::common::BIN);
        cmd.args(["status", "--json", "--url", &url, "--token", &d.token()]);
        if ca {
            cmd.arg("--ca").arg(&cert);
        }
        cmd.output().unwrap()
    };
    let out = cli(true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([]));
    let out = cli(false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS with localhost:") && err.contains("certificate"), "{err}");

    // Plain HTTP on the TLS port gets nothing useful.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let answer = plain.get(format!("http://127.0.0.1:{port}/health")).send().await;
    assert!(answer.is_err() || !answer.unwrap().status().is_success());
}

#[test]
fn a_missing_certificate_is_a_clear_error_before_anything_starts() {
    let dir = tempfile::Builder::new().prefix("ctrl-tls-").tempdir().unwrap();
    let config = dir.path().join("ctrl.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[server.tls]\ncert = \"nope.pem\"\nkey = \"nope.key\"\n\n\
         [services.a]\ncommand = [\"sleep\", \"1000\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .args(["up", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[server.tls]: cannot load the certificate") && err.contains("nope.pem"), "{err}");
}
