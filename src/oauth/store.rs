//! SQL of the `identities` table (and the two user columns a provider sign-in may set).

use crate::db::{Backend, Exec, StoreFuture};

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
pub fn insert<'c>(ex: impl Exec<'c> + 'c, i: &'c NewIdentity<'c>) -> StoreFuture<'c, String> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
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
        .execute(&mut *conn)
        .await?;
        Ok(id)
    })
}

pub fn find<'c>(
    ex: impl Exec<'c> + 'c,
    provider: &'c str,
    subject: &'c str,
) -> StoreFuture<'c, Option<Identity>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as("SELECT * FROM identities WHERE provider = $1 AND subject = $2")
            .bind(provider)
            .bind(subject)
            .fetch_optional(&mut *conn)
            .await
    })
}

/// Keep the address the provider reports now (shown in the identity list).
pub fn set_email<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    email: Option<&'c str>,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE identities SET email = $1 WHERE id = $2")
            .bind(email)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

pub fn list_for_user<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
) -> StoreFuture<'c, Vec<Identity>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as("SELECT * FROM identities WHERE user_id = $1 ORDER BY created_at, id")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await
    })
}

/// Delete one of the user's identities; false when it is not theirs or does not exist.
pub fn delete<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str, id: &'c str) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM identities WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() > 0)
    })
}

/// Delete every identity of the user; how many went.
pub fn delete_all_for_user<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM identities WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}

/// The user's password hash, read under a row lock so that two concurrent unlinks cannot both
/// see "another way to sign in remains" (SQLite's `BEGIN IMMEDIATE` already serialises writers).
pub fn lock_user_password<'c>(
    ex: impl Exec<'c> + 'c,
    backend: Backend,
    user_id: &'c str,
) -> StoreFuture<'c, Option<Option<String>>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let sql = match backend {
            Backend::Postgres => "SELECT password_hash FROM users WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT password_hash FROM users WHERE id = $1",
        };
        sqlx::query_scalar(sql)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
    })
}

/// A provider proved the address of an account whose email nobody had verified: the address is
/// now verified and the password that someone set without proving it is dropped (account
/// pre-hijacking defence).
pub fn claim_unverified_account<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
            "UPDATE users SET email_verified = 1, password_hash = NULL, updated_at = $1 \
         WHERE id = $2 AND email_verified = 0",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}

/// The provider's picture as the avatar of a new account.
pub fn set_avatar<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    avatar: &'c str,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE users SET avatar = $1 WHERE id = $2 AND avatar IS NULL")
            .bind(avatar)
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}
