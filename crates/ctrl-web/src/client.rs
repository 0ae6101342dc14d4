//! The binary's one HTTP client: hyper's pooled client over rustls (aws-lc-rs,
//! the system's CA certificates), for webhooks and model servers alike.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How the daemon names itself to the servers it calls.
pub const USER_AGENT: &str = concat!("ctrl/", env!("CARGO_PKG_VERSION"));

/// An HTTP and HTTPS client.
pub type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client that speaks http:// and https:// (verified against the system's CAs),
/// with Nagle's algorithm off: a request leaves in one go.
pub fn client() -> Http {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    match builder.with_native_roots() {
        Ok(b) => build(b.https_or_http().enable_http1()),
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates: only http:// URLs can be reached");
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            client_with(config)
        }
    }
}

/// The same client, with `tls` deciding whom https:// trusts (a peer whose
/// certificate is pinned).
pub fn client_with(tls: rustls::ClientConfig) -> Http {
    build(hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1())
}

fn build(builder: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsProtocols2>) -> Http {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(builder.wrap_connector(http))
}
