//! Short-lived state in Redis, shared by every instance of a scaled deployment.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::KvError;

#[derive(Clone)]
pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
}

fn err(e: redis::RedisError) -> KvError {
    // The error text never holds values, only the command and the server's reason.
    KvError(e.to_string())
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisKv {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, KvError> {
        let shown = crate::config::shown_url(url);
        let client = redis::Client::open(url)
            .map_err(|e| KvError(format!("invalid redis_url {shown}: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| KvError(format!("cannot connect to Redis at {shown}: timed out")))?
        .map_err(|e| KvError(format!("cannot connect to Redis at {shown}: {e}")))?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        self.conn.clone().get(self.key(key)).await.map_err(err)
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        self.conn
            .clone()
            .pset_ex(self.key(key), value, millis(ttl))
            .await
            .map_err(err)
    }

    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(reply.is_some())
    }

    pub async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        self.conn.clone().get_del(self.key(key)).await.map_err(err)
    }

    pub async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64, KvError> {
        // The change, the floor at zero and the first expiry in one atomic step, so a crash
        // between them cannot leave a counter that never expires.
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"
                local delta = tonumber(ARGV[1])
                local exists = redis.call('EXISTS', KEYS[1]) == 1
                if not exists and delta <= 0 then return 0 end
                local n = redis.call('INCRBY', KEYS[1], delta)
                if n < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') n = 0 end
                if not exists then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
                return n
                ",
            )
        });
        SCRIPT
            .key(self.key(key))
            .arg(delta)
            .arg(millis(ttl))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)
    }

    pub async fn del(&self, key: &str) -> Result<(), KvError> {
        self.conn.clone().del(self.key(key)).await.map_err(err)
    }

    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError> {
        let ms: i64 = self.conn.clone().pttl(self.key(key)).await.map_err(err)?;
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    pub async fn ping(&self) -> Result<(), KvError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .map(|_| ())
            .map_err(err)
    }
}
