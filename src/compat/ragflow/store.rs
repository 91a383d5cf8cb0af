//! SQL of the profile's tables (`ragflow_handles`, `ragflow_api_tokens`) and of its per-tenant
//! model settings (`tenants.settings`, under the `ragflow` key).

use crate::db::{Conn, Db};

pub async fn insert_handle(
    conn: &mut Conn,
    handle_hash: &str,
    session_id: &str,
    sealed_token: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ragflow_handles (handle_hash, session_id, sealed_token, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(handle_hash)
    .bind(session_id)
    .bind(sealed_token)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The sealed session token behind a handle.
pub async fn handle_token(db: &Db, handle_hash: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT sealed_token FROM ragflow_handles WHERE handle_hash = $1")
        .bind(handle_hash)
        .fetch_optional(db.pool())
        .await
}

pub async fn insert_api_token(
    db: &Db,
    api_key_id: &str,
    token_hash: &str,
    sealed_token: &str,
    beta: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut conn = db.pool().acquire().await?;
    insert_api_token_on(&mut conn, api_key_id, token_hash, sealed_token, beta, now).await
}

/// [`insert_api_token`] on the caller's connection or transaction.
pub async fn insert_api_token_on(
    conn: &mut Conn,
    api_key_id: &str,
    token_hash: &str,
    sealed_token: &str,
    beta: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ragflow_api_tokens (api_key_id, token_hash, sealed_token, beta, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(api_key_id)
    .bind(token_hash)
    .bind(sealed_token)
    .bind(beta)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub tenant_id: String,
    pub sealed_token: String,
    pub beta: String,
    pub created_at: i64,
}

/// The user's profile-made API tokens, oldest first.
pub async fn api_tokens(db: &Db, user_id: &str) -> Result<Vec<ApiTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.tenant_id, r.sealed_token, r.beta, r.created_at \
         FROM ragflow_api_tokens r JOIN api_keys k ON k.id = r.api_key_id \
         WHERE k.user_id = $1 ORDER BY r.created_at, r.api_key_id",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await
}

/// The API key id of one of the user's profile-made tokens.
pub async fn api_token_id(
    db: &Db,
    user_id: &str,
    token_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT r.api_key_id FROM ragflow_api_tokens r JOIN api_keys k ON k.id = r.api_key_id \
         WHERE k.user_id = $1 AND r.token_hash = $2",
    )
    .bind(user_id)
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await
}
