//! Reads run on the calling thread, for the one lookup every authenticated request makes.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own, so every query is two
//! thread hops and the kernel's context switches cost more than the indexed lookup itself.
//! These read-only connections are used directly on the async worker: an indexed read of a
//! page that is almost always cached takes microseconds, and WAL readers never wait for the
//! writer. Nothing is cached above SQLite, so a revocation by any process (another instance,
//! the CLI) holds for the next request. See docs/decisions/0007-session-reads-without-a-thread-hop.md.
//!
//! While reads keep coming, one more connection holds a read transaction open (renewed every
//! second). Each read is still a transaction of its own with a fresh snapshot; the held one
//! only keeps the process's shared locks on the database and its WAL slot taken, so a read
//! does not have to take them from the kernel (two `fcntl` calls under a process-wide SQLite
//! mutex, which the async workers then contended for) and give them back.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// Idle read connections kept for reuse; more are opened when all are in use and closed again.
const KEPT: usize = 8;

/// How long the held read transaction lives before it is given up (and taken again by the
/// next read): a checkpoint cannot move past it, so the WAL may grow for this long at most.
const HOLD_FOR: Duration = Duration::from_secs(1);

pub struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The connection holding a read transaction open, and since when.
    held: Mutex<Option<(Connection, Instant)>>,
}

impl SqliteReads {
    /// Reads of the database file behind `url`; `None` for an in-memory database, which only
    /// sqlx's own connections can see.
    pub fn for_url(url: &str) -> Option<Self> {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename().to_path_buf();
        let shown = path.to_string_lossy();
        if shown.is_empty() || shown.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        Some(Self {
            path,
            idle: Mutex::new(Vec::new()),
            held: Mutex::new(None),
        })
    }

    /// Give up the held read transaction once it is [`HOLD_FOR`] old, until these reads are
    /// dropped; runs as a task beside them.
    pub async fn renew_held_transaction(reads: Weak<Self>) {
        let mut tick = tokio::time::interval(HOLD_FOR / 4);
        loop {
            tick.tick().await;
            let Some(reads) = reads.upgrade() else {
                return;
            };
            let mut held = reads.held.lock().unwrap_or_else(|e| e.into_inner());
            if held
                .as_ref()
                .is_some_and(|(_, since)| since.elapsed() >= HOLD_FOR)
                && let Some((conn, _)) = held.take()
            {
                // Ending a read transaction cannot fail in a way that matters here: the
                // connection is dropped if it does.
                if conn.execute_batch("COMMIT").is_ok() {
                    reads.put_back(conn);
                }
            }
        }
    }

    /// End the held read transaction and close the idle connections (the database is closing).
    pub fn close(&self) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Hold a read transaction if none is held (and no other read is taking one right now).
    fn hold_transaction(&self) {
        let Ok(mut held) = self.held.try_lock() else {
            return;
        };
        if held.is_some() {
            return;
        }
        let Ok(conn) = self.take_connection() else {
            return;
        };
        // A deferred transaction takes its locks at the first read.
        let begun = conn.execute_batch("BEGIN").is_ok()
            && conn
                .query_row("SELECT COUNT(*) FROM sqlite_schema", [], |row| {
                    row.get::<_, i64>(0)
                })
                .is_ok();
        if begun {
            *held = Some((conn, Instant::now()));
        }
    }

    fn take_connection(&self) -> rusqlite::Result<Connection> {
        match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn put_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEPT
        {
            idle.push(conn);
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(conn)
    }

    /// Run `read` on an idle connection (or a new one); errors come back as sqlx errors so the
    /// callers map them like any other database failure.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        self.hold_transaction();
        let conn = self.take_connection().map_err(driver_error)?;
        let out = read(&conn).map_err(driver_error);
        self.put_back(conn);
        out
    }
}

fn driver_error(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(e))
}
