//! Who a host is: an Ed25519 key pair made at its first connect and kept in its
//! state dir; who may enrol: one-time tokens, of which the hub keeps hashes.

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use ctrl_core::hex::hex;

/// The host's key file in its state dir (PKCS#8, mode 0600).
pub const KEY_FILE: &str = "hub-key.pk8";

/// A host's key pair.
pub struct Identity {
    pair: Ed25519KeyPair,
}

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
#[error("the host key {path}: {why}")]
pub struct KeyError {
    path: PathBuf,
    why: String,
}

impl Identity {
    /// The key in `state_dir`, made (and written 0600) when there is none.
    pub fn load_or_create(state_dir: &Path) -> Result<Identity, KeyError> {
        let path = state_dir.join(KEY_FILE);
        let err = |why: String| KeyError { path: path.clone(), why };
        let der = match std::fs::read(&path) {
            Ok(der) => der,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| err("cannot make a key".into()))?;
                ctrl_access::password::write_private(&path, doc.as_ref()).map_err(|e| err(e.to_string()))?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(err(e.to_string())),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| err("not an Ed25519 key".into()))?;
        Ok(Identity { pair })
    }

    /// A key that lives as long as this run (a hub's, for signing what it relays
    /// to its peers: they read the public half from the database).
    pub fn ephemeral() -> Result<Identity, KeyError> {
        let err =
            || KeyError { path: PathBuf::from("(this run's hub key)"), why: "cannot make a key".into() };
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| err())?;
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| err())?;
        Ok(Identity { pair })
    }

    /// The public key, hex.
    pub fn public_key(&self) -> String {
        hex(self.pair.public_key().as_ref())
    }

    /// A signature of `text`, hex.
    pub fn sign(&self, text: &str) -> String {
        hex(self.pair.sign(text.as_bytes()).as_ref())
    }
}

/// Whether `signature` (hex) is `key`'s (hex) signature of `text`.
pub fn verify(key: &str, text: &str, signature: &str) -> bool {
    let (Some(key), Some(sig)) = (unhex(key), unhex(signature)) else { return false };
    UnparsedPublicKey::new(&ED25519, key).verify(text.as_bytes(), &sig).is_ok()
}

/// A new one-time enrolment token.
pub fn new_token() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("ctrlhost_{}", hex(&bytes))
}

/// What the hub keeps of a token: its SHA-256, as of API tokens (a trailing
/// newline of the token's file is no part of it).
pub fn hash(secret: &str) -> String {
    ctrl_access::password::digest(secret.trim())
}

/// Random hex, for challenges and runs.
pub fn nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    hex(&bytes)
}

/// Compares two secrets (or their hashes) in time independent of where they differ.
pub fn constant_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The bytes of hex text; `None` when it is not hex.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_is_made_once_kept_private_and_signs() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key(), b.public_key(), "the same key after a restart");
        let sig = a.sign("hello");
        assert!(verify(&a.public_key(), "hello", &sig));
        assert!(!verify(&a.public_key(), "hellO", &sig), "another text");
        let other = Identity::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(!verify(&other.public_key(), "hello", &sig), "another key");
        assert!(!verify("zz", "hello", &sig) && !verify(&a.public_key(), "hello", "abc"), "not hex");
    }

    #[test]
    fn a_damaged_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"garbage").unwrap();
        let e = Identity::load_or_create(dir.path()).err().unwrap();
        assert!(e.to_string().contains("not an Ed25519 key"), "{e}");
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with("ctrlhost_") && a.len() == 57 && a != b);
        assert_eq!(hash(&a), hash(&format!("{a}\n")), "a trailing newline of the file is no part of it");
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(unhex("00ff10"), Some(vec![0, 255, 16]));
    }
}
