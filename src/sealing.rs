//! Secrets gatehouse must read back (RAGFlow's API tokens, TOTP secrets, mailbox passwords,
//! signing keys) are sealed at rest with AES-256-GCM under a key derived from the server key for
//! one purpose, with a fresh random nonce on every write. A leaked database alone opens none of
//! them, and a sealed value moved to another purpose's column does not open there.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::tokens::ServerKey;

const NONCE_LEN: usize = 12;

/// Seals and opens values for one purpose. `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct Sealer(Aes256Gcm);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(********)")
    }
}

impl Sealer {
    /// The sealer for `purpose` (e.g. `"totp-secrets"`): its key is an HMAC of the purpose
    /// under the server key, so each purpose has its own.
    pub fn derive(key: &ServerKey, purpose: &str) -> Self {
        // (purpose, "v1") is also how the RAGFlow profile's token key was always derived, so
        // tokens sealed before this module existed still open.
        let derived = key.mac_bytes(purpose, "v1");
        // A 32-byte HMAC-SHA256 output is always a valid AES-256 key.
        let cipher = Aes256Gcm::new(&derived.into());
        Self(cipher)
    }

    /// base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        crate::tokens::fill_random(&mut nonce);
        let sealed = self
            .0
            .encrypt(&nonce.into(), plain)
            // AES-GCM encryption fails only for inputs over 64 GiB.
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    /// The plain bytes, or `None` when `sealed` is not something this sealer made (tampered,
    /// truncated, another purpose's or another server key's).
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.0.decrypt(&nonce.into(), body).ok()
    }

    pub fn seal_str(&self, plain: &str) -> String {
        self.seal(plain.as_bytes())
    }

    pub fn open_str(&self, sealed: &str) -> Option<String> {
        String::from_utf8(self.open(sealed)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_with_fresh_nonces_and_detects_tampering() {
        let key = ServerKey::new(&[7u8; 32]);
        let sealer = Sealer::derive(&key, "test-purpose");
        let a = sealer.seal_str("mailbox password");
        let b = sealer.seal_str("mailbox password");
        assert_ne!(a, b, "each seal has its own nonce");
        assert!(!a.contains("mailbox"));
        assert_eq!(sealer.open_str(&a).as_deref(), Some("mailbox password"));

        let mut raw = STANDARD.decode(&a).unwrap_or_default();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            sealer.open(&STANDARD.encode(raw)),
            None,
            "tampering is detected"
        );
        assert_eq!(sealer.open("not base64!"), None);
        assert_eq!(sealer.open("AAAA"), None, "too short");

        let other_purpose = Sealer::derive(&key, "another-purpose");
        assert_eq!(other_purpose.open(&a), None);
        let other_key = Sealer::derive(&ServerKey::new(&[8u8; 32]), "test-purpose");
        assert_eq!(other_key.open(&a), None);
    }
}
