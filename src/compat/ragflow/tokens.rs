//! itsdangerous 2.2 `URLSafeTimedSerializer` tokens (§3.2), byte for byte: RAGFlow's clients keep
//! them opaque, but operators can check them with Python against the same secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha1::{Digest, Sha1};

type HmacSha1 = hmac::Hmac<Sha1>;

/// The signing key: SHA1(salt "itsdangerous" + "signer" + secret) ("django-concat").
fn derived_key(secret: &[u8]) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(b"itsdangerous");
    h.update(b"signer");
    h.update(secret);
    h.finalize().to_vec()
}

fn signature(secret: &[u8], signed: &str) -> Option<HmacSha1> {
    let mut mac = HmacSha1::new_from_slice(&derived_key(secret)).ok()?;
    mac.update(signed.as_bytes());
    Some(mac)
}

/// `dumps(value)` at `ts` (unix seconds). `value` is a short hex handle, which never compresses,
/// so the zlib branch of itsdangerous never applies.
pub fn dumps(secret: &[u8], value: &str, ts: i64) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let ts_bytes = ts.max(0).to_be_bytes();
    let first = ts_bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(ts_bytes.len());
    let stamp = URL_SAFE_NO_PAD.encode(&ts_bytes[first..]);
    let signed = format!("{payload}.{stamp}");
    let sig = signature(secret, &signed)
        .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("{signed}.{sig}")
}

/// `loads(token)`: the value and its timestamp when the signature holds (checked in constant
/// time); `None` for anything else, compressed payloads included.
pub fn loads(secret: &[u8], token: &str) -> Option<(String, i64)> {
    if token.len() > 512 {
        return None;
    }
    let (signed, sig) = token.rsplit_once('.')?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    signature(secret, signed)?.verify_slice(&sig).ok()?;
    let (payload, stamp) = signed.rsplit_once('.')?;
    let stamp = URL_SAFE_NO_PAD.decode(stamp).ok()?;
    if stamp.is_empty() || stamp.len() > 8 {
        return None;
    }
    let ts = stamp.iter().fold(0i64, |acc, b| (acc << 8) | i64::from(*b));
    if payload.starts_with('.') {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: String = serde_json::from_slice(&json).ok()?;
    Some((value, ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const VECTOR: &str =
        "IjNmMmIxYzBlOWQ4YTExZWZiMmM0MDI0MmFjMTIwMDAyIg.ZVPxAA.162RrrF_0qYJvVk3-OZPJ_yNCfc";

    #[test]
    fn itsdangerous_vector() {
        assert_eq!(SECRET.len(), 64);
        let token = dumps(
            SECRET.as_bytes(),
            "3f2b1c0e9d8a11efb2c40242ac120002",
            1_700_000_000,
        );
        assert_eq!(token, VECTOR);
        assert_eq!(
            loads(SECRET.as_bytes(), VECTOR),
            Some(("3f2b1c0e9d8a11efb2c40242ac120002".into(), 1_700_000_000))
        );
    }

    #[test]
    fn tampering_is_refused() {
        assert_eq!(loads(b"another secret", VECTOR), None);
        let forged = VECTOR.replace("ZVPxAA", "ZVPxAB");
        assert_eq!(loads(SECRET.as_bytes(), &forged), None);
        assert_eq!(loads(SECRET.as_bytes(), "abc"), None);
    }

    /// itsdangerous signs a zlib-compressed payload as `.` + base64; no handle gatehouse issues
    /// compresses, so a validly signed compressed token is someone else's and is refused.
    #[test]
    fn a_signed_compressed_payload_is_refused() {
        let signed = ".eJxTSkpMUqoFAAXgAb0.ZVPxAA";
        let sig = signature(SECRET.as_bytes(), signed)
            .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        let token = format!("{signed}.{sig}");
        assert_eq!(loads(SECRET.as_bytes(), &token), None);
        // The same signature over a plain payload is accepted: the refusal is the compression.
        let plain = dumps(SECRET.as_bytes(), "abcd", 1_700_000_000);
        assert_eq!(
            loads(SECRET.as_bytes(), &plain),
            Some(("abcd".into(), 1_700_000_000))
        );
    }
}
