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
    // itsdangerous reads the stamp as an unsigned integer; one that does not fit a non-negative
    // i64 would turn into a negative time here, and `now - ts` would overflow.
    if stamp.is_empty() || stamp.len() > 8 || (stamp.len() == 8 && stamp[0] >= 0x80) {
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

    /// A token signed with the right key whose stamp is 8 bytes with the top bit set used to load
    /// with a negative time, which overflowed the age check of the caller.
    #[test]
    fn a_stamp_beyond_i64_is_refused() {
        let stamp = URL_SAFE_NO_PAD.encode([0x80, 0, 0, 0, 0, 0, 0, 0]);
        let signed = format!("{}.{stamp}", URL_SAFE_NO_PAD.encode("\"abcd\""));
        let sig = signature(SECRET.as_bytes(), &signed)
            .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        assert_eq!(loads(SECRET.as_bytes(), &format!("{signed}.{sig}")), None);
    }
}

#[cfg(test)]
mod fuzz_itsdangerous {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz::{config, hostile_text, mutate};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sign_raw(secret: &[u8], payload: &str, stamp: &[u8]) -> String {
        let signed = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(stamp));
        let sig = signature(secret, &signed)
            .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{signed}.{sig}")
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// sign → unsign gives back the value and the time, for any value whose token fits.
        #[test]
        fn fuzz_dumps_then_loads_round_trips(value in hostile_text(120), ts in 0i64..=i64::MAX) {
            let token = dumps(SECRET, &value, ts);
            let expected = (token.len() <= 512).then(|| (value.clone(), ts));
            prop_assert_eq!(loads(SECRET, &token), expected);
        }

        /// Replacing, inserting or deleting any one character breaks the token.
        #[test]
        fn fuzz_a_tampered_token_is_refused(
            value in "[0-9a-f]{32}", ts in 0i64..4_000_000_000,
            at in any::<usize>(), with in any::<char>(), how in any::<u8>(),
        ) {
            let token = dumps(SECRET, &value, ts);
            let forged = mutate(&token, at, with, how);
            prop_assert_ne!(&forged, &token);
            prop_assert_eq!(loads(SECRET, &forged), None);
        }

        /// A token is only good under the secret that signed it.
        #[test]
        fn fuzz_another_secret_is_refused(value in "[0-9a-f]{32}", other in hostile_text(64)) {
            prop_assume!(other.as_bytes() != SECRET);
            prop_assert_eq!(loads(other.as_bytes(), &dumps(SECRET, &value, 1_700_000_000)), None);
        }

        /// Text no one signed, shaped like a token or not, is refused without a panic.
        #[test]
        fn fuzz_unsigned_text_is_refused(
            text in prop_oneof![
                hostile_text(600),
                "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,12}\\.[A-Za-z0-9_-]{0,40}",
                "\\.?[A-Za-z0-9_.=-]{0,300}",
            ],
        ) {
            prop_assert_eq!(loads(SECRET, &text), None);
        }

        /// Whatever stamp and payload a signer puts in, a loaded time is never negative.
        #[test]
        fn fuzz_signed_stamps_load_as_non_negative_times(
            payload in prop_oneof!["[A-Za-z0-9_-]{0,60}", hostile_text(60)],
            stamp in proptest::collection::vec(any::<u8>(), 0..=10),
        ) {
            let token = sign_raw(SECRET, &payload, &stamp);
            if let Some((_, ts)) = loads(SECRET, &token) {
                prop_assert!(ts >= 0, "{ts}");
                prop_assert!(!stamp.is_empty() && stamp.len() <= 8);
            }
        }
    }
}
