//! `hub-load ADDR TOKEN HOSTS RATE SECONDS`: a simulated fleet speaking the host
//! side of the hub link (its own implementation of the protocol), many hosts in one
//! process. Lines out, for bench/hub/run:
//!
//! 1. `{"phase":"connected",…}`: HOSTS hosts added (`POST /api/hosts`), dialled and
//!    welcomed; each then sends a sample every second, as a real host does.
//! 2. `STEADY`: the fleet has run 10 s; the script measures the hub's CPU and memory.
//! 3. `{"phase":"commands",…}`: RATE requests a second for SECONDS, each
//!    `GET /api/hosts/h-N/api/services` through the hub's HTTP API to a random host,
//!    which answers at once: the hub's added round trip, in microseconds.
//! 4. `RESTART`: the script restarts the hub; every host dials again with the
//!    product's backoff (a random 1–2^(n+1) s, at most 30 s), and
//!    `{"phase":"reconnect",…}` tells how long until all were welcomed again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bench_tools::http;
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A random number in [0, 1), from the clock (enough for jitter).
fn jitter() -> f64 {
    let n = Instant::now().elapsed().as_nanos() as u64 ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn backoff(attempt: u32) -> Duration {
    let top = 2f64.powi(attempt.min(5) as i32 + 1).min(30.0);
    Duration::from_secs_f64(1.0 + (top - 1.0) * jitter())
}

struct Host {
    name: String,
    key: SigningKey,
    token: Option<String>,
}

/// Dials, is welcomed, then samples every second and answers requests, until the
/// link breaks. `welcomed` is told once in.
async fn link(addr: &str, h: &Host, boot: &str, seq: &mut i64, welcomed: &AtomicUsize) -> Result<(), String> {
    // No Nagle, as a real host's link (a response head and its body frames go at once).
    let (ws, _) = tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/hub/link"), None, true)
        .await
        .map_err(|e| e.to_string())?;
    let (mut tx, mut rx) = ws.split();
    let challenge: Value = match rx.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).map_err(|e| e.to_string())?,
        other => return Err(format!("no challenge: {other:?}")),
    };
    let nonce = challenge["nonce"].as_str().unwrap_or_default();
    let text = format!("ctrl-hub-link/1\n{nonce}\n{}\n{boot}", h.name);
    let hello = json!({"type": "hello", "name": h.name, "version": "bench", "protocol": 1,
        "key": hex(h.key.verifying_key().as_bytes()), "signature": hex(&h.key.sign(text.as_bytes()).to_bytes()),
        "enroll": h.token, "boot": boot, "ping_ms": 15000});
    tx.send(Message::Text(hello.to_string().into())).await.map_err(|e| e.to_string())?;
    match rx.next().await {
        Some(Ok(Message::Text(t))) if t.contains("\"welcome\"") => {}
        other => return Err(format!("not welcomed: {other:?}")),
    }
    welcomed.fetch_add(1, Ordering::Relaxed);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.reset_after(Duration::from_secs_f64(jitter()));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                *seq += 1;
                let report = json!({"type": "reports", "boot": boot, "items": [{"seq": *seq, "at": chrono::Utc::now(),
                    "kind": "sample", "data": {"stats": {"cpu_percent": 12.5, "memory_percent": 40.0, "disk_percent": 61.0},
                    "services": {"total": 5, "running": 5, "failed": 0}}}]});
                tx.send(Message::Text(report.to_string().into())).await.map_err(|e| e.to_string())?;
            }
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if v["type"] == "request" {
                        let id = v["id"].as_u64().unwrap_or(0) as u32;
                        let body = br#"{"success":true,"data":[{"name":"app","status":"running"}]}"#;
                        let head = json!({"type": "response", "id": id, "status": 200,
                            "headers": [["content-type", "application/json"], ["content-length", body.len().to_string()]]});
                        tx.send(Message::Text(head.to_string().into())).await.map_err(|e| e.to_string())?;
                        let mut data = id.to_be_bytes().to_vec();
                        data.push(0);
                        data.extend_from_slice(body);
                        tx.send(Message::Binary(data.into())).await.map_err(|e| e.to_string())?;
                        let mut end = id.to_be_bytes().to_vec();
                        end.push(1);
                        tx.send(Message::Binary(end.into())).await.map_err(|e| e.to_string())?;
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Err("closed".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A host for as long as the tool runs: links, and dials again after a break.
async fn host(addr: String, h: Host, welcomed: Arc<AtomicUsize>, broken: Arc<AtomicUsize>) {
    let boot = format!("bench-{}", h.name);
    let mut seq = 0;
    let mut attempt = 0;
    let mut h = h;
    loop {
        match link(&addr, &h, &boot, &mut seq, &welcomed).await {
            Err(e) if e.starts_with("not welcomed") || e.starts_with("no challenge") => attempt += 1,
            _ => {
                broken.fetch_add(1, Ordering::Relaxed);
                attempt = 0;
            }
        }
        h.token = None;
        tokio::time::sleep(backoff(attempt)).await;
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (addr, token) = (a[1].clone(), a[2].clone());
    let n: usize = a[3].parse().unwrap();
    let rate: u64 = a[4].parse().unwrap();
    let seconds: u64 = a[5].parse().unwrap();

    // Enrol and link the fleet.
    let t0 = Instant::now();
    let count = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(AtomicUsize::new(0));
    for i in 0..n {
        let name = format!("h-{i}");
        let (status, body) = http(&addr, &token, "POST", "/api/hosts", &json!({"name": name}).to_string()).await;
        let token = match status {
            200 => serde_json::from_str::<Value>(&body).unwrap()["data"]["enroll_token"].as_str().map(str::to_owned),
            _ => None,
        };
        let mut seed = [7u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let h = Host { name, key: SigningKey::from_bytes(&seed), token };
        tokio::spawn(host(addr.clone(), h, count.clone(), broken.clone()));
    }
    while count.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("{}", json!({"phase": "connected", "hosts": n, "seconds": t0.elapsed().as_secs_f64()}));
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!("STEADY");

    // Commands through the hub at RATE a second, on 8 keep-alive connections.
    tokio::time::sleep(Duration::from_secs(32)).await;
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let total = rate * seconds;
    let per_conn = total / 8;
    let mut tasks = Vec::new();
    for c in 0..8u64 {
        let (addr, token, lat, fail) = (addr.clone(), token.clone(), latencies.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (r, mut w) = tcp.into_split();
            let mut r = BufReader::new(r);
            let every = Duration::from_secs_f64(8.0 / rate as f64);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every * c as u32 / 8, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for k in 0..per_conn {
                tick.tick().await;
                let target = (k as usize * 8 + c as usize) * 7919 % n;
                let req = format!("GET /api/hosts/h-{target}/api/services HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
                let t = Instant::now();
                w.write_all(req.as_bytes()).await.unwrap();
                let (mut status, mut len) = (0u16, 0usize);
                let mut line = String::new();
                loop {
                    line.clear();
                    r.read_line(&mut line).await.unwrap();
                    if line == "\r\n" {
                        break;
                    }
                    if line.starts_with("HTTP/1.1 ") {
                        status = line[9..12].parse().unwrap_or(0);
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).await.unwrap();
                if status == 200 {
                    lat.lock().unwrap().push(t.elapsed().as_micros() as u64);
                } else {
                    fail.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    println!("{}", json!({"phase": "commands", "rate_per_s": rate, "requests": l.len(),
        "failed": failures.load(Ordering::Relaxed), "p50_us": percentile(&l, 0.5), "p90_us": percentile(&l, 0.9),
        "p99_us": percentile(&l, 0.99), "max_us": l.last()}));

    // The hub restarts: time until every host is back.
    let before = count.load(Ordering::Relaxed);
    println!("RESTART");
    while broken.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t1 = Instant::now();
    let deadline = t1 + Duration::from_secs(180);
    while count.load(Ordering::Relaxed) < before + n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("{}", json!({"phase": "reconnect", "hosts": n, "back": count.load(Ordering::Relaxed) - before,
        "seconds": t1.elapsed().as_secs_f64()}));
}
