//! HTTPS: rustls over the API's TCP listener, each connection served by hyper's
//! HTTP/1.1 (with upgrades, for the WebSockets), stopped gracefully.
//!
//! Written here rather than taken from axum-server, which always builds HTTP/2
//! in (the h2 crate: about 0.4 MB of binary) for clients that all speak HTTP/1.1
//! to this API, and nginx in front where there is one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// A TLS handshake that has not finished by then is dropped (a slow or idle client
/// holds no task for long).
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Time to send a request's head, on a new or an idle kept-alive connection.
const HEADERS: Duration = Duration::from_secs(30);

/// The server side of TLS from a PEM certificate chain and its key.
pub fn config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the key {}", key.display()))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS on `listener` until `stop` turns true, then lets open
/// connections finish for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTPS connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        // Small stream writes go at once (no Nagle wait for a delayed ACK).
        let _ = tcp.set_nodelay(true);
        // Ended connections' tasks are collected as new ones come.
        while connections.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let app = app.clone();
        let mut stop = stop.clone();
        connections.spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            // The client's address, as axum's connect info gives it to handlers on plain TCP.
            let svc = app.map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
            // A client that sends no complete request head in time is dropped.
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADERS)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            // At the stop, the request in flight finishes and the connection closes.
            let ended = tokio::select! {
                ended = conn.as_mut() => Some(ended),
                () = stopped(&mut stop) => None,
            };
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "HTTPS connection ended with an error");
            }
        });
    }
    // No new connection waits in the backlog meanwhile.
    drop(listener);
    let drained = async {
        // A connection task that failed says so in the log; the others still drain.
        while let Some(ended) = connections.join_next().await {
            if let Err(e) = ended {
                tracing::warn!(error = %e, "an HTTPS connection task failed");
            }
        }
    };
    if tokio::time::timeout(drain, drained).await.is_err() {
        tracing::debug!("HTTPS connections still open at the end of the drain");
    }
}

/// Returns once `stop` is true (the guard `wait_for` holds is not kept across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}
