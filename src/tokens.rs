//! Random tokens from the OS CSPRNG, their stored digests, and the server key that MACs codes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Fill `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        // Without an entropy source no token can be safe; stopping is the only right answer.
        #[allow(clippy::panic)]
        {
            panic!("the operating system's random source failed: {e}");
        }
    }
}

/// `prefix` + 32 random bytes in base64url (43 characters).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The form in which tokens are stored: hex SHA-256.
pub fn sha256_hex(value: &str) -> String {
    // Into a buffer of the exact size, which cannot fail: `hex::encode` builds its string one
    // `char` at a time, and every authenticated request hashes its token.
    let mut out = [0u8; 64];
    let _ = hex::encode_to_slice(Sha256::digest(value.as_bytes()), &mut out);
    std::str::from_utf8(&out)
        .map(str::to_owned)
        .unwrap_or_default()
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The server's secret; `Debug` never shows it.
#[derive(Clone)]
pub struct ServerKey(std::sync::Arc<Vec<u8>>);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(********)")
    }
}

type HmacSha256 = hmac::Hmac<Sha256>;

impl ServerKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(std::sync::Arc::new(secret.to_vec()))
    }

    /// HMAC-SHA256 of `value` under a key derived for `purpose`, hex-encoded (short codes are
    /// stored this way: a leaked table cannot be brute-forced without the server key).
    pub fn mac_hex(&self, purpose: &str, value: &str) -> String {
        hex::encode(self.mac_bytes(purpose, value))
    }

    /// The raw 32 bytes behind [`Self::mac_hex`] (a derived key, when `value` is a label).
    pub fn mac_bytes(&self, purpose: &str, value: &str) -> [u8; 32] {
        let mut subkey = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable_hmac());
        subkey.update(purpose.as_bytes());
        let derived = subkey.finalize().into_bytes();
        let mut mac = HmacSha256::new_from_slice(&derived).unwrap_or_else(|_| unreachable_hmac());
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The tag an email address is known by in counters, locks and audit details: an HMAC of
    /// the normalised address, so neither the store nor the audit trail holds addresses, and a
    /// guess cannot be checked against them without the server key.
    pub fn address_tag(&self, email_normalized: &str) -> String {
        self.mac_hex("address", email_normalized)
    }
}

/// The network an address is counted by in per-IP limits: the address itself for IPv4, its /64
/// for IPv6 (one subscriber usually holds a whole /64, so counting single addresses would give
/// them 2^64 budgets).
pub fn ip_bucket(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn unreachable_hmac() -> HmacSha256 {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(&[0u8; 32]).expect("HMAC takes any key length")
}

/// Load the secret key from config, a file, or generate one (0600) under the data directory.
pub fn load_server_key(config: &crate::config::Config) -> anyhow::Result<ServerKey> {
    if let Some(secret) = &config.secret_key {
        return Ok(ServerKey::new(secret.expose().as_bytes()));
    }
    let path = config
        .secret_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("secret.key"));
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(ServerKey::new(text.trim().as_bytes())),
        Ok(_) => anyhow::bail!(
            "secret key file {} holds fewer than 32 characters",
            path.display()
        ),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound || config.secret_key_file.is_some() => {
            anyhow::bail!("cannot read secret key file {}: {e}", path.display())
        }
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            anyhow::anyhow!("cannot create data directory {}: {e}", parent.display())
        })?;
    }
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    let text = hex::encode(bytes);
    write_private(&path, &text)
        .map_err(|e| anyhow::anyhow!("cannot write secret key file {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new secret key");
    Ok(ServerKey::new(text.as_bytes()))
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// `n` decimal digits, uniformly distributed (rejection sampling, no modulo bias).
pub fn random_digits(n: usize) -> String {
    random_from_alphabet(b"0123456789", n)
}

/// `n` characters drawn uniformly from `alphabet` (at most 256 symbols).
pub fn random_from_alphabet(alphabet: &[u8], n: usize) -> String {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut byte = [0u8; 1];
        fill_random(&mut byte);
        if usize::from(byte[0]) < limit {
            out.push(char::from(alphabet[usize::from(byte[0]) % alphabet.len()]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_and_random() {
        let a = new_token("ghs_");
        assert!(a.starts_with("ghs_") && a.len() == 4 + 43);
        assert_ne!(a, new_token("ghs_"));
    }

    #[test]
    fn stored_digests_are_lowercase_hex_sha256() {
        // FIPS 180-2's test vectors.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn macs_depend_on_key_and_purpose() {
        let k = ServerKey::new(b"0123456789abcdef0123456789abcdef");
        assert_eq!(k.mac_hex("a", "x"), k.mac_hex("a", "x"));
        assert_ne!(k.mac_hex("a", "x"), k.mac_hex("b", "x"));
        assert_ne!(
            k.mac_hex("a", "x"),
            ServerKey::new(b"other").mac_hex("a", "x")
        );
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd"));
    }

    #[test]
    fn generated_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = crate::config::Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let k1 = load_server_key(&config).map(|k| k.mac_hex("p", "v")).ok();
        let k2 = load_server_key(&config).map(|k| k.mac_hex("p", "v")).ok();
        assert!(k1.is_some() && k1 == k2, "the generated key is reused");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret.key"))
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
