//! Where the daemon is and how to reach it: its unix socket, or TCP with or
//! without TLS (the system's CA certificates, or a CA file for a self-signed one).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::Error;

/// A connected byte stream of any of the three kinds.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The daemon's address.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// The local daemon's control socket (trusted by its file mode).
    Unix(PathBuf),
    /// `http://` or `https://` host and port.
    Tcp {
        /// `host:port`.
        authority: String,
        /// The host alone, for TLS's server name and the Host header.
        host: String,
        /// Present for `https://`.
        tls: Option<tokio_rustls::TlsConnector>,
    },
}

/// An `http://HOST[:PORT][/]` or `https://…` URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https://`.
    pub tls: bool,
    /// `host:port`, the port filled in (80, 443).
    pub authority: String,
    /// The host alone (no brackets), for TLS's server name.
    pub host: String,
}

impl HttpUrl {
    /// Parses `http://HOST[:PORT][/]` or `https://…`; nothing else (no path, no user).
    pub fn parse(url: &str) -> Result<HttpUrl, Error> {
        let (rest, tls, default_port) = if let Some(r) = url.strip_prefix("http://") {
            (r, false, 80)
        } else if let Some(r) = url.strip_prefix("https://") {
            (r, true, 443)
        } else {
            return Err(Error::Usage(format!("the URL must start with http:// or https:// (got '{url}')")));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || authority.contains('@') {
            return Err(Error::Usage(format!("the URL must be http(s)://HOST[:PORT] (got '{url}')")));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(h, p)| p.parse::<u16>().is_ok() && (!h.starts_with('[') || h.ends_with(']')));
        let authority = if has_port { authority.to_owned() } else { format!("{authority}:{default_port}") };
        let host = authority.rsplit_once(':').map_or(authority.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        Ok(HttpUrl { tls, authority, host })
    }
}

impl Endpoint {
    /// Parses `http://HOST[:PORT][/]` or `https://…`; `ca` adds a CA certificate
    /// (PEM) to the system's for https.
    pub(crate) fn from_url(url: &str, ca: Option<&Path>) -> Result<Endpoint, Error> {
        let HttpUrl { tls, authority, host } = HttpUrl::parse(url)?;
        if !tls && ca.is_some() {
            return Err(Error::Usage("--ca applies to https:// URLs only".into()));
        }
        let tls = if tls { Some(connector(ca)?) } else { None };
        Ok(Endpoint::Tcp { authority, host, tls })
    }

    /// What the Host header says.
    pub(crate) fn host_header(&self) -> &str {
        match self {
            Endpoint::Unix(_) => "localhost",
            Endpoint::Tcp { authority, .. } => authority,
        }
    }

    /// Opens a connection.
    pub(crate) async fn connect(&self) -> Result<Pin<Box<dyn Io>>, Error> {
        match self {
            Endpoint::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| Error::Unreachable(format!("cannot connect to {}: {e}", path.display())))?;
                Ok(Box::pin(s))
            }
            Endpoint::Tcp { authority, host, tls } => {
                let tcp = tokio::net::TcpStream::connect(authority.as_str()).await.map_err(|e| {
                    Error::Unreachable(format!("cannot connect to the daemon at {authority}: {e}"))
                })?;
                let Some(tls) = tls else { return Ok(Box::pin(tcp)) };
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| Error::Usage(format!("'{host}' is not a host name TLS can check")))?;
                let s = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Error::Unreachable(format!("TLS with {authority} failed: {e}")))?;
                Ok(Box::pin(s))
            }
        }
    }
}

/// A TLS connector trusting the system's CA certificates and `ca`, when given.
fn connector(ca: Option<&Path>) -> Result<tokio_rustls::TlsConnector, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| Error::Usage(format!("cannot read the CA file {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::Usage(format!("{} holds no PEM certificate", path.display())));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(url: &str) -> String {
        match Endpoint::from_url(url, None).unwrap() {
            Endpoint::Tcp { authority, .. } => authority,
            Endpoint::Unix(_) => unreachable!(),
        }
    }

    #[test]
    fn urls_become_addresses() {
        assert_eq!(authority("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(authority("http://example.org/"), "example.org:80");
        assert_eq!(authority("https://example.org"), "example.org:443");
        assert_eq!(authority("http://[::1]:9000"), "[::1]:9000");
        assert_eq!(authority("https://hub.example:8443"), "hub.example:8443");
        let v6 = HttpUrl::parse("https://[::1]").unwrap();
        assert_eq!((v6.authority.as_str(), v6.host.as_str(), v6.tls), ("[::1]:443", "::1", true));
        assert!(Endpoint::from_url("ftp://example.org", None).is_err());
        assert!(Endpoint::from_url("http://host/api", None).is_err());
        assert!(Endpoint::from_url("http://user:pw@host", None).is_err());
        assert!(Endpoint::from_url("http://host", Some(Path::new("/ca.pem"))).is_err());
    }
}
