//! SQL of the `password_resets` table.

use crate::db::{Conn, Db};

pub struct NewReset<'a> {
    pub user_id: &'a str,
    pub code_hash: &'a str,
    pub token_hash: &'a str,
    pub now: i64,
    pub code_expires_at: i64,
    pub token_expires_at: i64,
}

/// Record a reset request; the user's earlier unused ones stop working.
pub async fn insert(conn: &mut Conn, r: NewReset<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
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
    .execute(conn)
    .await
    .map(|_| ())
}

/// The live code of the user's latest request: (reset id, code MAC).
pub async fn live_code(
    db: &Db,
    user_id: &str,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, code_hash FROM password_resets WHERE user_id = $1 AND used_at IS NULL \
         AND code_hash IS NOT NULL AND code_expires_at > $2 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(db.pool())
    .await
}

/// Spend the code of reset `id` for a new reset token; false when someone spent it first.
pub async fn exchange_code(
    db: &Db,
    id: &str,
    token_hash: &str,
    token_expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE password_resets SET code_hash = NULL, token_hash = $1, token_expires_at = $2 \
         WHERE id = $3 AND code_hash IS NOT NULL AND used_at IS NULL",
    )
    .bind(token_hash)
    .bind(token_expires_at)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Kill every live code of the user (too many wrong tries).
pub async fn kill_codes(db: &Db, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE password_resets SET code_hash = NULL WHERE user_id = $1")
        .bind(user_id)
        .execute(db.pool())
        .await
        .map(|_| ())
}

/// The user of a live reset token, without using it.
pub async fn token_user(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND token_expires_at > $2")
        .bind(token_hash)
        .bind(now)
        .fetch_optional(db.pool())
        .await
}

/// Use a token: one UPDATE, so of two concurrent resets exactly one gets the user id.
pub async fn claim_token(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND token_expires_at > $1 \
         RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}
