//! SQL of the `sessions` table.

use sqlx::FromRow;
use sqlx::postgres::PgRow;

use crate::accounts::User;
use crate::db::{Db, Exec, StoreFuture};

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

pub fn insert<'c>(ex: impl Exec<'c> + 'c, s: SessionInsert<'c>) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        insert_many(&mut *conn, std::slice::from_ref(&s)).await
    })
}

/// Insert sessions in one statement (the operators' `admin seed` inserts batches of them).
pub fn insert_many<'c>(
    ex: impl Exec<'c> + 'c,
    sessions: &'c [SessionInsert<'c>],
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
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
        query.execute(&mut *conn).await.map(|_| ())
    })
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
pub fn touch<'c>(ex: impl Exec<'c> + 'c, id: &'c str, now: i64) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at <= $3")
            .bind(now)
            .bind(id)
            .bind(now - 60)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

pub fn list_for_user<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
) -> StoreFuture<'c, Vec<SessionRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
            "SELECT id, created_at, last_seen_at, expires_at, ip, user_agent, amr FROM sessions \
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
    })
}

pub fn delete_one<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    id: &'c str,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() > 0)
    })
}

/// Delete the sessions that ended at `now` or were last used at `idle_since` or before; returns
/// how many went.
pub fn delete_expired<'c>(
    ex: impl Exec<'c> + 'c,
    now: i64,
    idle_since: i64,
) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(idle_since)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}

/// True when session `id` was opened by a provider sign-in (not a password or a passkey) at
/// `since` or later.
pub fn is_provider_login_since<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    since: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE id = $1 \
             AND auth_method NOT IN ('password', 'passkey') AND created_at >= $2",
        )
        .bind(id)
        .bind(since)
        .fetch_one(&mut *conn)
        .await?;
        Ok(n > 0)
    })
}

/// Delete every session of `user_id` except `keep`; returns how many went.
pub fn delete_all_but<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    keep: Option<&'c str>,
) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}
