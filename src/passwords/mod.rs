//! Password hashing (Argon2id on a bounded pool), verification of imported werkzeug hashes, and
//! the password policy (length, common passwords).

mod policy;
mod werkzeug;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

pub use policy::{Password, PasswordPolicy, check_new_password, is_common};

use crate::http::error::ApiError;

/// How long a request may wait for a hashing slot before it is told the server is busy.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests allowed to wait per core; beyond that the answer is 503 at once, so a login flood
/// costs a counter, not memory.
const WAITERS_PER_CORE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash is not Argon2id with today's parameters: store a new one.
    pub needs_rehash: bool,
}

/// Runs Argon2id at most once per core at a time, off the async threads.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    dummy_hash: Arc<String>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("slots", &self.slots.available_permits())
            .finish()
    }
}

fn argon2() -> argon2::Argon2<'static> {
    // Argon2id, m=19456 KiB, t=2, p=1 (OWASP's recommended minimum) are the crate's defaults.
    argon2::Argon2::default()
}

impl Hasher {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mut random = [0u8; 24];
        crate::tokens::fill_random(&mut random);
        let dummy = argon2()
            .hash_password(hex::encode(random).as_bytes())
            .map_err(|e| anyhow::anyhow!("argon2 self-test failed: {e}"))?
            .to_string();
        Ok(Self {
            slots: Arc::new(Semaphore::new(cores)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: cores * WAITERS_PER_CORE,
            dummy_hash: Arc::new(dummy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::Busy);
        }
        let started = Instant::now();
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        metrics::histogram!("gatehouse_hash_pool_wait_seconds")
            .record(started.elapsed().as_secs_f64());
        let permit = match permit {
            Ok(Ok(p)) => p,
            _ => return Err(ApiError::Busy),
        };
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing task failed: {e}")))
    }

    /// A new Argon2id PHC string for `password`.
    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let plain = password.expose().to_owned();
        self.run(move || {
            argon2()
                .hash_password(plain.as_bytes())
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2 hashing failed: {e}")))
    }

    /// Check `password` against a stored hash (Argon2id, or an imported werkzeug hash).
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified, ApiError> {
        let plain = password.to_owned();
        let stored = stored.to_owned();
        self.run(move || verify_blocking(&plain, &stored)).await
    }

    /// Spend the time of one verification on a hash that matches nothing, so that an unknown
    /// email answers as slowly as a wrong password.
    pub async fn dummy_verify(&self, password: &str) -> Result<(), ApiError> {
        let dummy = self.dummy_hash.clone();
        self.verify(password, &dummy).await.map(|_| ())
    }
}

fn verify_blocking(plain: &str, stored: &str) -> Verified {
    if stored.starts_with("$argon2") {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verified {
                ok: false,
                needs_rehash: false,
            };
        };
        let ok = argon2().verify_password(plain.as_bytes(), &parsed).is_ok();
        let current = stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$");
        return Verified {
            ok,
            needs_rehash: ok && !current,
        };
    }
    // RAGFlow stores werkzeug hashes of base64(password), gatehouse checks the password itself:
    // an imported hash verifies with either form, and is then rehashed from the plain one.
    // RAGFlow's form first: it is the one imported hashes match, and each try costs a full hash.
    let ok = {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        werkzeug::verify(&encoded, stored)
    } || werkzeug::verify(plain, stored);
    Verified {
        ok,
        needs_rehash: ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2_round_trip_and_parameters() {
        let hasher = Hasher::new().unwrap_or_else(|e| panic!("{e}"));
        let pw = Password::new("correct horse battery".into());
        let hash = hasher.hash(&pw).await.unwrap_or_default();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let good = hasher.verify("correct horse battery", &hash).await.ok();
        assert_eq!(
            good,
            Some(Verified {
                ok: true,
                needs_rehash: false
            })
        );
        let bad = hasher.verify("wrong", &hash).await.ok();
        assert_eq!(
            bad,
            Some(Verified {
                ok: false,
                needs_rehash: false
            })
        );
    }

    #[tokio::test]
    async fn werkzeug_hashes_verify_and_ask_for_rehash() {
        let hasher = Hasher::new().unwrap_or_else(|e| panic!("{e}"));
        let got = hasher
            .verify("MTIz", werkzeug::tests::SCRYPT_VECTOR)
            .await
            .ok();
        assert_eq!(
            got,
            Some(Verified {
                ok: true,
                needs_rehash: true
            })
        );
        // RAGFlow's form: the hash is of base64("123"), so "123" itself verifies too.
        let got = hasher
            .verify("123", werkzeug::tests::SCRYPT_VECTOR)
            .await
            .ok();
        assert_eq!(
            got,
            Some(Verified {
                ok: true,
                needs_rehash: true
            })
        );
        let got = hasher
            .verify("124", werkzeug::tests::SCRYPT_VECTOR)
            .await
            .ok();
        assert_eq!(
            got,
            Some(Verified {
                ok: false,
                needs_rehash: false
            })
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let hasher = Hasher {
            max_waiting: 0,
            ..Hasher::new().unwrap_or_else(|e| panic!("{e}"))
        };
        let got = hasher.verify("x", "$argon2id$bad").await;
        assert!(matches!(got, Err(ApiError::Busy)));
    }
}
