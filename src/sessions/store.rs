//! SQL of the `sessions` table.

use sqlx::FromRow;
use sqlx::postgres::PgRow;

use crate::accounts::User;
use crate::db::{Conn, Db};

pub struct SessionInsert<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub token_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub auth_method: &'a str,
    pub amr: &'a str,
}

pub async fn insert(conn: &mut Conn, s: SessionInsert<'_>) -> Result<(), sqlx::Error> {
    insert_many(conn, std::slice::from_ref(&s)).await
}

/// Insert sessions in one statement (the operators' `admin seed` inserts batches of them).
pub async fn insert_many(
    conn: &mut Conn,
    sessions: &[SessionInsert<'_>],
) -> Result<(), sqlx::Error> {
    if sessions.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, auth_method, amr) \
         VALUES {}",
        crate::db::values_list(sessions.len(), 10)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for s in sessions {
        query = query
            .bind(s.id)
            .bind(s.user_id)
            .bind(s.token_hash)
            .bind(s.now)
            .bind(s.now)
            .bind(s.expires_at)
            .bind(s.ip)
            .bind(s.user_agent)
            .bind(s.auth_method)
            .bind(s.amr);
    }
    query.execute(conn).await.map(|_| ())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: String,
}

/// The session's columns of the session check, before its user's: only what the check decides
/// by (every authenticated request reads them).
macro_rules! session_check_columns {
    () => {
        "s.id AS s_id, s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, "
    };
}

/// The session check's one statement: the session with this token hash and its user.
/// The session's columns come first (read by position on SQLite), then the user's.
const SESSION_AND_USER: &str = concat!(
    "SELECT ",
    session_check_columns!(),
    crate::user_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
);

/// The same for the token hashes of every request waiting at once, on PostgreSQL
/// ([`crate::db::PgReads`]): the token hash comes first, to give each request its row.
const SESSIONS_AND_USERS: &str = concat!(
    "SELECT s.token_hash, ",
    session_check_columns!(),
    crate::user_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ANY($1)"
);

/// A row of [`SESSION_AND_USER`]: read by position on SQLite's same-thread path, by name elsewhere.
#[derive(sqlx::FromRow)]
struct SessionAndUser {
    s_id: String,
    s_last_seen_at: i64,
    s_expires_at: i64,
    #[sqlx(flatten)]
    user: User,
}

/// What the session check decides by: when the session was last used and when it ends.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub id: String,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

impl From<SessionAndUser> for (LiveSession, User) {
    fn from(r: SessionAndUser) -> Self {
        let session = LiveSession {
            id: r.s_id,
            last_seen_at: r.s_last_seen_at,
            expires_at: r.s_expires_at,
        };
        (session, r.user)
    }
}

fn session_and_user_from_pg(row: &PgRow) -> Result<(LiveSession, User), sqlx::Error> {
    SessionAndUser::from_row(row).map(Into::into)
}

/// The session with this token hash and its user: on SQLite in one statement on the calling
/// thread, on PostgreSQL in one statement shared with the other requests waiting at that
/// moment. This runs for every authenticated request.
pub async fn find_by_token_hash(
    db: &Db,
    token_hash: &str,
) -> Result<Option<(LiveSession, User)>, sqlx::Error> {
    if let Some(reads) = db.sqlite_reads() {
        let found = reads.read(|conn| {
            use rusqlite::OptionalExtension;
            conn.prepare_cached(SESSION_AND_USER)?
                .query_row([token_hash], |row| {
                    Ok(SessionAndUser {
                        s_id: row.get(0)?,
                        s_last_seen_at: row.get(1)?,
                        s_expires_at: row.get(2)?,
                        user: User::from_sqlite_row(row, 3)?,
                    })
                })
                .optional()
        })?;
        return Ok(found.map(Into::into));
    }
    if let Some(reads) = db.pg_reads() {
        return reads
            .one_of_many(
                SESSIONS_AND_USERS,
                session_and_user_from_pg,
                token_hash.to_string(),
            )
            .await;
    }
    let row: Option<SessionAndUser> = sqlx::query_as(SESSION_AND_USER)
        .bind(token_hash)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(Into::into))
}

/// Record activity at most once a minute per session, whatever the request rate.
pub async fn touch(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at <= $3")
        .bind(now)
        .bind(id)
        .bind(now - 60)
        .execute(db.pool())
        .await
        .map(|_| ())
}

pub async fn list_for_user(db: &Db, user_id: &str) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, created_at, last_seen_at, expires_at, ip, user_agent, amr FROM sessions \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await
}

pub async fn delete_one(conn: &mut Conn, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Delete every session of `user_id` except `keep`; returns how many went.
pub async fn delete_all_but(
    conn: &mut Conn,
    user_id: &str,
    keep: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
