//! Short-lived state (captchas, codes, counters, locks): in process, or in Redis when instances
//! must agree. One small interface; callers never know which one they talk to.

mod memory;
mod redis_store;

use std::time::Duration;

pub use memory::MemoryKv;
pub use redis_store::RedisKv;

#[derive(Debug, thiserror::Error)]
#[error("short-lived state store unavailable: {0}")]
pub struct KvError(pub String);

#[derive(Clone)]
pub enum Kv {
    Memory(MemoryKv),
    Redis(RedisKv),
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Memory(_) => "Kv::Memory",
            Self::Redis(_) => "Kv::Redis",
        })
    }
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Kv::Memory(m) => m.$method($($arg),*).await,
            Kv::Redis(r) => r.$method($($arg),*).await,
        }
    };
}

impl Kv {
    pub fn memory() -> Self {
        Self::Memory(MemoryKv::default())
    }

    /// Connect to Redis; every key gets `prefix` so several deployments (or tests) can share a server.
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, KvError> {
        Ok(Self::Redis(RedisKv::connect(url, prefix).await?))
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        dispatch!(self.get(key))
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        dispatch!(self.set_ex(key, value, ttl))
    }

    /// Set only when absent; true when this call set it (a once-per-window guard).
    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        dispatch!(self.set_nx_ex(key, value, ttl))
    }

    /// Read and delete in one step: a value can be taken once, whichever instance asks first.
    pub async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        dispatch!(self.take(key))
    }

    /// Increment a counter; a new counter lives for `ttl` from its first increment.
    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError> {
        self.add(key, 1, ttl).await
    }

    /// Add `delta` (which may be negative) to a counter and return the new value. A new counter
    /// lives for `ttl`; a counter never goes below zero, and a missing one is not created by a
    /// negative delta (giving back a reservation whose counter was reset meanwhile is a no-op).
    pub async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64, KvError> {
        dispatch!(self.add(key, delta, ttl))
    }

    pub async fn del(&self, key: &str) -> Result<(), KvError> {
        dispatch!(self.del(key))
    }

    /// Time left before `key` expires; `None` when it does not exist.
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError> {
        dispatch!(self.ttl(key))
    }

    pub async fn ping(&self) -> Result<(), KvError> {
        dispatch!(self.ping())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exercise(kv: Kv) {
        let ttl = Duration::from_secs(30);
        assert_eq!(kv.get("a").await.ok().flatten(), None);
        kv.set_ex("a", "1", ttl).await.ok();
        assert_eq!(kv.get("a").await.ok().flatten().as_deref(), Some("1"));
        assert_eq!(kv.take("a").await.ok().flatten().as_deref(), Some("1"));
        assert_eq!(kv.take("a").await.ok().flatten(), None);
        assert_eq!(kv.incr("n", ttl).await.ok(), Some(1));
        assert_eq!(kv.incr("n", ttl).await.ok(), Some(2));
        assert!(
            kv.ttl("n")
                .await
                .ok()
                .flatten()
                .is_some_and(|d| d <= ttl && d.as_secs() >= 28)
        );
        assert_eq!(kv.add("n", 3, ttl).await.ok(), Some(5));
        assert_eq!(kv.add("n", -7, ttl).await.ok(), Some(0), "never below zero");
        assert_eq!(kv.add("gone", -1, ttl).await.ok(), Some(0));
        assert_eq!(
            kv.get("gone").await.ok().flatten(),
            None,
            "not created by a release"
        );
        assert!(kv.set_nx_ex("once", "x", ttl).await.unwrap_or(false));
        assert!(!kv.set_nx_ex("once", "x", ttl).await.unwrap_or(true));
        kv.del("n").await.ok();
        assert_eq!(kv.ttl("n").await.ok().flatten(), None);
        kv.set_ex("short", "v", Duration::from_millis(1100))
            .await
            .ok();
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert_eq!(
            kv.get("short").await.ok().flatten(),
            None,
            "expired values are gone"
        );
    }

    #[tokio::test]
    async fn memory_store_behaves() {
        exercise(Kv::memory()).await;
    }

    #[tokio::test]
    async fn redis_store_behaves() {
        let url = std::env::var("GATEHOUSE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("gh-test-{}:", uuid::Uuid::new_v4());
        let kv = Kv::redis(&url, &prefix).await.unwrap_or_else(|e| {
            panic!("{e}: start Redis (scripts/test does) or set GATEHOUSE_TEST_REDIS_URL")
        });
        exercise(kv).await;
    }
}
