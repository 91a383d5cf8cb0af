//! SQL of `email_verifications` and the confirmation side of `email_changes`.

use crate::db::{Conn, Db};

/// Record a verification; the user's earlier unused ones stop working.
pub async fn insert(
    conn: &mut Conn,
    user_id: &str,
    code_hash: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
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
    .execute(conn)
    .await
    .map(|_| ())
}

/// Use a verification link: returns its user.
pub async fn claim_token(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE email_verifications SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// The live verification code of a user: (id, code MAC).
pub async fn live_code(
    db: &Db,
    user_id: &str,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, code_hash FROM email_verifications WHERE user_id = $1 AND used_at IS NULL AND code_hash IS NOT NULL \
         AND expires_at > $2 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(db.pool())
    .await
}

pub async fn claim_by_id(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE email_verifications SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn kill_codes(db: &Db, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE email_verifications SET code_hash = NULL WHERE user_id = $1")
        .bind(user_id)
        .execute(db.pool())
        .await?;
    sqlx::query("UPDATE email_changes SET code_hash = '' WHERE user_id = $1")
        .bind(user_id)
        .execute(db.pool())
        .await
        .map(|_| ())
}

/// A pending email change: (id, user id, new email, new email normalised).
pub type PendingChange = (String, String, String, String);

/// Use an email-change link.
pub async fn claim_change_token(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Option<PendingChange>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE email_changes SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING id, user_id, new_email, new_email_normalized",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// The live change towards `new_email_normalized`, with its code MAC.
pub async fn live_change(
    db: &Db,
    new_email_normalized: &str,
    now: i64,
) -> Result<Option<(PendingChange, String)>, sqlx::Error> {
    let row: Option<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT id, user_id, new_email, new_email_normalized, code_hash FROM email_changes WHERE new_email_normalized = $1 \
         AND used_at IS NULL AND expires_at > $2 AND code_hash <> '' ORDER BY created_at DESC LIMIT 1",
    )
    .bind(new_email_normalized)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(id, user, email, norm, code)| ((id, user, email, norm), code)))
}

pub async fn claim_change_by_id(conn: &mut Conn, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE email_changes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Apply a confirmed email change; a unique violation means the address was taken meanwhile.
pub async fn set_email(
    conn: &mut Conn,
    user_id: &str,
    email: &str,
    normalized: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET email = $1, email_normalized = $2, email_verified = 1, updated_at = $3 WHERE id = $4")
        .bind(email)
        .bind(normalized)
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}
