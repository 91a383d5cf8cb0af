//! In-process short-lived state for a single instance (the embedded default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::KvError;

/// Entries beyond this count trigger a sweep of expired ones, so memory stays bounded by
/// what is alive, not by what was ever written.
const SWEEP_AT: usize = 10_000;

#[derive(Clone, Default)]
pub struct MemoryKv {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, (String, Instant)>,
    next_sweep: usize,
}

impl Inner {
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut (String, Instant)> {
        if self.map.get(key).is_some_and(|(_, exp)| *exp <= now) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    fn insert(&mut self, key: &str, value: String, expires: Instant, now: Instant) {
        if self.map.len() >= self.next_sweep.max(SWEEP_AT) {
            self.map.retain(|_, (_, exp)| *exp > now);
            self.next_sweep = self.map.len() * 2;
        }
        self.map.insert(key.to_string(), (value, expires));
    }
}

impl MemoryKv {
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, KvError> {
        self.inner
            .lock()
            .map_err(|_| KvError("in-process store poisoned".into()))
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        Ok(self
            .lock()?
            .live(key, Instant::now())
            .map(|(v, _)| v.clone()))
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        let now = Instant::now();
        self.lock()?.insert(key, value.to_string(), now + ttl, now);
        Ok(())
    }

    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        if inner.live(key, now).is_some() {
            return Ok(false);
        }
        inner.insert(key, value.to_string(), now + ttl, now);
        Ok(true)
    }

    pub async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.live(key, now);
        Ok(inner.map.remove(key).map(|(v, _)| v))
    }

    pub async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64, KvError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        if let Some((value, _)) = inner.live(key, now) {
            let n = value
                .parse::<i64>()
                .unwrap_or(0)
                .saturating_add(delta)
                .max(0);
            *value = n.to_string();
            return Ok(n);
        }
        if delta <= 0 {
            return Ok(0);
        }
        inner.insert(key, delta.to_string(), now + ttl, now);
        Ok(delta)
    }

    pub async fn del(&self, key: &str) -> Result<(), KvError> {
        self.lock()?.map.remove(key);
        Ok(())
    }

    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError> {
        let now = Instant::now();
        Ok(self
            .lock()?
            .live(key, now)
            .map(|(_, exp)| exp.saturating_duration_since(now)))
    }

    pub async fn ping(&self) -> Result<(), KvError> {
        self.lock().map(|_| ())
    }
}
