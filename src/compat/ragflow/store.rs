//! SQL of the profile's tables (`ragflow_handles`, `ragflow_api_tokens`) and of its per-tenant
//! model settings (`tenants.settings`, under the `ragflow` key).

use crate::db::{Exec, StoreFuture};

pub fn insert_handle<'c>(
    ex: impl Exec<'c> + 'c,
    handle_hash: &'c str,
    session_id: &'c str,
    sealed_token: &'c str,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO ragflow_handles (handle_hash, session_id, sealed_token, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(handle_hash)
    .bind(session_id)
    .bind(sealed_token)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

/// The sealed session token behind a handle.
pub fn handle_token<'c>(
    ex: impl Exec<'c> + 'c,
    handle_hash: &'c str,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT sealed_token FROM ragflow_handles WHERE handle_hash = $1")
            .bind(handle_hash)
            .fetch_optional(&mut *conn)
            .await
    })
}

/// Store the RAGFlow text of an API key (sealed, and its hash for lookup).
pub fn insert_api_token<'c>(
    ex: impl Exec<'c> + 'c,
    api_key_id: &'c str,
    token_hash: &'c str,
    sealed_token: &'c str,
    beta: &'c str,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO ragflow_api_tokens (api_key_id, token_hash, sealed_token, beta, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(api_key_id)
    .bind(token_hash)
    .bind(sealed_token)
    .bind(beta)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

#[derive(Debug, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub tenant_id: String,
    pub sealed_token: String,
    pub beta: String,
    pub created_at: i64,
}

/// The user's profile-made API tokens, oldest first.
pub fn api_tokens<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
) -> StoreFuture<'c, Vec<ApiTokenRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(
            "SELECT k.tenant_id, r.sealed_token, r.beta, r.created_at \
         FROM ragflow_api_tokens r JOIN api_keys k ON k.id = r.api_key_id \
         WHERE k.user_id = $1 ORDER BY r.created_at, r.api_key_id",
        )
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
    })
}

/// The API key id of one of the user's profile-made tokens.
pub fn api_token_id<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    token_hash: &'c str,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
            "SELECT r.api_key_id FROM ragflow_api_tokens r JOIN api_keys k ON k.id = r.api_key_id \
         WHERE k.user_id = $1 AND r.token_hash = $2",
        )
        .bind(user_id)
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await
    })
}
