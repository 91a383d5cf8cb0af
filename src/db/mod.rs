//! The database pool (SQLite or PostgreSQL behind sqlx's `Any` driver), transactions and migrations.
//!
//! Every statement is written once with `$N` placeholders, which both backends accept; the few
//! statements that differ are chosen with [`Db::backend`]. See docs/decisions/0001-one-sql-for-two-backends.md.

mod pg_reads;
mod sqlite_reads;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Transaction};

pub use pg_reads::PgReads;
pub use sqlite_reads::SqliteReads;

pub type Tx = Transaction<'static, Any>;
pub type Conn = sqlx::AnyConnection;

/// What every store function takes: `&Db` (a pooled connection for the call), `&mut tx` (the
/// caller's transaction) or `&mut *conn` (the caller's connection). See
/// docs/decisions/0011-one-store-convention.md.
pub trait Exec<'c>: sqlx::Acquire<'c, Database = Any> + Send {}

impl<'c, T: sqlx::Acquire<'c, Database = Any> + Send> Exec<'c> for T {}

/// What a store function returns: a boxed future, so the caller's future holds no generic
/// `Exec` type (with one, rustc cannot prove a handler's future `Send`: "implementation of
/// `Acquire` is not general enough" for `&mut Transaction`).
pub type StoreFuture<'c, T> = BoxFuture<'c, Result<T, sqlx::Error>>;

// For any `'a`, not only the borrow's own lifetime (as sqlx does for `&Pool`): a bound tied to
// the borrow makes every handler future that calls a store function fail the `Send` check
// ("implementation of `Acquire` is not general enough").
impl<'a> sqlx::Acquire<'a> for &'_ Db {
    type Database = Any;
    type Connection = sqlx::pool::PoolConnection<Any>;

    fn acquire(self) -> BoxFuture<'a, Result<Self::Connection, sqlx::Error>> {
        Box::pin(self.pool.acquire())
    }

    /// A write transaction as [`Db::begin`] opens it (`BEGIN IMMEDIATE` on SQLite).
    fn begin(self) -> BoxFuture<'a, Result<Transaction<'a, Any>, sqlx::Error>> {
        let db = self.clone();
        Box::pin(async move { db.begin().await })
    }
}

/// Every SQLite connection: WAL (readers never wait for the writer), fsync at checkpoints only,
/// foreign keys enforced, and a writer queues up to 10 s for the lock instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    sqlite_reads: Option<Arc<SqliteReads>>,
    pg_reads: Option<Arc<PgReads>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Connect; `url` is named in errors only with its password masked.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let shown = crate::config::shown_url(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite {
            ensure_sqlite_parent_dir(url)?;
        }
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("invalid database_url {shown}: {e}"))?
            .disable_statement_logging();
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let pool = match backend {
            // One writer at a time is SQLite's model; a small pool keeps readers concurrent.
            // A connection to a local file does not go stale, so the pool skips the ping it
            // would otherwise send before every checkout (a round trip to the connection's
            // thread, as costly as the query itself).
            Backend::Sqlite => pool_options
                .max_connections(8)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        conn.execute(SQLITE_PRAGMAS).await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => pool_options.max_connections(20),
        }
        .connect_with(options)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to the database at {shown}: {}",
                one_line(&e)
            )
        })?;
        let (sqlite_reads, pg_reads) = match backend {
            Backend::Sqlite => {
                let reads = SqliteReads::for_url(url).map(Arc::new);
                if let Some(reads) = &reads {
                    tokio::spawn(SqliteReads::renew_held_transaction(Arc::downgrade(reads)));
                }
                (reads, None)
            }
            Backend::Postgres => {
                let reads = PgReads::for_url(url).map_err(|e| {
                    anyhow::anyhow!("invalid database_url {shown}: {}", one_line(&e))
                })?;
                (None, Some(Arc::new(reads)))
            }
        };
        Ok(Self {
            pool,
            backend,
            sqlite_reads,
            pg_reads,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Same-thread reads of a SQLite file, for the per-request session lookup only.
    pub fn sqlite_reads(&self) -> Option<&SqliteReads> {
        self.sqlite_reads.as_deref()
    }

    /// Coalesced reads of PostgreSQL, for the per-request session lookup only.
    pub fn pg_reads(&self) -> Option<&PgReads> {
        self.pg_reads.as_deref()
    }

    /// Apply pending migrations of this backend's tree.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrator(self.backend)
            .run(&self.pool)
            .await
            .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
        Ok(())
    }

    /// A transaction that intends to write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of failing
    /// when a read lock is upgraded.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        if let Some(reads) = &self.sqlite_reads {
            reads.close();
        }
        if let Some(reads) = &self.pg_reads {
            reads.close().await;
        }
        self.pool.close().await;
    }
}

/// The migrations this binary carries for `backend` (what `migrate` applies; what `restore`
/// and `doctor` compare a database's `_sqlx_migrations` with).
pub fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

fn ensure_sqlite_parent_dir(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the database directory {}: {e}",
                parent.display()
            )
        })?;
    }
    Ok(())
}

fn one_line(e: &sqlx::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// `($1, $2, …), (…)`: the VALUES of a multi-row insert of `rows` rows of `columns` columns.
/// Every column is a bound parameter, so the text depends only on the shape.
pub fn values_list(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * columns + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// True when `e` is a unique-constraint violation (mapped to a domain error by the caller).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Booleans are stored as integers 0/1 on both backends (sqlx's `Any` driver cannot decode
/// SQLite booleans); these two helpers are the only place that knows it.
pub fn flag(value: bool) -> i64 {
    i64::from(value)
}

pub fn is_set(value: i64) -> bool {
    value != 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_lists_number_every_parameter_once() {
        assert_eq!(super::values_list(1, 2), "($1, $2)");
        assert_eq!(super::values_list(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    /// Where the two migration trees are meant to differ: (file, SQLite text, PostgreSQL text).
    /// Today there is no such place: both trees use SQL both engines run alike (see
    /// docs/decisions/0001-one-sql-for-two-backends.md). A difference a new migration needs
    /// (`AUTOINCREMENT` against `GENERATED … AS IDENTITY`, `BLOB` against `BYTEA`) goes here.
    const INTENDED_DIFFERENCES: &[(&str, &str, &str)] = &[];

    /// Lower case, comments dropped, one space between words.
    fn normalised(sql: &str) -> String {
        sql.lines()
            .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
            .flat_map(str::split_whitespace)
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }

    fn names(dir: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn migration_trees_match_but_for_the_intended_differences() {
        let files = names("migrations/sqlite");
        assert!(!files.is_empty());
        assert_eq!(files, names("migrations/postgres"));
        for (file, _, _) in INTENDED_DIFFERENCES {
            assert!(files.iter().any(|f| f == file), "no migration {file}");
        }
        for file in &files {
            let read = |tree: &str| {
                std::fs::read_to_string(format!("migrations/{tree}/{file}"))
                    .unwrap_or_else(|e| panic!("migrations/{tree}/{file}: {e}"))
            };
            let mut sqlite = normalised(&read("sqlite"));
            let postgres = normalised(&read("postgres"));
            for (_, from, to) in INTENDED_DIFFERENCES.iter().filter(|d| d.0 == file) {
                let (from, to) = (normalised(from), normalised(to));
                assert!(
                    sqlite.contains(&from),
                    "{file}: `{from}` is no longer in the SQLite tree; drop it from the list"
                );
                sqlite = sqlite.replace(&from, &to);
            }
            if sqlite != postgres {
                let same = sqlite
                    .bytes()
                    .zip(postgres.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                let from = sqlite.floor_char_boundary(same.saturating_sub(40));
                let tail = |s: &str| {
                    s.get(from..)
                        .unwrap_or_default()
                        .chars()
                        .take(120)
                        .collect::<String>()
                };
                panic!(
                    "{file} differs beyond the intended differences:\n  sqlite:   …{}\n  postgres: …{}",
                    tail(&sqlite),
                    tail(&postgres)
                );
            }
        }
    }
}
