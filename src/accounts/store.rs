//! SQL of the `users` and `email_changes` tables.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Db, Exec, StoreFuture, flag, is_set};
use crate::domain::{Role, Timestamp};
use crate::i18n::Lang;

/// A `users` row as stored: flags as 0/1, times as unix seconds. Only this file sees it; the
/// rest of gatehouse gets a [`User`].
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    email_normalized: String,
    email_verified: i64,
    password_hash: Option<String>,
    nickname: String,
    avatar: Option<String>,
    language: String,
    color_schema: String,
    timezone: String,
    preferences: String,
    is_superuser: i64,
    is_active: i64,
    login_channel: String,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
    /// Set by BotServer's registration; null otherwise.
    #[sqlx(default)]
    username: Option<String>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            email: r.email,
            email_normalized: r.email_normalized,
            email_verified: is_set(r.email_verified),
            password_hash: r.password_hash,
            nickname: r.nickname,
            avatar: r.avatar,
            language: r.language,
            color_schema: r.color_schema,
            timezone: r.timezone,
            preferences: r.preferences,
            role: Role::from_superuser(is_set(r.is_superuser)),
            is_active: is_set(r.is_active),
            login_channel: r.login_channel,
            created_at: Timestamp::from_unix(r.created_at),
            updated_at: Timestamp::from_unix(r.updated_at),
            last_login_at: r.last_login_at.map(Timestamp::from_unix),
            username: r.username,
        }
    }
}

/// A user. `Debug` leaves out the password hash.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub email_normalized: String,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub nickname: String,
    pub avatar: Option<String>,
    pub language: String,
    pub color_schema: String,
    pub timezone: String,
    pub preferences: String,
    pub role: Role,
    pub is_active: bool,
    pub login_channel: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
    /// Set by BotServer's registration; null otherwise.
    pub username: Option<String>,
}

/// Read through the row, so every `query_as` of users (joined ones included) yields a [`User`].
impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for User {
    fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        <UserRow as sqlx::FromRow<_>>::from_row(row).map(User::from)
    }
}

/// The same from a typed PostgreSQL row (the session check's coalesced read,
/// [`crate::db::PgReads`]), which selects [`user_columns!`].
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for User {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        <UserRow as sqlx::FromRow<_>>::from_row(row).map(User::from)
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// A user's columns (of `users u`) in the order [`User::from_sqlite_row`] reads them. The flags
/// are `INTEGER` (32 bits on PostgreSQL); they are read as 64-bit like every other number, which
/// only the `Any` driver would do by itself.
#[macro_export]
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.email_normalized, CAST(u.email_verified AS BIGINT) AS email_verified, \
         u.password_hash, u.nickname, u.avatar, u.language, u.color_schema, u.timezone, \
         u.preferences, CAST(u.is_superuser AS BIGINT) AS is_superuser, \
         CAST(u.is_active AS BIGINT) AS is_active, u.login_channel, u.created_at, u.updated_at, \
         u.last_login_at, u.username"
    };
}

impl User {
    /// The columns of [`user_columns!`], from column `first` on, read by position from a SQLite
    /// row of the session check's same-thread read ([`crate::db::SqliteReads`]): looking each
    /// one up by name compared every column name of the row, a tenth of the whole request.
    pub fn from_sqlite_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(UserRow {
            id: row.get(first)?,
            email: row.get(first + 1)?,
            email_normalized: row.get(first + 2)?,
            email_verified: row.get(first + 3)?,
            password_hash: row.get(first + 4)?,
            nickname: row.get(first + 5)?,
            avatar: row.get(first + 6)?,
            language: row.get(first + 7)?,
            color_schema: row.get(first + 8)?,
            timezone: row.get(first + 9)?,
            preferences: row.get(first + 10)?,
            is_superuser: row.get(first + 11)?,
            is_active: row.get(first + 12)?,
            login_channel: row.get(first + 13)?,
            created_at: row.get(first + 14)?,
            updated_at: row.get(first + 15)?,
            last_login_at: row.get(first + 16)?,
            username: row.get(first + 17)?,
        }
        .into())
    }

    pub fn lang(&self) -> Lang {
        Lang::parse(&self.language).unwrap_or_default()
    }

    pub fn view(&self) -> UserView {
        self.clone().into()
    }
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            preferences: serde_json::from_str(&user.preferences)
                .unwrap_or_else(|_| serde_json::json!({})),
            is_superuser: user.role.is_superuser(),
            created_at: user.created_at.rfc3339(),
            last_login_at: user.last_login_at.map(Timestamp::rfc3339),
            id: user.id,
            email: user.email,
            email_verified: user.email_verified,
            nickname: user.nickname,
            avatar: user.avatar,
            language: user.language,
            color_schema: user.color_schema,
            timezone: user.timezone,
            login_channel: user.login_channel,
            username: user.username,
        }
    }
}

/// The `user` object of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub nickname: String,
    pub avatar: Option<String>,
    pub language: String,
    pub color_schema: String,
    pub timezone: String,
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
    pub is_superuser: bool,
    pub login_channel: String,
    pub created_at: String,
    pub last_login_at: Option<String>,
    /// Null unless set (BotServer's registration keeps one).
    pub username: Option<String>,
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub password_hash: Option<&'a str>,
    pub nickname: &'a str,
    pub language: &'a str,
    pub timezone: &'a str,
    pub email_verified: bool,
    pub is_superuser: bool,
    pub login_channel: &'a str,
    pub now: i64,
}

/// Insert a user; a duplicate email surfaces as a unique violation for the caller to map.
pub fn insert<'c>(ex: impl Exec<'c> + 'c, u: NewUser<'c>) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        insert_many(&mut *conn, std::slice::from_ref(&u)).await
    })
}

/// Insert users in one statement (the operators' `admin seed` inserts batches of them).
pub fn insert_many<'c>(ex: impl Exec<'c> + 'c, users: &'c [NewUser<'c>]) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        if users.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO users (id, email, email_normalized, email_verified, password_hash, nickname, language, \
         timezone, is_superuser, login_channel, created_at, updated_at) VALUES {}",
            crate::db::values_list(users.len(), 12)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for u in users {
            query = query
                .bind(u.id)
                .bind(u.email)
                .bind(u.email_normalized)
                .bind(flag(u.email_verified))
                .bind(u.password_hash)
                .bind(u.nickname)
                .bind(u.language)
                .bind(u.timezone)
                .bind(flag(u.is_superuser))
                .bind(u.login_channel)
                .bind(u.now)
                .bind(u.now);
        }
        query.execute(&mut *conn).await.map(|_| ())
    })
}

/// The user whose normalized email is `normalized`. Every password sign-in starts here, so on
/// SQLite it is read on the calling thread ([`crate::db::SqliteReads`]); it sees what has been
/// committed, as a read through the pool would.
pub async fn find_by_email(db: &Db, normalized: &str) -> Result<Option<User>, sqlx::Error> {
    const BY_EMAIL: &str = concat!(
        "SELECT ",
        crate::user_columns!(),
        " FROM users u WHERE u.email_normalized = $1"
    );
    if let Some(reads) = db.sqlite_reads() {
        return reads.read(|conn| {
            use rusqlite::OptionalExtension;
            conn.prepare_cached(BY_EMAIL)?
                .query_row([normalized], |row| User::from_sqlite_row(row, 0))
                .optional()
        });
    }
    sqlx::query_as(BY_EMAIL)
        .bind(normalized)
        .fetch_optional(db.pool())
        .await
}

/// The user whose username is `normalized` (lower case).
pub fn find_by_username<'c>(
    ex: impl Exec<'c> + 'c,
    normalized: &'c str,
) -> StoreFuture<'c, Option<User>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as("SELECT * FROM users WHERE username_normalized = $1")
            .bind(normalized)
            .fetch_optional(&mut *conn)
            .await
    })
}

/// Give the user a username; `false` when another user has it (the unique index decides).
pub fn set_username<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    username: &'c str,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done =
            sqlx::query("UPDATE users SET username = $1, username_normalized = $2 WHERE id = $3")
                .bind(username)
                .bind(username.to_lowercase())
                .bind(id)
                .execute(&mut *conn)
                .await;
        match done {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    })
}

pub fn find_by_id<'c>(ex: impl Exec<'c> + 'c, id: &'c str) -> StoreFuture<'c, Option<User>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
    })
}

pub fn set_password_hash<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    hash: &'c str,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// Replace the password hash only if it is still `old` (a concurrent change wins).
pub fn upgrade_password_hash<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    old: &'c str,
    new: &'c str,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(new)
            .bind(id)
            .bind(old)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

pub fn set_last_login<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    channel: &'c str,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE users SET last_login_at = $1, login_channel = $2 WHERE id = $3")
            .bind(now)
            .bind(channel)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// The profile fields a user may change themselves.
pub struct ProfileUpdate {
    pub nickname: String,
    pub avatar: Option<String>,
    pub language: String,
    pub color_schema: String,
    pub timezone: String,
    pub preferences: String,
}

pub fn update_profile<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    p: &'c ProfileUpdate,
    now: i64,
) -> StoreFuture<'c, Option<User>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "UPDATE users SET nickname = $1, avatar = $2, language = $3, color_schema = $4, timezone = $5, \
         preferences = $6, updated_at = $7 WHERE id = $8 RETURNING *",
    )
    .bind(&p.nickname)
    .bind(&p.avatar)
    .bind(&p.language)
    .bind(&p.color_schema)
    .bind(&p.timezone)
    .bind(&p.preferences)
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// What an administrator may change on a user (`PATCH /admin/users/{id}`).
pub struct AdminUpdate<'a> {
    pub is_active: bool,
    pub is_superuser: bool,
    pub nickname: &'a str,
}

pub fn update_by_admin<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    u: AdminUpdate<'c>,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
            "UPDATE users SET is_active = $1, is_superuser = $2, nickname = $3, updated_at = $4 \
             WHERE id = $5",
        )
        .bind(flag(u.is_active))
        .bind(flag(u.is_superuser))
        .bind(u.nickname)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}

pub fn delete<'c>(ex: impl Exec<'c> + 'c, id: &'c str) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

pub fn email_in_use<'c>(ex: impl Exec<'c> + 'c, normalized: &'c str) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email_normalized = $1")
            .bind(normalized)
            .fetch_one(&mut *conn)
            .await?;
        Ok(n > 0)
    })
}

pub struct NewEmailChange<'a> {
    pub user_id: &'a str,
    pub new_email: &'a str,
    pub new_email_normalized: &'a str,
    pub token_hash: &'a str,
    pub code_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// Record a pending email change; an earlier pending one of the same user is superseded.
pub fn insert_email_change<'c>(
    ex: impl Exec<'c> + 'c,
    c: NewEmailChange<'c>,
) -> StoreFuture<'c, String> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        cancel_email_changes(&mut *conn, c.user_id).await?;
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
        "INSERT INTO email_changes (id, user_id, new_email, new_email_normalized, token_hash, code_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(c.user_id)
    .bind(c.new_email)
    .bind(c.new_email_normalized)
    .bind(c.token_hash)
    .bind(c.code_hash)
    .bind(c.now)
    .bind(c.expires_at)
    .execute(&mut *conn)
    .await?;
        Ok(id)
    })
}

/// Drop the user's pending (unconfirmed) email changes; how many went.
pub fn cancel_email_changes<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM email_changes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}

pub fn mark_email_verified<'c>(ex: impl Exec<'c> + 'c, id: &'c str) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE users SET email_verified = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// Count one more failure under `key` (a `failure_counts` key); the new count. One statement,
/// so parallel attempts each get their own number.
pub fn add_failure<'c>(ex: impl Exec<'c> + 'c, key: &'c str, now: i64) -> StoreFuture<'c, i64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
            "INSERT INTO failure_counts (key, failures, updated_at) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET failures = failure_counts.failures + 1, updated_at = $2 \
         RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
    })
}

/// Give back a failure counted for an attempt that was refused before anything was checked.
pub fn release_failure<'c>(ex: impl Exec<'c> + 'c, key: &'c str) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
            "UPDATE failure_counts SET failures = failures - 1 WHERE key = $1 AND failures > 0",
        )
        .bind(key)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}

/// The failures counted under `key`.
pub fn failures<'c>(ex: impl Exec<'c> + 'c, key: &'c str) -> StoreFuture<'c, i64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let n: Option<i64> =
            sqlx::query_scalar("SELECT failures FROM failure_counts WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(n.unwrap_or(0))
    })
}

/// Forget the failures counted under `key`.
pub fn clear_failures<'c>(ex: impl Exec<'c> + 'c, key: &'c str) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("DELETE FROM failure_counts WHERE key = $1")
            .bind(key)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// A user brought over from another system with its own id, profile and state.
pub struct ImportedUser<'a> {
    pub user: NewUser<'a>,
    pub avatar: Option<&'a str>,
    pub color_schema: &'a str,
    pub is_active: bool,
}

/// Insert an imported user unless its id or email is already taken; true when inserted. Unlike
/// [`insert`], a taken id or email is not an error: imports are run again and must skip.
pub fn insert_imported<'c>(ex: impl Exec<'c> + 'c, i: ImportedUser<'c>) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let u = i.user;
        let done = sqlx::query(
        "INSERT INTO users (id, email, email_normalized, email_verified, password_hash, nickname, language, \
         timezone, is_superuser, login_channel, avatar, color_schema, is_active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) ON CONFLICT DO NOTHING",
    )
    .bind(u.id)
    .bind(u.email)
    .bind(u.email_normalized)
    .bind(flag(u.email_verified))
    .bind(u.password_hash)
    .bind(u.nickname)
    .bind(u.language)
    .bind(u.timezone)
    .bind(flag(u.is_superuser))
    .bind(u.login_channel)
    .bind(i.avatar)
    .bind(i.color_schema)
    .bind(flag(i.is_active))
    .bind(u.now)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// The id of the user with this normalised email.
pub fn id_by_email<'c>(
    ex: impl Exec<'c> + 'c,
    normalized: &'c str,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT id FROM users WHERE email_normalized = $1")
            .bind(normalized)
            .fetch_optional(&mut *conn)
            .await
    })
}
