//! The VNC bridge against a real desktop (Xvfb served by x11vnc): the RFB
//! handshake through `/vnc/desktop`, the `binary` subprotocol, roles, targets
//! that are not listed or not listening, and the audit log.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::desktop::{Desktop, HEIGHT, WIDTH};
use crate::common::http::{Api, assert_failure};
use crate::common::{Daemon, free_port};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(d: &Daemon, token: &str, target: &str, protocol: Option<&str>) -> (Ws, Option<String>) {
    let mut req = format!("ws://{}/vnc/{target}", d.api_addr()).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(p) = protocol {
        req.headers_mut().insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let (ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    let chosen = res.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
    (ws, chosen)
}

/// Reads binary messages until `n` bytes have come (RFB messages need not align with them).
async fn read_exact(ws: &mut Ws, buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    while buf.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("bytes in time");
        match msg.unwrap().unwrap() {
            Message::Binary(b) => buf.extend_from_slice(&b),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected bytes, got {other:?}"),
        }
    }
    buf.drain(..n).collect()
}

/// The RFB 3.8 handshake with no authentication, up to the server's init; its width and height.
async fn handshake(ws: &mut Ws) -> (u16, u16) {
    let mut buf = Vec::new();
    assert_eq!(read_exact(ws, &mut buf, 12).await, b"RFB 003.008\n", "the server speaks first");
    ws.send(Message::Binary(b"RFB 003.008\n".to_vec().into())).await.unwrap();
    let count = read_exact(ws, &mut buf, 1).await[0] as usize;
    assert!(count > 0, "the server offers security types");
    let types = read_exact(ws, &mut buf, count).await;
    assert!(types.contains(&1), "x11vnc -nopw offers None: {types:?}");
    ws.send(Message::Binary(vec![1].into())).await.unwrap();
    assert_eq!(read_exact(ws, &mut buf, 4).await, [0, 0, 0, 0], "security result: OK");
    ws.send(Message::Binary(vec![1].into())).await.unwrap(); // ClientInit: shared
    let init = read_exact(ws, &mut buf, 24).await;
    (u16::from_be_bytes([init[0], init[1]]), u16::from_be_bytes([init[2], init[3]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn novnc_clients_reach_a_listed_desktop_and_nothing_else() {
    let desktop = tokio::task::spawn_blocking(Desktop::with_vnc).await.unwrap();
    let watched = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = free_port();
    let config = format!(
        "[vnc.targets.desktop]\naddress = \"127.0.0.1:{}\"\n\n[vnc.targets.guarded]\naddress = \"{}\"\nrole = \"admin\"\n\n\
         [vnc.targets.closed]\naddress = \"127.0.0.1:{closed}\"\n",
        desktop.vnc_port.unwrap(),
        watched.local_addr().unwrap()
    );
    let d = tokio::task::spawn_blocking(move || Daemon::start(&config)).await.unwrap();
    let token = d.token();

    // noVNC of old offers `binary`, which is echoed; the desktop answers through the bridge.
    let (mut ws, chosen) = open(&d, &token, "desktop", Some("binary")).await;
    assert_eq!(chosen.as_deref(), Some("binary"));
    assert_eq!(handshake(&mut ws).await, (WIDTH as u16, HEIGHT as u16));
    // A framebuffer update of the whole screen comes back as bytes too.
    ws.send(Message::Binary(
        [3u8, 0, 0, 0, 0, 0, (WIDTH >> 8) as u8, WIDTH as u8, (HEIGHT >> 8) as u8, HEIGHT as u8]
            .to_vec()
            .into(),
    ))
    .await
    .unwrap();
    let mut buf = Vec::new();
    let head = read_exact(&mut ws, &mut buf, 4).await;
    assert_eq!(head[0], 0, "a FramebufferUpdate");
    ws.close(None).await.unwrap();

    // Newer noVNC offers none: none is sent back.
    let (mut ws, chosen) = open(&d, &token, "desktop", None).await;
    assert_eq!(chosen, None);
    assert_eq!(handshake(&mut ws).await, (WIDTH as u16, HEIGHT as u16));
    drop(ws);

    // A target that is not listed, or not for this role: refused before any TCP connect.
    let api = Api::new(&d);
    let (status, body) = api.get("/vnc/nosuch").await;
    assert_failure(status, &body, StatusCode::NOT_FOUND, "not_found");
    let out = d.ok(&["token", "create", "--name", "op", "--role", "operator"]);
    let operator = out.trim().to_owned();
    let res = reqwest::Client::new().get(d.url("/vnc/guarded")).bearer_auth(&operator).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let viewer = d.ok(&["token", "create", "--name", "vee", "--role", "viewer"]).trim().to_owned();
    let res = reqwest::Client::new().get(d.url("/vnc/desktop")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a desktop needs an operator by default");
    let accepted = tokio::time::timeout(Duration::from_millis(300), watched.accept()).await;
    assert!(accepted.is_err(), "nothing dialled the guarded target");

    // A target that refuses the connection: a close frame with the reason, at once.
    let (mut ws, _) = open(&d, &token, "closed", Some("binary")).await;
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a close in time");
    match msg.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1011);
            assert!(frame.reason.contains("cannot connect"), "{}", frame.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // The server closing closes the browser's side.
    let (mut ws, _) = open(&d, &token, "desktop", Some("binary")).await;
    handshake(&mut ws).await;
    drop(desktop);
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the bridge closed when the desktop went away");

    let audit = api.data("/api/audit?limit=50").await;
    let rows: Vec<&Value> = audit.as_array().unwrap().iter().collect();
    assert!(
        rows.iter()
            .any(|a| a["action"] == "vnc_connect" && a["result"] == "ok" && a["target"] == "vnc:desktop")
    );
    assert!(
        rows.iter()
            .any(|a| a["action"] == "vnc_connect" && a["result"] == "error" && a["target"] == "vnc:closed")
    );
    assert!(rows.iter().any(|a| a["action"] == "forbidden" && a["target"] == "vnc:guarded"));
}
