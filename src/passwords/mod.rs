//! Password hashing (Argon2id on a fixed set of hasher threads), verification of imported
//! werkzeug hashes, and the password policy (length, common passwords).

mod policy;
mod werkzeug;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

pub use policy::{PasswordPolicy, check_new_password, is_common};

use crate::domain::Password;
use crate::error::ApiError;

/// How long a request may wait for a hasher thread before it is told the server is busy.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests allowed to wait per core; beyond that the answer is 503 at once, so a login flood
/// costs a counter, not memory.
const WAITERS_PER_CORE: usize = 64;
/// A stored hash asking for more memory than this many times today's is checked in a block of
/// its own, freed afterwards, so one odd imported hash cannot grow a hasher's kept block.
const MAX_KEPT_BLOCK_FACTOR: usize = 4;
/// A hasher thread gives its Argon2 memory back after this long without a job: a burst of
/// sign-ins keeps it, an idle server does not hold cores × 19 MiB for the next one.
const KEEP_MEMORY_FOR: Duration = Duration::from_secs(5);
/// How often an idle hasher thread looks at the clock.
const IDLE_POLL: Duration = Duration::from_millis(500);
const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash is not Argon2id with today's parameters: store a new one.
    pub needs_rehash: bool,
}

/// Work for a hasher thread, given that thread's Argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Runs Argon2id at most once per core at a time, on one thread per core.
///
/// Requests queue their jobs and the threads take them straight from the queue: a thread that
/// finishes a hash starts the next one at once. (Gating the queue with an async semaphore made
/// every next hash wait until a busy runtime worker woke its request: in alternating login
/// floods, 0.85 of the machine's hashing rate on average that way, 0.91 without.)
///
/// Each hasher thread allocates its Argon2 memory (19 MiB) on its first job, reuses it for
/// every later one, and frees it after [`KEEP_MEMORY_FOR`] without a job. Hashing on whatever
/// blocking thread was free made each of them allocate its own block, which the allocator then
/// kept per thread: a login flood left hundreds of megabytes behind. Now the memory is bounded by cores × 19 MiB while sign-ins come in, and
/// none is held when they stop. The threads end when the last clone of the `Hasher` is dropped.
#[derive(Clone)]
pub struct Hasher {
    /// Jobs queued and not yet taken by a hasher thread.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// A job taken after waiting longer than this is answered busy, unhashed.
    queue_timeout: Duration,
    jobs: flume::Sender<Job>,
    dummy_hash: Arc<String>,
    /// Bytes of Argon2 memory the hasher threads hold right now.
    memory_held: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish()
    }
}

/// Argon2id, m=19456 KiB, t=2, p=1 (OWASP's recommended minimum): the crate's defaults.
fn current_params() -> Params {
    Params::default()
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, current_params())
}

impl Hasher {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        // A channel every thread receives from on its own (flume's receivers are shared), so
        // each of them notices for itself when it has been idle. Behind one mutex, the thread
        // holding it took it back at once after each timeout, and the other, starved of the
        // lock, kept its 19 MiB after a login flood.
        let (jobs, queue) = flume::unbounded::<Job>();
        let memory_held = Arc::new(AtomicUsize::new(0));
        for i in 0..cores {
            let queue = queue.clone();
            let held = memory_held.clone();
            std::thread::Builder::new()
                .name(format!("gatehouse-hasher-{i}"))
                .spawn(move || hasher_thread(&queue, &held))
                .map_err(|e| anyhow::anyhow!("cannot start a password hasher thread: {e}"))?;
        }
        Ok(Self {
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: cores * WAITERS_PER_CORE,
            queue_timeout: QUEUE_TIMEOUT,
            jobs,
            dummy_hash: Arc::new(dummy_hash()?),
            memory_held,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::Busy);
        }
        let queued = Instant::now();
        let (done, result) = tokio::sync::oneshot::channel();
        let held = self.memory_held.clone();
        let waiting = self.waiting.clone();
        let queue_timeout = self.queue_timeout;
        let job: Job = Box::new(move |memory| {
            waiting.fetch_sub(1, Ordering::SeqCst);
            let waited = queued.elapsed();
            metrics::histogram!("gatehouse_hash_pool_wait_seconds").record(waited.as_secs_f64());
            // A request that gave up (its client went away) or waited too long gets no hash.
            if done.is_closed() || waited > queue_timeout {
                let _ = done.send(Err(ApiError::Busy));
                return;
            }
            let before = memory.capacity();
            let out = work(memory);
            let grown = memory.capacity().saturating_sub(before);
            held.fetch_add(grown * size_of::<Block>(), Ordering::Relaxed);
            let _ = done.send(Ok(out));
        });
        let stopped = || ApiError::Internal(anyhow::anyhow!("the password hasher threads stopped"));
        if self.jobs.send(job).is_err() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(stopped());
        }
        result.await.map_err(|_| stopped())?
    }

    /// Bytes of Argon2 memory held by the hasher threads (0 when no sign-in came for a while).
    pub fn memory_held(&self) -> usize {
        self.memory_held.load(Ordering::Relaxed)
    }

    /// A new Argon2id PHC string for `password`.
    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let plain = password.expose().to_owned();
        self.run(move |memory| hash_blocking(&plain, memory))
            .await?
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2 hashing failed: {e}")))
    }

    /// Check `password` against a stored hash (Argon2id, or an imported werkzeug hash).
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified, ApiError> {
        let plain = password.to_owned();
        let stored = stored.to_owned();
        self.run(move |memory| verify_blocking(&plain, &stored, memory))
            .await
    }

    /// Spend the time of one verification on a hash that matches nothing, so that an unknown
    /// email answers as slowly as a wrong password.
    pub async fn dummy_verify(&self, password: &str) -> Result<(), ApiError> {
        let dummy = self.dummy_hash.clone();
        self.verify(password, &dummy).await.map(|_| ())
    }
}

/// An Argon2id hash with the smallest parameters the algorithm allows (8 KiB, one pass): fast
/// enough to give a million seeded benchmark users one shared hash in microseconds, and never
/// used for a real account (it is rehashed with today's parameters at the first sign-in).
pub fn insecure_fast_hash(password: &Password) -> Result<String, ApiError> {
    let params = Params::new(Params::MIN_M_COST, Params::MIN_T_COST, 1, None)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
    let mut salt = [0u8; SALT_LEN];
    crate::tokens::fill_random(&mut salt);
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into(password.expose().as_bytes(), &salt, &mut out)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2 hashing failed: {e}")))?;
    phc_string(&params, &salt, &out).map_err(ApiError::Internal)
}

fn hasher_thread(queue: &flume::Receiver<Job>, held: &AtomicUsize) {
    let mut memory = Vec::new();
    let mut last_job = Instant::now();
    loop {
        match queue.recv_timeout(IDLE_POLL) {
            Ok(job) => {
                job(&mut memory);
                last_job = Instant::now();
            }
            Err(flume::RecvTimeoutError::Timeout) => {
                if !memory.is_empty() && last_job.elapsed() >= KEEP_MEMORY_FOR {
                    held.fetch_sub(memory.capacity() * size_of::<Block>(), Ordering::Relaxed);
                    memory = Vec::new();
                }
            }
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// `memory` resized to what `params` needs, when that is not far beyond today's parameters.
fn blocks_for<'a>(params: &Params, memory: &'a mut Vec<Block>) -> Option<&'a mut [Block]> {
    let needed = params.block_count();
    if needed > current_params().block_count() * MAX_KEPT_BLOCK_FACTOR {
        return None;
    }
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    memory.get_mut(..needed)
}

/// Hash into `out` with `argon`'s parameters, in the thread's kept memory when it fits.
fn argon2_into(
    argon: &Argon2<'_>,
    params: &Params,
    plain: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> argon2::Result<()> {
    match blocks_for(params, memory) {
        Some(blocks) => argon.hash_password_into_with_memory(plain, salt, out, blocks),
        None => argon.hash_password_into(plain, salt, out),
    }
}

fn hash_blocking(plain: &str, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    crate::tokens::fill_random(&mut salt);
    let mut out = [0u8; OUTPUT_LEN];
    let params = current_params();
    argon2_into(
        &argon2(),
        &params,
        plain.as_bytes(),
        &salt,
        &mut out,
        memory,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    phc_string(&params, &salt, &out)
}

/// The PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, as the argon2 crate writes it.
fn phc_string(params: &Params, salt: &[u8], out: &[u8]) -> anyhow::Result<String> {
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(Salt::new(salt).map_err(|e| anyhow::anyhow!("{e}"))?),
        hash: Some(Output::new(out).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(phc.to_string())
}

/// A well-formed hash with today's parameters that no password matches: random bytes stand in
/// for the output, so checking against it costs exactly one real hash and no memory at start.
fn dummy_hash() -> anyhow::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    let mut out = [0u8; OUTPUT_LEN];
    crate::tokens::fill_random(&mut salt);
    crate::tokens::fill_random(&mut out);
    phc_string(&current_params(), &salt, &out)
}

/// Whether `plain` matches the Argon2 PHC string `parsed`, computed in the kept memory.
fn argon2_matches(plain: &str, parsed: &PasswordHash, memory: &mut Vec<Block>) -> bool {
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    if argon2_into(&argon, &params, plain.as_bytes(), salt, out, memory).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(out).is_ok_and(|computed| &computed == expected)
}

fn verify_blocking(plain: &str, stored: &str, memory: &mut Vec<Block>) -> Verified {
    if stored.starts_with("$argon2") {
        let ok =
            PasswordHash::new(stored).is_ok_and(|parsed| argon2_matches(plain, &parsed, memory));
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
    async fn hasher_threads_give_their_memory_back_when_idle() {
        let hasher = Hasher::new().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hasher.memory_held(), 0, "nothing before the first hash");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let block = current_params().block_count() * size_of::<Block>();
        // Hash in parallel until every thread holds a block: each must then free its own,
        // not only the one that happens to wait for the next job first.
        let password = Password::new("correct horse battery".into());
        for _ in 0..20 {
            let hashes = (0..cores * 2).map(|_| hasher.hash(&password));
            let _ = futures_util::future::join_all(hashes).await;
            if hasher.memory_held() >= cores * block {
                break;
            }
        }
        let held = hasher.memory_held();
        assert!(
            held >= cores * block,
            "each of {cores} threads keeps its block after hashing: {held}"
        );
        let deadline = Instant::now() + KEEP_MEMORY_FOR * 4;
        while hasher.memory_held() > 0 && Instant::now() < deadline {
            tokio::time::sleep(IDLE_POLL).await;
        }
        assert_eq!(hasher.memory_held(), 0, "the block is freed once idle");
    }

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
    async fn hashes_of_the_argon2_crate_and_other_parameters_verify_in_kept_memory() {
        use argon2::password_hash::PasswordHasher as _;
        let hasher = Hasher::new().unwrap_or_else(|e| panic!("{e}"));
        // Written by the crate's own hasher: the PHC strings we write must be the same format.
        let by_crate = argon2()
            .hash_password(b"correct horse battery")
            .map(|h| h.to_string())
            .unwrap_or_default();
        let got = hasher.verify("correct horse battery", &by_crate).await.ok();
        assert_eq!(got.map(|v| (v.ok, v.needs_rehash)), Some((true, false)));
        // Older, smaller parameters verify too and ask for a rehash.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 3, 1, None).unwrap_or_default(),
        )
        .hash_password(b"correct horse battery")
        .map(|h| h.to_string())
        .unwrap_or_default();
        let got = hasher.verify("correct horse battery", &small).await.ok();
        assert_eq!(got.map(|v| (v.ok, v.needs_rehash)), Some((true, true)));
        let got = hasher.verify("correct horse batterY", &small).await.ok();
        assert_eq!(got.map(|v| v.ok), Some(false));
        // The dummy hash is well formed and matches nothing.
        assert!(
            hasher
                .dummy_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        let got = hasher.verify("", &hasher.dummy_hash).await.ok();
        assert_eq!(got.map(|v| v.ok), Some(false));
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

    #[tokio::test]
    async fn a_job_that_waited_past_the_timeout_is_busy_and_not_hashed() {
        let hasher = Hasher {
            queue_timeout: Duration::ZERO,
            ..Hasher::new().unwrap_or_else(|e| panic!("{e}"))
        };
        let got = hasher
            .hash(&Password::new("correct horse battery".into()))
            .await;
        assert!(matches!(got, Err(ApiError::Busy)), "{got:?}");
        assert_eq!(hasher.memory_held(), 0, "no Argon2 memory was taken");
        assert_eq!(
            hasher.waiting.load(Ordering::SeqCst),
            0,
            "the queue is empty"
        );
    }
}
