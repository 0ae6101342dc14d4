//! Password hashing: argon2id with the crate's default cost, in PHC strings.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Hashes a password with a fresh random salt. Slow on purpose (tens of ms):
/// call it off the async threads.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash of nothing anyone knows, verified against when a user does not exist,
/// so that an unknown name costs the same time as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        hash(&String::from_utf8_lossy(&secret)).unwrap_or_default()
    })
}

/// The SHA-256 of a secret (tokens, session ids), hex: what the store keeps.
pub fn digest(secret: &str) -> String {
    use ctrl_core::hex::hex;
    use sha2::Digest;
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

/// Writes a secret's file (a token, a key, a pin) whole, readable by this user
/// only from the moment it exists: a 0600 file beside it, then renamed over it.
pub fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A new random secret: 32 bytes, hex.
pub fn secret() -> String {
    use ctrl_core::hex::hex;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct hors", &h));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(hash("correct horse").unwrap(), h, "salted");
        assert!(!verify("", decoy()));
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(secret().len(), 64);
    }
}
