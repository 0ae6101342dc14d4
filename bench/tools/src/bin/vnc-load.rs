//! `vnc-load echo PORT`: a TCP echo server on 127.0.0.1 (the stand-in VNC server).
//! `vnc-load measure ECHO_ADDR NAME=WS_URL[,TOKEN] …`: for each bridge, the
//! throughput of bytes echoed through it and round trips of small messages, beside
//! round trips straight to the echo server over TCP. One JSON line out.
//!
//! Throughput: one connection, 64 KiB binary messages written as fast as the bridge
//! takes them while another task reads the echo, for SECONDS (after one second of
//! warm-up); Mbit/s of payload one way. Round trips: 64-byte messages one at a time.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECONDS: u64 = 8;
const ROUND_TRIPS: usize = 5000;
const BLOCK: usize = 64 * 1024;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut us: Vec<f64>) -> Value {
    us.sort_by(f64::total_cmp);
    json!({"us_p50": pct(&us, 0.5), "us_p99": pct(&us, 0.99), "us_max": pct(&us, 1.0)})
}

async fn echo(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            // Large reads: the echo must not be what limits the bridges measured through it.
            let (r, mut w) = tcp.split();
            let mut r = tokio::io::BufReader::with_capacity(256 * 1024, r);
            let _ = tokio::io::copy_buf(&mut r, &mut w).await;
        });
    }
}

async fn connect(url: &str, token: Option<&str>) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "binary".parse().unwrap());
    if let Some(t) = token {
        req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let (ws, res) = tokio_tungstenite::connect_async(req).await.expect("websocket");
    assert_eq!(res.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()), Some("binary"));
    ws
}

/// Mbit/s counted after the warm-up, and every byte echoed (for CPU per byte).
async fn throughput(url: &str, token: Option<&str>) -> (f64, u64) {
    let ws = connect(url, token).await;
    let (mut tx, mut rx) = ws.split();
    let writer = tokio::spawn(async move {
        let block = vec![7u8; BLOCK];
        loop {
            if tx.send(Message::Binary(block.clone().into())).await.is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    let warm = start + Duration::from_secs(1);
    let end = warm + Duration::from_secs(SECONDS);
    let (mut counted, mut all) = (0u64, 0u64);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(end.into(), rx.next()).await {
        if let Message::Binary(b) = msg {
            all += b.len() as u64;
            if Instant::now() >= warm {
                counted += b.len() as u64;
            }
        }
    }
    writer.abort();
    (counted as f64 * 8.0 / SECONDS as f64 / 1e6, all)
}

async fn round_trips_ws(url: &str, token: Option<&str>) -> Vec<f64> {
    let mut ws = connect(url, token).await;
    let msg = vec![1u8; 64];
    let mut out = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..ROUND_TRIPS + 200 {
        let t0 = Instant::now();
        ws.send(Message::Binary(msg.clone().into())).await.unwrap();
        let mut got = 0;
        while got < msg.len() {
            if let Message::Binary(b) = ws.next().await.unwrap().unwrap() {
                got += b.len();
            }
        }
        if i >= 200 {
            out.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    out
}

async fn round_trips_tcp(addr: &str) -> Vec<f64> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let msg = [1u8; 64];
    let mut buf = [0u8; 64];
    let mut out = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..ROUND_TRIPS + 200 {
        let t0 = Instant::now();
        tcp.write_all(&msg).await.unwrap();
        tcp.read_exact(&mut buf).await.unwrap();
        if i >= 200 {
            out.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("echo") => echo(args[1].parse().expect("a port")).await,
        Some("measure") => {
            let echo_addr = &args[1];
            let direct = round_trips_tcp(echo_addr).await;
            let mut d = direct.clone();
            d.sort_by(f64::total_cmp);
            let (d50, d99) = (pct(&d, 0.5), pct(&d, 0.99));
            let mut out = json!({"direct_tcp": summary(direct)});
            for spec in &args[2..] {
                let (name, rest) = spec.split_once('=').expect("NAME=URL[,TOKEN]");
                let (url, token) = match rest.split_once(',') {
                    Some((u, t)) => (u, Some(t)),
                    None => (rest, None),
                };
                let (mbit, echoed) = throughput(url, token).await;
                let rt = round_trips_ws(url, token).await;
                let mut s = rt.clone();
                s.sort_by(f64::total_cmp);
                let mut v = summary(rt);
                v["mbit_s"] = json!(mbit);
                v["bytes_echoed"] = json!(echoed);
                v["added_us_p50"] = json!(pct(&s, 0.5) - d50);
                v["added_us_p99"] = json!(pct(&s, 0.99) - d99);
                out[name] = v;
            }
            println!("{out}");
        }
        _ => panic!("usage: vnc-load echo PORT | vnc-load measure ECHO_ADDR NAME=WS_URL[,TOKEN] …"),
    }
}
