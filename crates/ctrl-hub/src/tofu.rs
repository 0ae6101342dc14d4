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

use crate::identity::hex;

/// The pin file in the host's state dir.
pub const PIN_FILE: &str = "hub.pin";

/// The SHA-256 fingerprint of a certificate, hex.
pub fn fingerprint(cert: &[u8]) -> String {
    hex(&Sha256::digest(cert))
}

/// The certificate a handshake met, and the pin it was held to.
#[derive(Debug)]
pub struct Pinning {
    file: PathBuf,
    pinned: Mutex<Option<String>>,
    seen: Mutex<Option<String>>,
}

impl Pinning {
    /// The pin kept in `state_dir`, if any.
    pub fn load(state_dir: &Path) -> Pinning {
        let file = state_dir.join(PIN_FILE);
        let pinned =
            std::fs::read_to_string(&file).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Pinning { file, pinned: Mutex::new(pinned), seen: Mutex::new(None) }
    }

    /// The pin kept, if any.
    pub fn pinned(&self) -> Option<String> {
        self.pinned.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps the certificate met on the first link (once it was welcomed); the
    /// fingerprint when it was new.
    pub fn record(&self) -> std::io::Result<Option<String>> {
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if pinned.is_some() {
            return Ok(None);
        }
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).take();
        match seen {
            Some(fp) => {
                crate::identity::write_private(&self.file, format!("{fp}\n").as_bytes())?;
                *pinned = Some(fp.clone());
                Ok(Some(fp))
            }
            None => Ok(None),
        }
    }
}

/// A verifier that accepts exactly the pinned certificate, or any on first use
/// (noting it), and checks the handshake's signatures as usual.
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
        if let Some(system) = &self.system
            && system.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).is_ok()
        {
            return Ok(ServerCertVerified::assertion());
        }
        let fp = fingerprint(end_entity.as_ref());
        match &self.pin.pinned() {
            Some(p) if *p == fp => {}
            Some(p) => {
                return Err(Error::General(format!(
                    "the hub's certificate changed: pinned sha256:{p}, presented sha256:{fp}; if the hub \
                     really has a new certificate, delete {} on this host",
                    self.pin.file.display()
                )));
            }
            None => *self.pin.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(fp),
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
