//! SQL of the `identities` table (and the two user columns a provider sign-in may set).

use crate::db::{Backend, Conn, Db};

/// A user's identity at a provider.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: i64,
}

pub struct NewIdentity<'a> {
    pub user_id: &'a str,
    pub provider: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub now: i64,
}

/// Insert an identity; a subject already linked surfaces as a unique violation for the caller.
pub async fn insert(conn: &mut Conn, i: &NewIdentity<'_>) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO identities (id, user_id, provider, subject, email, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(i.user_id)
    .bind(i.provider)
    .bind(i.subject)
    .bind(i.email)
    .bind(i.now)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn find(db: &Db, provider: &str, subject: &str) -> Result<Option<Identity>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM identities WHERE provider = $1 AND subject = $2")
        .bind(provider)
        .bind(subject)
        .fetch_optional(db.pool())
        .await
}

/// Keep the address the provider reports now (shown in the identity list).
pub async fn set_email(db: &Db, id: &str, email: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE identities SET email = $1 WHERE id = $2")
        .bind(email)
        .bind(id)
        .execute(db.pool())
        .await
        .map(|_| ())
}

pub async fn list_for_user(conn: &mut Conn, user_id: &str) -> Result<Vec<Identity>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM identities WHERE user_id = $1 ORDER BY created_at, id")
        .bind(user_id)
        .fetch_all(conn)
        .await
}

/// Delete one of the user's identities; false when it is not theirs or does not exist.
pub async fn delete(conn: &mut Conn, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM identities WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Delete every identity of the user; how many went.
pub async fn delete_all_for_user(conn: &mut Conn, user_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM identities WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// The user's password hash, read under a row lock so that two concurrent unlinks cannot both
/// see "another way to sign in remains" (SQLite's `BEGIN IMMEDIATE` already serialises writers).
pub async fn lock_user_password(
    conn: &mut Conn,
    backend: Backend,
    user_id: &str,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let sql = match backend {
        Backend::Postgres => "SELECT password_hash FROM users WHERE id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT password_hash FROM users WHERE id = $1",
    };
    sqlx::query_scalar(sql)
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// A provider proved the address of an account whose email nobody had verified: the address is
/// now verified and the password that someone set without proving it is dropped (account
/// pre-hijacking defence).
pub async fn claim_unverified_account(
    conn: &mut Conn,
    user_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET email_verified = 1, password_hash = NULL, updated_at = $1 \
         WHERE id = $2 AND email_verified = 0",
    )
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The provider's picture as the avatar of a new account.
pub async fn set_avatar(conn: &mut Conn, user_id: &str, avatar: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET avatar = $1 WHERE id = $2 AND avatar IS NULL")
        .bind(avatar)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}
