//! Lookups by key that many requests make at once on PostgreSQL, coalesced into one statement.
//!
//! Every authenticated request looks up its session. One statement per request costs a round
//! trip, a parse of the reply through sqlx's `Any` layer and the server's per-statement work, and
//! capped the session check at a quarter of SQLite's rate. Here the requests waiting at the
//! same moment are answered by one `... WHERE key = ANY($1)` on a typed connection: the cost of
//! a statement is shared by the whole batch.
//!
//! Nothing is cached: a lookup joins only a batch whose statement has not started yet, so it
//! reads what was committed before it was asked (PostgreSQL takes a statement's snapshot when it
//! starts). A revocation by any process holds for the next request, as on SQLite.
//! See docs/decisions/0012-postgresql-session-reads-coalesced.md.

use std::any::Any;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Row};
use tokio::sync::{mpsc, oneshot};

/// Keys of one statement at most.
const MAX_BATCH: usize = 128;

pub struct PgReads {
    pool: PgPool,
    /// One queue per statement, created at its first use; each holds an
    /// `mpsc::UnboundedSender<Waiter<V>>` for the statement's value type `V`.
    queues: Mutex<HashMap<&'static str, Box<dyn Any + Send + Sync>>>,
}

/// How a row becomes the value a waiter gets.
pub type Decode<V> = fn(&PgRow) -> Result<V, sqlx::Error>;

struct Waiter<V> {
    key: String,
    reply: oneshot::Sender<Result<Option<V>, sqlx::Error>>,
}

impl PgReads {
    /// Reads through a few connections of their own to the database at `url`, opened when
    /// first needed.
    pub fn for_url(url: &str) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        // No ping before each statement (sqlx's default): it was a second round trip per
        // batch, 7 % of the whole request in a profile. A connection whose statement fails is
        // closed instead, and the next batch opens a new one.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            queues: Mutex::new(HashMap::new()),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The row of `sql` whose first column equals `key`, decoded; `None` when there is none.
    /// `sql` takes the keys as a `text[]` in `$1` (`WHERE key = ANY($1)`) and returns the key
    /// as its first column.
    pub async fn one_of_many<V: Clone + Send + 'static>(
        &self,
        sql: &'static str,
        decode: Decode<V>,
        key: String,
    ) -> Result<Option<V>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.queue(sql, decode)
            .send(Waiter { key, reply })
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }

    fn queue<V: Clone + Send + 'static>(
        &self,
        sql: &'static str,
        decode: Decode<V>,
    ) -> mpsc::UnboundedSender<Waiter<V>> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = queues
            .get(sql)
            .and_then(|q| q.downcast_ref::<mpsc::UnboundedSender<Waiter<V>>>())
        {
            return queue.clone();
        }
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(answer_batches(self.pool.clone(), sql, decode, waiting));
        queues.insert(sql, Box::new(queue.clone()));
        queue
    }
}

/// Take the waiters queued so far (one at least), answer them with one statement, repeat; ends
/// when the queue is dropped with its [`PgReads`].
///
/// One statement at a time: while it runs, the requests arriving meanwhile gather for the next.
/// Measured with 32 clients checking sessions, one at a time answered about 13 requests per
/// statement and 18–19k requests/s; two or four in flight split the same requests into smaller
/// batches and answered 13–17k/s, every statement waking a server process on a small machine.
async fn answer_batches<V: Clone + Send + 'static>(
    pool: PgPool,
    sql: &'static str,
    decode: Decode<V>,
    mut waiting: mpsc::UnboundedReceiver<Waiter<V>>,
) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        answer(&pool, sql, decode, batch).await;
    }
}

async fn answer<V: Clone>(
    pool: &PgPool,
    sql: &'static str,
    decode: Decode<V>,
    batch: Vec<Waiter<V>>,
) {
    let mut keys: Vec<&str> = batch.iter().map(|w| w.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let found = fetch(pool, sql, &keys).await.and_then(|rows| {
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>(0)?, decode(row)?)))
            .collect::<Result<HashMap<String, V>, sqlx::Error>>()
    });
    match found {
        Ok(found) => {
            for waiter in batch {
                let _ = waiter.reply.send(Ok(found.get(&waiter.key).cloned()));
            }
        }
        Err(e) => {
            for waiter in batch {
                let _ = waiter.reply.send(Err(for_each_waiter(&e)));
            }
        }
    }
}

async fn fetch(pool: &PgPool, sql: &'static str, keys: &[&str]) -> Result<Vec<PgRow>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query(sql).bind(keys).fetch_all(&mut *conn).await;
    if rows.is_err() {
        conn.close_on_drop();
    }
    rows
}

/// The batch's error as each of its waiters gets it (`sqlx::Error` cannot be cloned): an
/// outage stays an outage (answered 503), anything else stays an internal error.
fn for_each_waiter(e: &sqlx::Error) -> sqlx::Error {
    if crate::error::database_unavailable(e) {
        sqlx::Error::Io(std::io::Error::other(e.to_string()))
    } else {
        sqlx::Error::Protocol(e.to_string())
    }
}
