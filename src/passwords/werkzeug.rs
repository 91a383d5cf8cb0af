//! Verify-only support for werkzeug hashes imported from other systems:
//! `scrypt:N:r:p$salt$hex` and `pbkdf2:sha256:iterations$salt$hex` (salt used as its ASCII bytes).

use subtle::ConstantTimeEq;

/// Upper bounds that keep a hostile stored hash from pinning a core or exhausting memory.
const MAX_SCRYPT_LOG_N: u8 = 20;
const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;

pub fn verify(plain: &str, stored: &str) -> bool {
    let mut parts = stored.splitn(3, '$');
    let (Some(method), Some(salt), Some(expected_hex)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(expected) = hex::decode(expected_hex) else {
        return false;
    };
    if expected.is_empty() || expected.len() > 128 {
        return false;
    }
    let mut derived = vec![0u8; expected.len()];
    let ok = match method.split(':').collect::<Vec<_>>().as_slice() {
        ["scrypt", n, r, p] => scrypt_into(plain, salt, n, r, p, &mut derived),
        ["pbkdf2", "sha256", iterations] => pbkdf2_into(plain, salt, iterations, &mut derived),
        ["pbkdf2", "sha256"] => pbkdf2_into(plain, salt, "260000", &mut derived),
        _ => false,
    };
    ok && bool::from(derived.ct_eq(&expected))
}

fn scrypt_into(plain: &str, salt: &str, n: &str, r: &str, p: &str, out: &mut [u8]) -> bool {
    let (Ok(n), Ok(r), Ok(p)) = (n.parse::<u64>(), r.parse::<u32>(), p.parse::<u32>()) else {
        return false;
    };
    if !n.is_power_of_two() || n < 2 {
        return false;
    }
    let log_n = u8::try_from(n.trailing_zeros()).unwrap_or(u8::MAX);
    if log_n > MAX_SCRYPT_LOG_N || r == 0 || r > 32 || p == 0 || p > 16 {
        return false;
    }
    let Ok(params) = scrypt::Params::new(log_n, r, p) else {
        return false;
    };
    scrypt::scrypt(plain.as_bytes(), salt.as_bytes(), &params, out).is_ok()
}

fn pbkdf2_into(plain: &str, salt: &str, iterations: &str, out: &mut [u8]) -> bool {
    let Ok(iterations) = iterations.parse::<u32>() else {
        return false;
    };
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return false;
    }
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(plain.as_bytes(), salt.as_bytes(), iterations, out);
    true
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
    }
}
