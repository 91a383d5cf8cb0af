//! Verify-only support for werkzeug hashes imported from other systems:
//! `scrypt:N:r:p$salt$hex` and `pbkdf2:sha256:iterations$salt$hex` (salt used as its ASCII bytes).

use subtle::ConstantTimeEq;

/// Upper bounds that keep a hostile stored hash from pinning a core or exhausting memory.
/// werkzeug's defaults (`scrypt:32768:8:1`, 32 MiB; `pbkdf2:sha256:1000000`) sit well inside.
const MAX_SCRYPT_LOG_N: u8 = 20;
/// scrypt needs 128·N·r bytes: at most 256 MiB.
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
/// scrypt's time grows with N·r·p: at most 16 times werkzeug's default.
const MAX_SCRYPT_WORK: u64 = 16 * 32768 * 8;
const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;
const MAX_DIGEST_BYTES: usize = 128;

/// How a stored hash says to derive its digest, once its parameters are known to be bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kdf {
    Scrypt { log_n: u8, r: u32, p: u32 },
    Pbkdf2Sha256 { iterations: u32 },
}

/// A stored hash taken apart: method, salt (used as its ASCII bytes) and expected digest.
#[derive(Debug)]
struct Parsed<'a> {
    kdf: Kdf,
    salt: &'a str,
    expected: Vec<u8>,
}

pub fn verify(plain: &str, stored: &str) -> bool {
    let Some(parsed) = parse(stored) else {
        return false;
    };
    let mut derived = vec![0u8; parsed.expected.len()];
    let ok = match parsed.kdf {
        Kdf::Scrypt { log_n, r, p } => scrypt::Params::new(log_n, r, p).is_ok_and(|params| {
            scrypt::scrypt(
                plain.as_bytes(),
                parsed.salt.as_bytes(),
                &params,
                &mut derived,
            )
            .is_ok()
        }),
        Kdf::Pbkdf2Sha256 { iterations } => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                plain.as_bytes(),
                parsed.salt.as_bytes(),
                iterations,
                &mut derived,
            );
            true
        }
    };
    ok && bool::from(derived.ct_eq(&parsed.expected))
}

/// `None` for anything that is not a werkzeug hash with parameters inside the bounds.
fn parse(stored: &str) -> Option<Parsed<'_>> {
    let mut parts = stored.splitn(3, '$');
    let (method, salt, expected_hex) = (parts.next()?, parts.next()?, parts.next()?);
    let expected = hex::decode(expected_hex).ok()?;
    if expected.is_empty() || expected.len() > MAX_DIGEST_BYTES {
        return None;
    }
    let kdf = match method.split(':').collect::<Vec<_>>().as_slice() {
        ["scrypt", n, r, p] => scrypt_params(n, r, p)?,
        ["pbkdf2", "sha256", iterations] => pbkdf2_params(iterations)?,
        ["pbkdf2", "sha256"] => pbkdf2_params("260000")?,
        _ => return None,
    };
    Some(Parsed {
        kdf,
        salt,
        expected,
    })
}

fn scrypt_params(n: &str, r: &str, p: &str) -> Option<Kdf> {
    let (Ok(n), Ok(r), Ok(p)) = (n.parse::<u64>(), r.parse::<u32>(), p.parse::<u32>()) else {
        return None;
    };
    if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 {
        return None;
    }
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    let memory = 128u64.checked_mul(n)?.checked_mul(u64::from(r))?;
    let work = n.checked_mul(u64::from(r))?.checked_mul(u64::from(p))?;
    if log_n > MAX_SCRYPT_LOG_N
        || r > 32
        || p > 16
        || memory > MAX_SCRYPT_MEMORY
        || work > MAX_SCRYPT_WORK
    {
        return None;
    }
    Some(Kdf::Scrypt { log_n, r, p })
}

fn pbkdf2_params(iterations: &str) -> Option<Kdf> {
    let iterations = iterations.parse::<u32>().ok()?;
    (1..=MAX_PBKDF2_ITERATIONS)
        .contains(&iterations)
        .then_some(Kdf::Pbkdf2Sha256 { iterations })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Vectors of werkzeug's `generate_password_hash("MTIz", salt "abcdefghijklmnop")`.
    pub const SCRYPT_VECTOR: &str = "scrypt:32768:8:1$abcdefghijklmnop$77627345e126bca72d58d4501231acce6482ecdb7b6e07feee36ad349e44786275c201efb14eceb78d39cca43ca302a15397106a6131432c96434260967549da";
    const PBKDF2_VECTOR: &str = "pbkdf2:sha256:1000000$abcdefghijklmnop$157e05ce8cbab3d5c543bd6d1c59b4c6379b15d87639c75b841ad283685c4170";

    #[test]
    fn scrypt_vector() {
        assert!(verify("MTIz", SCRYPT_VECTOR));
        assert!(!verify("MTI0", SCRYPT_VECTOR));
    }

    #[test]
    fn pbkdf2_vector() {
        assert!(verify("MTIz", PBKDF2_VECTOR));
        assert!(!verify("123", PBKDF2_VECTOR));
    }

    #[test]
    fn hostile_hashes_are_refused_without_work() {
        assert!(!verify("x", "scrypt:4294967296:8:1$salt$00"));
        assert!(!verify("x", "pbkdf2:sha256:999999999$salt$00"));
        assert!(!verify("x", "md5$salt$00"));
        assert!(!verify("x", "scrypt:32768:8:1$salt$nothex"));
        // Each within the per-parameter limits, together 4 GiB and 2^29 rounds.
        assert!(parse("scrypt:1048576:32:16$salt$00").is_none());
        assert!(parse("scrypt:1048576:8:1$salt$00").is_none(), "1 GiB");
        assert!(parse("scrypt:131072:8:1$salt$00").is_some(), "128 MiB");
        assert!(
            parse("scrypt:32768:8:16$salt$00").is_some(),
            "16 times the default"
        );
        assert!(parse("scrypt:32768:8:17$salt$00").is_none());
    }
}

#[cfg(test)]
mod fuzz_werkzeug {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz::{config, hostile_text};

    /// What a stored hash may make one verification cost, said again independently of `parse`.
    fn bounded(kdf: Kdf) -> bool {
        match kdf {
            Kdf::Scrypt { log_n, r, p } => {
                let n = 1u64 << log_n;
                log_n <= 20
                    && 128 * n * u64::from(r) <= 256 << 20
                    && n * u64::from(r) * u64::from(p) <= 1 << 22
            }
            Kdf::Pbkdf2Sha256 { iterations } => (1..=5_000_000).contains(&iterations),
        }
    }

    /// Hashes shaped like werkzeug's with hostile numbers: huge, zero, negative, not powers of
    /// two, overflowing, padded.
    fn hostile_hash() -> impl Strategy<Value = String> {
        let number = prop_oneof![
            (0u32..64).prop_map(|k| (1u128 << k).to_string()),
            any::<u64>().prop_map(|v| v.to_string()),
            (0u32..40).prop_map(|v| v.to_string()),
            Just("18446744073709551616".to_string()),
            Just("-1".to_string()),
            Just("+8".to_string()),
            Just(" 8".to_string()),
            Just(String::new()),
        ];
        let hex = proptest::collection::vec(any::<u8>(), 0..200).prop_map(hex::encode);
        prop_oneof![
            (
                number.clone(),
                number.clone(),
                number.clone(),
                "[A-Za-z0-9$]{0,20}",
                hex.clone()
            )
                .prop_map(|(n, r, p, salt, h)| format!("scrypt:{n}:{r}:{p}${salt}${h}")),
            (number, "[A-Za-z0-9]{0,20}", hex)
                .prop_map(|(i, salt, h)| format!("pbkdf2:sha256:{i}${salt}${h}")),
        ]
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// No stored text, however crafted, gets past `parse` with unbounded parameters.
        #[test]
        fn fuzz_parsed_parameters_stay_bounded(stored in prop_oneof![hostile_hash(), hostile_text(300)]) {
            if let Some(parsed) = parse(&stored) {
                prop_assert!(bounded(parsed.kdf), "{:?}", parsed.kdf);
                prop_assert!(!parsed.expected.is_empty() && parsed.expected.len() <= 128);
            }
        }

        /// Text that is not a hash is refused (and never panics).
        #[test]
        fn fuzz_garbage_is_refused(plain in hostile_text(40), stored in hostile_text(200)) {
            prop_assume!(parse(&stored).is_none());
            prop_assert!(!verify(&plain, &stored));
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        /// encode → verify: a hash made as werkzeug makes it accepts its password and no other.
        #[test]
        fn fuzz_werkzeug_hashes_round_trip(
            password in hostile_text(40),
            other in hostile_text(40),
            salt in "[A-Za-z0-9]{0,24}",
            scrypt in any::<bool>(),
            log_n in 1u8..=5, r in 1u32..=4, p in 1u32..=2, iterations in 1u32..=500,
            len in 16usize..=64,
        ) {
            prop_assume!(password != other);
            let mut digest = vec![0u8; len];
            let stored = if scrypt {
                let params = scrypt::Params::new(log_n, r, p)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut digest)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                format!("scrypt:{}:{r}:{p}${salt}${}", 1u64 << log_n, hex::encode(&digest))
            } else {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                    password.as_bytes(), salt.as_bytes(), iterations, &mut digest,
                );
                format!("pbkdf2:sha256:{iterations}${salt}${}", hex::encode(&digest))
            };
            prop_assert!(verify(&password, &stored), "{stored}");
            prop_assert!(!verify(&other, &stored), "{stored}");
        }
    }
}
