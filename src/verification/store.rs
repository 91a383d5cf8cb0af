//! SQL of `email_verifications` and the confirmation side of `email_changes`.

use crate::db::{Exec, StoreFuture};

/// Record a verification; the user's earlier unused ones stop working.
pub fn insert<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    code_hash: &'c str,
    token_hash: &'c str,
    now: i64,
    expires_at: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
            "UPDATE email_verifications SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
        "INSERT INTO email_verifications (id, user_id, code_hash, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(user_id)
    .bind(code_hash)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

/// Use a verification link: returns its user.
pub fn claim_token<'c>(
    ex: impl Exec<'c> + 'c,
    token_hash: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
        "UPDATE email_verifications SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// The live verification code of a user: (id, code MAC).
pub fn live_code<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<(String, String)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT id, code_hash FROM email_verifications WHERE user_id = $1 AND used_at IS NULL AND code_hash IS NOT NULL \
         AND expires_at > $2 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    })
}

pub fn claim_by_id<'c>(ex: impl Exec<'c> + 'c, id: &'c str, now: i64) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
            "UPDATE email_verifications SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

pub fn kill_codes<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE email_verifications SET code_hash = NULL WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE email_changes SET code_hash = '' WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// A pending email change: (id, user id, new email, new email normalised).
pub type PendingChange = (String, String, String, String);

/// Use an email-change link.
pub fn claim_change_token<'c>(
    ex: impl Exec<'c> + 'c,
    token_hash: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<PendingChange>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "UPDATE email_changes SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING id, user_id, new_email, new_email_normalized",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// The live change towards `new_email_normalized`, with its code MAC.
pub fn live_change<'c>(
    ex: impl Exec<'c> + 'c,
    new_email_normalized: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<(PendingChange, String)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let row: Option<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT id, user_id, new_email, new_email_normalized, code_hash FROM email_changes WHERE new_email_normalized = $1 \
         AND used_at IS NULL AND expires_at > $2 AND code_hash <> '' ORDER BY created_at DESC LIMIT 1",
    )
    .bind(new_email_normalized)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
        Ok(row.map(|(id, user, email, norm, code)| ((id, user, email, norm), code)))
    })
}

pub fn claim_change_by_id<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done =
            sqlx::query("UPDATE email_changes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Apply a confirmed email change; a unique violation means the address was taken meanwhile.
pub fn set_email<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    email: &'c str,
    normalized: &'c str,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE users SET email = $1, email_normalized = $2, email_verified = 1, updated_at = $3 WHERE id = $4")
        .bind(email)
        .bind(normalized)
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}
