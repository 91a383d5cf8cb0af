//! Reads run on the calling thread, for the one lookup every authenticated request makes.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own, so every query is two
//! thread hops and the kernel's context switches cost more than the indexed lookup itself.
//! These read-only connections are used directly on the async worker: an indexed read of a
//! page that is almost always cached takes microseconds, and WAL readers never wait for the
//! writer. Nothing is cached above SQLite, so a revocation by any process (another instance,
//! the CLI) holds for the next request. See docs/decisions/0007-session-reads-without-a-thread-hop.md.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Idle read connections kept for reuse; more are opened when all are in use and closed again.
const KEPT: usize = 8;

pub struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
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
        })
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
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match reused {
            Some(conn) => conn,
            None => self.open().map_err(driver_error)?,
        };
        let out = read(&conn).map_err(driver_error);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEPT
        {
            idle.push(conn);
        }
        out
    }
}

fn driver_error(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(e))
}
