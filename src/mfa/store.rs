//! SQL of the `totp_secrets`, `recovery_codes` and `passkeys` tables.

use crate::db::{Db, Exec, StoreFuture};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub secret_sealed: String,
    pub created_at: i64,
    pub enabled_at: Option<i64>,
}

pub fn totp<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, Option<TotpRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
            "SELECT secret_sealed, created_at, enabled_at FROM totp_secrets WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
    })
}

/// Replace any pending secret of the user with `sealed` (an enabled one is never replaced).
pub fn put_pending_totp<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    sealed: &'c str,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1 AND enabled_at IS NULL")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        let done = sqlx::query(
            "INSERT INTO totp_secrets (user_id, secret_sealed, created_at, enabled_at, last_step) \
         VALUES ($1, $2, $3, NULL, 0) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Accept time step `step` for the user: true only when it is later than every step accepted
/// before (one statement, so two requests with one code cannot both pass).
pub fn claim_step<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    step: i64,
    pending: bool,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let sql = if pending {
            "UPDATE totp_secrets SET last_step = $1 WHERE user_id = $2 AND last_step < $1 AND enabled_at IS NULL"
        } else {
            "UPDATE totp_secrets SET last_step = $1 WHERE user_id = $2 AND last_step < $1 AND enabled_at IS NOT NULL"
        };
        let done = sqlx::query(sql)
            .bind(step)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

pub fn enable_totp<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
            "UPDATE totp_secrets SET enabled_at = $1 WHERE user_id = $2 AND enabled_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Remove the TOTP secret (pending or enabled) and every recovery code.
pub fn delete_totp<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}

pub fn replace_recovery_codes<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    hashes: &'c [String],
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (id, user_id, code_hash, used_at) VALUES ($1, $2, $3, NULL)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    })
}

/// Mark the unused code with this hash used; true when this call used it.
pub fn use_recovery_code<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    hash: &'c str,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected() == 1)
    })
}

pub fn recovery_codes_left<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, i64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub credential_id: String,
    pub name: String,
    pub credential: String,
    pub sign_count: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub fn passkeys<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, Vec<PasskeyRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at \
         FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await
    })
}

pub fn passkey_by_credential_id<'c>(
    ex: impl Exec<'c> + 'c,
    credential_id: &'c str,
) -> StoreFuture<'c, Option<PasskeyRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
        "SELECT id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at \
         FROM passkeys WHERE credential_id = $1",
    )
    .bind(credential_id)
    .fetch_optional(&mut *conn)
    .await
    })
}

/// The user's enabled TOTP secrets (0 or 1) and passkeys, counted in one statement. Every
/// password sign-in asks, so on SQLite it is read on the calling thread
/// ([`crate::db::SqliteReads`]).
pub async fn count_factors(db: &Db, user_id: &str) -> Result<(i64, i64), sqlx::Error> {
    const COUNTS: &str = "SELECT \
         (SELECT COUNT(*) FROM totp_secrets WHERE user_id = $1 AND enabled_at IS NOT NULL), \
         (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)";
    if let Some(reads) = db.sqlite_reads() {
        return reads.read(|conn| {
            conn.prepare_cached(COUNTS)?
                .query_row([user_id], |row| Ok((row.get(0)?, row.get(1)?)))
        });
    }
    sqlx::query_as(COUNTS)
        .bind(user_id)
        .fetch_one(db.pool())
        .await
}

pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub credential_id: &'a str,
    pub name: &'a str,
    pub credential: &'a str,
    pub sign_count: i64,
    pub now: i64,
}

pub fn insert_passkey<'c>(ex: impl Exec<'c> + 'c, p: NewPasskey<'c>) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(p.id)
    .bind(p.user_id)
    .bind(p.credential_id)
    .bind(p.name)
    .bind(p.credential)
    .bind(p.sign_count)
    .bind(p.now)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

/// Store the credential after a use, only if nobody stored a use since `seen_count` was read
/// (a concurrent or replayed assertion loses).
pub fn record_passkey_use<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    seen_count: i64,
    credential: &'c str,
    sign_count: i64,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
            "UPDATE passkeys SET credential = $1, sign_count = $2, last_used_at = $3 \
         WHERE id = $4 AND sign_count = $5",
        )
        .bind(credential)
        .bind(sign_count)
        .bind(now)
        .bind(id)
        .bind(seen_count)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

pub fn rename_passkey<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    id: &'c str,
    name: &'c str,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Delete one of the user's passkeys; its name, when it existed.
pub fn delete_passkey<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    id: &'c str,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM passkeys WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
        if name.is_some() {
            sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(name)
    })
}

pub fn delete_passkeys<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}
