//! `llm-load URL BODY RATE SECONDS CONNECTIONS [TOKEN]`: an open-loop load of POSTs at a
//! fixed rate over keep-alive connections; prints one JSON line.
//!
//! Each request is handed out at its slot (start + i / RATE) whatever the answers do;
//! its latency and time to first body byte are counted from then, so a slow server's
//! queueing is counted (no coordinated omission). Requests wait for a free connection
//! when all are busy.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

struct Sample {
    total: Duration,
    ttfb: Duration,
    ok: bool,
}

fn pct(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    assert!(a.len() >= 5, "usage: llm-load URL BODY RATE SECONDS CONNECTIONS [TOKEN]");
    let uri: hyper::Uri = a[0].parse().expect("URL");
    let body = Bytes::from(a[1].clone());
    let rate: f64 = a[2].parse().expect("RATE");
    let secs: f64 = a[3].parse().expect("SECONDS");
    let conns: usize = a[4].parse().expect("CONNECTIONS");
    let auth = a.get(5).map(|t| format!("Bearer {t}"));
    let addr = format!("{}:{}", uri.host().unwrap(), uri.port_u16().unwrap_or(80));
    let n = (rate * secs) as usize;
    let (jobs_tx, jobs_rx) = async_channel();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
    for _ in 0..conns {
        let (rx, out, addr, uri, body, auth) =
            (jobs_rx.clone(), out_tx.clone(), addr.clone(), uri.clone(), body.clone(), auth.clone());
        tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            tcp.set_nodelay(true).unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
            tokio::spawn(conn);
            while let Ok(intended) = rx.recv().await {
                // Origin-form (`POST /v1/… HTTP/1.1`): some servers refuse the absolute form.
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let mut req = Request::post(path)
                    .header("host", uri.authority().unwrap().as_str())
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                let req = req.body(Full::new(body.clone())).unwrap();
                let mut s = Sample { total: Duration::ZERO, ttfb: Duration::ZERO, ok: false };
                if send.ready().await.is_ok()
                    && let Ok(res) = send.send_request(req).await
                {
                    s.ok = res.status().is_success();
                    let mut b = res.into_body();
                    let mut first = true;
                    while let Some(f) = b.frame().await {
                        let Ok(f) = f else { s.ok = false; break };
                        if first && f.data_ref().is_some_and(|d| !d.is_empty()) {
                            s.ttfb = intended.elapsed();
                            first = false;
                        }
                    }
                }
                s.total = intended.elapsed();
                let _ = out.send(s);
            }
        });
    }
    drop(out_tx);
    let start = Instant::now() + Duration::from_millis(200);
    let feeder = tokio::spawn(async move {
        for i in 0..n {
            let at = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(at.into()).await;
            // Stamped when it is handed out, not at its slot: the timer wakes up to a
            // millisecond late, which is the load tool's lateness, not the server's.
            if jobs_tx.send(Instant::now()).await.is_err() {
                break;
            }
        }
    });
    let mut samples = Vec::with_capacity(n);
    while let Some(s) = out_rx.recv().await {
        samples.push(s);
        if samples.len() == n {
            break;
        }
    }
    let _ = feeder.await;
    let wall = start.elapsed().as_secs_f64();
    let ok = samples.iter().filter(|s| s.ok).count();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut total: Vec<f64> = samples.iter().filter(|s| s.ok).map(|s| ms(s.total)).collect();
    let mut ttfb: Vec<f64> = samples.iter().filter(|s| s.ok).map(|s| ms(s.ttfb)).collect();
    println!(
        "{{\"sent\":{},\"ok\":{},\"errors\":{},\"rate\":{},\"achieved_rps\":{:.1},\"p50_ms\":{:.4},\"p90_ms\":{:.4},\"p99_ms\":{:.4},\"p999_ms\":{:.4},\"max_ms\":{:.4},\"ttfb_p50_ms\":{:.4},\"ttfb_p99_ms\":{:.4}}}",
        samples.len(),
        ok,
        samples.len() - ok,
        rate,
        ok as f64 / wall,
        pct(&mut total, 0.5),
        pct(&mut total, 0.9),
        pct(&mut total, 0.99),
        pct(&mut total, 0.999),
        pct(&mut total, 1.0),
        pct(&mut ttfb, 0.5),
        pct(&mut ttfb, 0.99),
    );
}

/// A multi-consumer queue of intended start times, bounded so the feeder keeps time.
fn async_channel() -> (Sender, Receiver) {
    let (tx, rx) = tokio::sync::mpsc::channel(1 << 16);
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    (Sender(tx), Receiver(rx))
}

struct Sender(tokio::sync::mpsc::Sender<Instant>);
impl Sender {
    async fn send(&self, v: Instant) -> Result<(), ()> {
        self.0.send(v).await.map_err(|_| ())
    }
}

#[derive(Clone)]
struct Receiver(std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Instant>>>);
impl Receiver {
    async fn recv(&self) -> Result<Instant, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}
