//! The deployment guide's nginx example, taken verbatim from docs/deploy.md, run
//! by a real nginx in front of a real daemon: login, REST, server-sent events and
//! a WebSocket all pass through it over TLS.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Daemon, add_user, free_port, https_client, self_signed};
use futures_util::StreamExt;
use serde_json::{Value, json};

const HOST: &str = "ctrl.example.org";

/// The ```nginx block of the guide.
fn documented_nginx() -> String {
    let guide = include_str!("../../../../docs/deploy.md");
    let start = guide.find("```nginx\n").expect("docs/deploy.md has an nginx block") + "```nginx\n".len();
    let end = start + guide[start..].find("```").unwrap();
    guide[start..end].to_owned()
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_documented_nginx_setup_proxies_rest_sse_and_websockets() {
    let d = Daemon::start("[services.app]\ncommand = [\"sleep\", \"1000\"]\n");
    add_user(&d.config, "ann", "admin", "ann-secret-1");
    let dir = d.dir.path();
    let made = self_signed(dir, HOST);

    // Only addresses and file names change; every directive is the guide's.
    let port = free_port();
    let site = documented_nginx()
        .replace("server 127.0.0.1:8080;", &format!("server {};", d.api_addr()))
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace(
            &format!("/etc/letsencrypt/live/{HOST}/fullchain.pem"),
            &dir.join("cert.pem").display().to_string(),
        )
        .replace(
            &format!("/etc/letsencrypt/live/{HOST}/privkey.pem"),
            &dir.join("key.pem").display().to_string(),
        );
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\nevents {{}}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{site}\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let nginx = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx on PATH (scripts/test installs Debian's nginx)");
    let _nginx = Nginx(nginx);

    let https = https_client(&made.cert.pem(), HOST, &port.to_string());
    let base = format!("https://{HOST}:{port}");
    let mut up = false;
    for _ in 0..100 {
        if https.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
    assert!(up, "nginx never answered: {log}");

    let res = https
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "ann", "password": "ann-secret-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let get = |path: &str| {
        let req = https.get(format!("{base}{path}")).header("cookie", &cookie);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(get("/api/services").await["data"][0]["name"], "app");

    // Server-sent events arrive through the proxy, unbuffered.
    let mut sse =
        https.get(format!("{base}/api/services/stream")).header("cookie", &cookie).send().await.unwrap();
    let chunk =
        tokio::time::timeout(Duration::from_secs(5), sse.chunk()).await.expect("an event through nginx");
    assert!(String::from_utf8_lossy(&chunk.unwrap().unwrap()).contains("event: snapshot"));

    // And a WebSocket upgrade, over TLS, with the session cookie.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.unwrap();
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "wss://{HOST}:{port}/api/services/ws"
    ))
    .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    let first =
        tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a message").unwrap().unwrap();
    let msg: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(msg["type"], "snapshot");

    // A host links to this daemon as its hub through the same nginx, and its API
    // answers through the hub.
    let token = d.ok(&["hosts", "add", "edge"]).trim().to_owned();
    let host_dir = tempfile::Builder::new().prefix("ctrl-edge-").tempdir().unwrap();
    std::fs::write(host_dir.path().join("hub.enroll"), &token).unwrap();
    let host_config = host_dir.path().join("ctrl.toml");
    std::fs::write(
        &host_config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n\n[hub]\nurl = \"https://127.0.0.1:{port}\"\n\
             enroll_token_file = \"hub.enroll\"\nname = \"edge\"\n\n[services.edge-app]\ncommand = [\"sleep\", \"1000\"]\n"
        ),
    )
    .unwrap();
    let _edge = Daemon::adopt(host_dir, host_config);
    crate::common::wait("the host to link through nginx", Duration::from_secs(20), || {
        let hosts: Value = serde_json::from_str(&d.ok(&["hosts", "--json"])).ok()?;
        (hosts[0]["status"] == "online").then_some(())
    });
    let services = get("/api/hosts/edge/api/services").await;
    assert_eq!(services["data"][0]["name"], "edge-app", "{services}");
}
