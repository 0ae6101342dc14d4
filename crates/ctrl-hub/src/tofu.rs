//! How a host trusts its hub: a CA it was given (`[hub] ca`); else a certificate
//! the system's CAs vouch for (a hub behind nginx with a public certificate, which
//! is renewed every few months); else the hub's own certificate, pinned on first
//! use and required to stay the same afterwards.
//!
//! The pin (the SHA-256 of the hub's certificate) is kept in the host's state
//! dir once a link was welcomed. A changed certificate is refused with both
//! fingerprints named, until the pin file is removed by hand.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};
use sha2::{Digest, Sha256};

use ctrl_core::hex::hex;

/// The pin file in the host's state dir.
pub const PIN_FILE: &str = "hub.pin";

/// The SHA-256 fingerprint of a certificate, hex.
pub fn fingerprint(cert: &[u8]) -> String {
    hex(&Sha256::digest(cert))
}

/// What a host holds its hub to once a link was welcomed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// A certificate the system's CAs vouch for (renewals keep working).
    System,
    /// This certificate (SHA-256, hex): the hub's own, trusted on first use.
    Cert(String),
}

impl Pin {
    fn parse(text: &str) -> Option<Pin> {
        match text.trim() {
            "" => None,
            "system" => Some(Pin::System),
            fp => Some(Pin::Cert(fp.to_owned())),
        }
    }

    fn text(&self) -> &str {
        match self {
            Pin::System => "system",
            Pin::Cert(fp) => fp,
        }
    }
}

/// The pin kept in the state dir, and what the current handshake met.
#[derive(Debug)]
pub struct Pinning {
    file: PathBuf,
    pinned: Mutex<Option<Pin>>,
    seen: Mutex<Option<Pin>>,
}

impl Pinning {
    /// The pin kept in `state_dir`, if any.
    pub fn load(state_dir: &Path) -> Pinning {
        let file = state_dir.join(PIN_FILE);
        let pinned = std::fs::read_to_string(&file).ok().and_then(|s| Pin::parse(&s));
        Pinning { file, pinned: Mutex::new(pinned), seen: Mutex::new(None) }
    }

    /// A pin given, not kept anywhere (a peer hub's certificate, read from the database).
    pub fn fixed(pin: Pin) -> Pinning {
        Pinning { file: PathBuf::new(), pinned: Mutex::new(Some(pin)), seen: Mutex::new(None) }
    }

    /// The pin kept, if any.
    pub fn pinned(&self) -> Option<Pin> {
        self.pinned.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A new handshake: forgets what an earlier one met.
    pub fn begin(&self) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Keeps what this handshake met, once its link was welcomed and nothing is
    /// kept yet; what it kept, when it was new.
    pub fn record(&self) -> std::io::Result<Option<Pin>> {
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if pinned.is_some() {
            return Ok(None);
        }
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).take();
        match seen {
            Some(pin) => {
                ctrl_access::password::write_private(&self.file, format!("{}\n", pin.text()).as_bytes())?;
                *pinned = Some(pin.clone());
                Ok(Some(pin))
            }
            None => Ok(None),
        }
    }

    fn saw(&self, pin: Pin) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(pin);
    }
}

/// A verifier that holds the hub to its pin (a certificate the system's CAs
/// vouch for, or one certificate), accepts any on first use (noting which), and
/// checks the handshake's signatures as usual.
#[derive(Debug)]
struct Pinned {
    pin: Arc<Pinning>,
    provider: Arc<CryptoProvider>,
    /// The system's CAs (none on a system without them).
    system: Option<Arc<rustls::client::WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let vouched = self.system.as_ref().is_some_and(|system| {
            system.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).is_ok()
        });
        let fp = fingerprint(end_entity.as_ref());
        let refused = |why: String| Err(Error::General(why));
        match self.pin.pinned() {
            Some(Pin::System) if vouched => {}
            Some(Pin::System) => {
                return refused(format!(
                    "the hub's certificate (sha256:{fp}) is not one the system's CAs vouch for, as it was; \
                     if the hub really changed, delete {} on this host",
                    self.pin.file.display()
                ));
            }
            Some(Pin::Cert(p)) if p == fp => {}
            Some(Pin::Cert(p)) => {
                return refused(format!(
                    "the hub's certificate changed: pinned sha256:{p}, presented sha256:{fp}; if the hub \
                     really has a new certificate, delete {} on this host",
                    self.pin.file.display()
                ));
            }
            // First use: noted, and kept once the hub welcomes this host.
            None if vouched => self.pin.saw(Pin::System),
            None => self.pin.saw(Pin::Cert(fp)),
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client setup for the link: the CA file's roots, or the pin.
pub fn client_config(ca: Option<&Path>, pin: Arc<Pinning>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match ca {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| format!("cannot read the hub's CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{} holds no PEM certificate", path.display()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            let system = (!roots.is_empty())
                .then(|| {
                    rustls::client::WebPkiServerVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider.clone(),
                    )
                    .build()
                    .ok()
                })
                .flatten();
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { pin, provider, system }))
                .with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}
