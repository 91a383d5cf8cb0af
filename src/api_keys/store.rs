//! SQL of the `api_keys` table.

use sqlx::Row;

use crate::accounts::User;
use crate::db::{Exec, StoreFuture};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub struct NewKey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub now: i64,
    pub expires_at: Option<i64>,
}

pub fn insert<'c>(ex: impl Exec<'c> + 'c, k: NewKey<'c>) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO api_keys (id, user_id, tenant_id, name, prefix, key_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(k.id)
    .bind(k.user_id)
    .bind(k.tenant_id)
    .bind(k.name)
    .bind(k.prefix)
    .bind(k.key_hash)
    .bind(k.now)
    .bind(k.expires_at)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

const COLUMNS: &str =
    "k.id, k.tenant_id, k.name, k.prefix, k.created_at, k.expires_at, k.last_used_at";

/// The key with this hash and its owner, in one round trip (a key whose owner left its tenant
/// is not found).
pub fn find_by_hash<'c>(
    ex: impl Exec<'c> + 'c,
    key_hash: &'c str,
) -> StoreFuture<'c, Option<(KeyRow, User)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let row = sqlx::query(
        "SELECT k.id AS k_id, k.tenant_id AS k_tenant_id, k.name AS k_name, k.prefix AS k_prefix, \
                k.created_at AS k_created_at, k.expires_at AS k_expires_at, k.last_used_at AS k_last_used_at, u.* \
         FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 \
         AND EXISTS (SELECT 1 FROM tenant_members m WHERE m.tenant_id = k.tenant_id AND m.user_id = k.user_id)",
    )
    .bind(key_hash)
    .fetch_optional(&mut *conn)
    .await?;
        let Some(row) = row else { return Ok(None) };
        let user = <User as sqlx::FromRow<_>>::from_row(&row)?;
        let key = KeyRow {
            id: row.try_get("k_id")?,
            tenant_id: row.try_get("k_tenant_id")?,
            name: row.try_get("k_name")?,
            prefix: row.try_get("k_prefix")?,
            created_at: row.try_get("k_created_at")?,
            expires_at: row.try_get("k_expires_at")?,
            last_used_at: row.try_get("k_last_used_at")?,
        };
        Ok(Some((key, user)))
    })
}

pub fn list_for_user<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, Vec<KeyRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys k WHERE k.user_id = $1 ORDER BY k.created_at DESC, k.id DESC"
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await
    })
}

/// Record use at most once a minute per key.
pub fn touch<'c>(ex: impl Exec<'c> + 'c, id: &'c str, now: i64) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)")
        .bind(now)
        .bind(id)
        .bind(now - 60)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}

/// Delete one of the user's keys in one statement; its (tenant id, name) when it existed.
pub fn delete_one<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    id: &'c str,
) -> StoreFuture<'c, Option<(String, String)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
            "DELETE FROM api_keys WHERE id = $1 AND user_id = $2 RETURNING tenant_id, name",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
    })
}

pub fn delete_all_for_user<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}

/// [`insert`] unless a key with that hash exists; true when inserted (imports run again).
pub fn insert_if_absent<'c>(ex: impl Exec<'c> + 'c, k: NewKey<'c>) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
        "INSERT INTO api_keys (id, user_id, tenant_id, name, prefix, key_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(k.id)
    .bind(k.user_id)
    .bind(k.tenant_id)
    .bind(k.name)
    .bind(k.prefix)
    .bind(k.key_hash)
    .bind(k.now)
    .bind(k.expires_at)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected() == 1)
    })
}
