//! RAGFlow's password transport (§4): `base64(RSA-PKCS#1-v1.5(public, base64(utf8(password))))`.
//! The published key pair is embedded as the default; it is public, so this hides nothing and
//! exists only so that RAGFlow's clients can talk to us. Passwords are decoded here, once.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use des::cipher::{BlockCipherDecrypt, KeyInit};
use md5::{Digest, Md5};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};

use crate::domain::Password;

const DEFAULT_KEY: &str = include_str!("../../../assets/ragflow/private.pem");
const DEFAULT_PASSPHRASE: &str = "Welcome";
/// No RSA-2048 ciphertext in base64 comes near this; longer input is refused unread.
const MAX_WIRE: usize = 4096;

/// The private half of the transport key pair.
pub struct Transport {
    key: RsaPrivateKey,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport(********)")
    }
}

impl Transport {
    /// The configured key (`rsa_private_key_file` + `rsa_passphrase`), else RAGFlow's published one.
    pub fn load(config: &crate::config::RagflowSecrets) -> anyhow::Result<Self> {
        let passphrase = config.rsa_passphrase.as_ref().map(|p| p.expose());
        let (pem, passphrase) = match &config.rsa_private_key {
            Some(pem) => (pem.expose(), passphrase),
            None => (DEFAULT_KEY, Some(passphrase.unwrap_or(DEFAULT_PASSPHRASE))),
        };
        let key = parse_private_pem(pem, passphrase).map_err(|why| {
            anyhow::anyhow!("invalid value for `ragflow.rsa_private_key_file`: {why}")
        })?;
        Ok(Self { key })
    }

    /// The base64 text the client encrypted (RAGFlow hashes exactly this text).
    /// Whitespace and newlines in the ciphertext are ignored, as Python's `b64decode` does.
    pub fn decrypt_text(&self, wire: &str) -> Option<String> {
        if wire.len() > MAX_WIRE {
            return None;
        }
        let compact: String = wire.chars().filter(|c| !c.is_whitespace()).collect();
        let cipher = STANDARD.decode(compact).ok()?;
        let plain = self.key.decrypt(Pkcs1v15Encrypt, &cipher).ok()?;
        String::from_utf8(plain).ok()
    }

    /// The password itself: decrypted, then base64-decoded to UTF-8.
    pub fn decrypt(&self, wire: &str) -> Option<Password> {
        let text = self.decrypt_text(wire)?;
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = STANDARD.decode(compact).ok()?;
        String::from_utf8(bytes).ok().map(Password::new)
    }
}

/// A PEM private key: PKCS#1 (`RSA PRIVATE KEY`, optionally OpenSSL-encrypted with
/// `Proc-Type: 4,ENCRYPTED` and DES-EDE3-CBC, as RAGFlow's is) or unencrypted PKCS#8.
fn parse_private_pem(pem: &str, passphrase: Option<&str>) -> Result<RsaPrivateKey, String> {
    let mut label = None;
    let mut headers = Vec::new();
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_string());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            match line.split_once(':') {
                Some((name, value)) => headers.push((name.to_string(), value.trim().to_string())),
                None => body.push_str(line),
            }
        }
    }
    let der = STANDARD
        .decode(body)
        .map_err(|_| "the PEM body is not base64".to_string())?;
    let encrypted = headers
        .iter()
        .any(|(n, v)| n == "Proc-Type" && v.ends_with("ENCRYPTED"));
    match label.as_deref() {
        Some("RSA PRIVATE KEY") if encrypted => {
            let dek = headers
                .iter()
                .find(|(n, _)| n == "DEK-Info")
                .map(|(_, v)| v.as_str())
                .ok_or("encrypted PEM without DEK-Info")?;
            let passphrase =
                passphrase.ok_or("the key is encrypted: set `ragflow.rsa_passphrase`")?;
            let der = decrypt_legacy(&der, dek, passphrase)?;
            RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|_| "wrong passphrase or not an RSA key".to_string())
        }
        Some("RSA PRIVATE KEY") => {
            RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| format!("not an RSA key ({e})"))
        }
        Some("PRIVATE KEY") => {
            RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| format!("not an RSA key ({e})"))
        }
        _ => Err("expected an `RSA PRIVATE KEY` or `PRIVATE KEY` PEM".into()),
    }
}

/// OpenSSL's traditional PEM encryption: key = EVP_BytesToKey(MD5, passphrase, iv[..8]),
/// DES-EDE3-CBC with PKCS#7 padding.
fn decrypt_legacy(der: &[u8], dek: &str, passphrase: &str) -> Result<Vec<u8>, String> {
    let (algorithm, iv_hex) = dek.split_once(',').ok_or("malformed DEK-Info")?;
    if algorithm.trim() != "DES-EDE3-CBC" {
        return Err(format!(
            "unsupported PEM encryption {algorithm} (DES-EDE3-CBC only; or give an unencrypted key)"
        ));
    }
    let iv = hex::decode(iv_hex.trim()).map_err(|_| "malformed DEK-Info IV")?;
    if iv.len() != 8 || der.is_empty() || !der.len().is_multiple_of(8) {
        return Err("malformed encrypted PEM".into());
    }
    let mut key = Vec::with_capacity(24);
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < 24 {
        let mut h = Md5::new();
        h.update(&previous);
        h.update(passphrase.as_bytes());
        h.update(&iv[..8]);
        previous = h.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    let cipher = des::TdesEde3::new_from_slice(&key[..24]).map_err(|_| "bad 3DES key")?;
    let mut out = Vec::with_capacity(der.len());
    let mut chain = iv.clone();
    for chunk in der.chunks(8) {
        let mut block = des::cipher::Block::<des::TdesEde3>::try_from(chunk)
            .map_err(|_| "malformed encrypted PEM")?;
        cipher.decrypt_block(&mut block);
        out.extend(block.iter().zip(&chain).map(|(b, c)| b ^ c));
        chain = chunk.to_vec();
    }
    let pad = usize::from(*out.last().ok_or("empty key")?);
    if pad == 0
        || pad > 8
        || out[out.len() - pad..]
            .iter()
            .any(|b| usize::from(*b) != pad)
    {
        return Err("wrong passphrase".into());
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RAGFlow's `configs.PASSWORD`: the ciphertext of base64("123"), newlines included.
    const TEST_PASSWORD: &str = include_str!("../../../tests/data/ragflow-test-password.txt");

    fn transport() -> Transport {
        Transport::load(&crate::config::RagflowSecrets::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ragflow_test_ciphertext_with_newlines_decrypts() {
        assert!(TEST_PASSWORD.trim().contains('\n'));
        let t = transport();
        assert_eq!(t.decrypt_text(TEST_PASSWORD).as_deref(), Some("MTIz"));
        assert_eq!(
            t.decrypt(TEST_PASSWORD)
                .map(|p| p.expose().to_string())
                .as_deref(),
            Some("123")
        );
    }

    #[test]
    fn garbage_is_refused() {
        let t = transport();
        assert!(t.decrypt("not base64!").is_none());
        assert!(t.decrypt("MTIz").is_none());
        assert!(t.decrypt(&"A".repeat(5000)).is_none());
    }

    #[test]
    fn a_wrong_passphrase_is_named() {
        let config = crate::config::RagflowSecrets {
            rsa_passphrase: Some(crate::config::Secret::new("nope")),
            ..Default::default()
        };
        let err = Transport::load(&config)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("rsa_private_key_file"), "{err}");
        assert!(!err.contains("nope"), "{err}");
    }
}

#[cfg(test)]
mod fuzz_transport {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use rsa::RsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;

    use super::*;
    use crate::fuzz::{config, hostile_text};

    static TRANSPORT: LazyLock<Transport> = LazyLock::new(|| {
        Transport::load(&crate::config::RagflowSecrets::default()).unwrap_or_else(|e| panic!("{e}"))
    });

    fn encrypt(plain: &[u8]) -> Result<String, TestCaseError> {
        let key =
            RsaPublicKey::from_public_key_pem(include_str!("../../../assets/ragflow/public.pem"))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cipher = key
            .encrypt(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, plain)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok(STANDARD.encode(cipher))
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Garbage of any shape: refused without a panic (most of it before any RSA work).
        #[test]
        fn fuzz_transport_garbage_is_refused(
            wire in prop_oneof![
                hostile_text(400),
                "[A-Za-z0-9+/=\n ]{0,700}",
                Just("A".repeat(5000)),
            ],
        ) {
            let _ = TRANSPORT.decrypt(&wire);
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        /// Ciphertexts of the key's own size but random content: no panic, and a block whose
        /// padding happens to check out still has to be base64 of UTF-8 to give a password.
        #[test]
        fn fuzz_transport_random_blocks(block in proptest::collection::vec(any::<u8>(), 256)) {
            if let Some(p) = TRANSPORT.decrypt(&STANDARD.encode(&block)) {
                prop_assert!(p.expose().len() <= 256);
            }
        }

        /// encrypt → decrypt: what a RAGFlow client sends (base64 of the password, encrypted,
        /// in base64, possibly wrapped over lines) comes back as the password; one flipped bit
        /// of the ciphertext does not.
        #[test]
        fn fuzz_transport_round_trips(
            password in hostile_text(30),
            wrap in proptest::option::of(16usize..80),
            flip in any::<(usize, u8)>(),
        ) {
            let encoded = STANDARD.encode(password.as_bytes());
            let wire = encrypt(encoded.as_bytes())?;
            let sent = match wrap {
                Some(w) => wire
                    .as_bytes()
                    .chunks(w)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n"),
                None => wire.clone(),
            };
            let got = TRANSPORT.decrypt(&sent).map(|p| p.expose().to_string());
            prop_assert_eq!(got.as_deref(), Some(password.as_str()));
            prop_assert_eq!(TRANSPORT.decrypt_text(&sent), Some(encoded));

            let mut bytes = STANDARD.decode(&wire).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let at = flip.0 % bytes.len();
            bytes[at] ^= 1 << (flip.1 % 8);
            let tampered = TRANSPORT.decrypt(&STANDARD.encode(&bytes)).map(|p| p.expose().to_string());
            prop_assert_ne!(tampered.as_deref(), Some(password.as_str()));
        }
    }
}
