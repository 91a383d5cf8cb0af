//! SQL of the `password_resets` table.

use crate::db::{Exec, StoreFuture};

pub struct NewReset<'a> {
    pub user_id: &'a str,
    pub code_hash: &'a str,
    pub token_hash: &'a str,
    pub now: i64,
    pub code_expires_at: i64,
    pub token_expires_at: i64,
}

/// Record a reset request; the user's earlier unused ones stop working.
pub fn insert<'c>(ex: impl Exec<'c> + 'c, r: NewReset<'c>) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
            "UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(r.now)
        .bind(r.user_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
        "INSERT INTO password_resets (id, user_id, code_hash, token_hash, created_at, code_expires_at, token_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(r.user_id)
    .bind(r.code_hash)
    .bind(r.token_hash)
    .bind(r.now)
    .bind(r.code_expires_at)
    .bind(r.token_expires_at)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

/// The live code of the user's latest request: (reset id, code MAC).
pub fn live_code<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<(String, String)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
            "SELECT id, code_hash FROM password_resets WHERE user_id = $1 AND used_at IS NULL \
         AND code_hash IS NOT NULL AND code_expires_at > $2 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
    })
}

/// Spend the code of reset `id` for a new reset token; false when someone spent it first.
pub fn exchange_code<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    token_hash: &'c str,
    token_expires_at: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
            "UPDATE password_resets SET code_hash = NULL, token_hash = $1, token_expires_at = $2 \
         WHERE id = $3 AND code_hash IS NOT NULL AND used_at IS NULL",
        )
        .bind(token_hash)
        .bind(token_expires_at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Kill every live code of the user (too many wrong tries).
pub fn kill_codes<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE password_resets SET code_hash = NULL WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// The user of a live reset token, without using it.
pub fn token_user<'c>(
    ex: impl Exec<'c> + 'c,
    token_hash: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND token_expires_at > $2")
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
    })
}

/// Use a token: one UPDATE, so of two concurrent resets exactly one gets the user id.
pub fn claim_token<'c>(
    ex: impl Exec<'c> + 'c,
    token_hash: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
        "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND token_expires_at > $1 \
         RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await
    })
}
