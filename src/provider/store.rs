//! SQL of the OpenID Provider's tables: clients, remembered consent and refresh tokens.

use sqlx::Row;

use crate::db::{Exec, StoreFuture, flag, is_set};

#[derive(Clone)]
pub struct ClientRow {
    pub id: String,
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    pub allowed_scopes: Vec<String>,
    pub id_token_signed_response_alg: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ClientRow {
    pub fn is_public(&self) -> bool {
        self.client_type == "public"
    }
}

fn list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn client_from(row: &sqlx::any::AnyRow) -> Result<ClientRow, sqlx::Error> {
    Ok(ClientRow {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        secret_hash: row.try_get("secret_hash")?,
        name: row.try_get("name")?,
        client_type: row.try_get("client_type")?,
        redirect_uris: list(&row.try_get::<String, _>("redirect_uris")?),
        post_logout_redirect_uris: list(&row.try_get::<String, _>("post_logout_redirect_uris")?),
        first_party: is_set(row.try_get("first_party")?),
        allowed_scopes: list(&row.try_get::<String, _>("allowed_scopes")?),
        id_token_signed_response_alg: row.try_get("id_token_signed_response_alg")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub fn insert_client<'c>(ex: impl Exec<'c> + 'c, c: &'c ClientRow) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO oauth_clients (id, client_id, secret_hash, name, client_type, redirect_uris, \
         post_logout_redirect_uris, first_party, allowed_scopes, id_token_signed_response_alg, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&c.id)
    .bind(&c.client_id)
    .bind(&c.secret_hash)
    .bind(&c.name)
    .bind(&c.client_type)
    .bind(json(&c.redirect_uris))
    .bind(json(&c.post_logout_redirect_uris))
    .bind(flag(c.first_party))
    .bind(json(&c.allowed_scopes))
    .bind(&c.id_token_signed_response_alg)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

pub fn update_client<'c>(ex: impl Exec<'c> + 'c, c: &'c ClientRow) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
            "UPDATE oauth_clients SET secret_hash = $2, name = $3, client_type = $4, \
         redirect_uris = $5, post_logout_redirect_uris = $6, first_party = $7, \
         allowed_scopes = $8, id_token_signed_response_alg = $9, updated_at = $10 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.secret_hash)
        .bind(&c.name)
        .bind(&c.client_type)
        .bind(json(&c.redirect_uris))
        .bind(json(&c.post_logout_redirect_uris))
        .bind(flag(c.first_party))
        .bind(json(&c.allowed_scopes))
        .bind(&c.id_token_signed_response_alg)
        .bind(c.updated_at)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}

pub fn delete_client<'c>(ex: impl Exec<'c> + 'c, id: &'c str) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        // Consents and refresh tokens go with the client (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() > 0)
    })
}

pub fn client_by_id<'c>(ex: impl Exec<'c> + 'c, id: &'c str) -> StoreFuture<'c, Option<ClientRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("SELECT * FROM oauth_clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(client_from)
            .transpose()
    })
}

pub fn client_by_client_id<'c>(
    ex: impl Exec<'c> + 'c,
    client_id: &'c str,
) -> StoreFuture<'c, Option<ClientRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        if client_id.is_empty() || client_id.len() > 128 {
            return Ok(None);
        }
        sqlx::query("SELECT * FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(client_from)
            .transpose()
    })
}

pub fn list_clients<'c>(
    ex: impl Exec<'c> + 'c,
    limit: i64,
    offset: i64,
) -> StoreFuture<'c, (Vec<ClientRow>, i64)> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oauth_clients")
            .fetch_one(&mut *conn)
            .await?;
        let rows =
            sqlx::query("SELECT * FROM oauth_clients ORDER BY created_at, id LIMIT $1 OFFSET $2")
                .bind(limit)
                .bind(offset)
                .fetch_all(&mut *conn)
                .await?;
        let clients = rows.iter().map(client_from).collect::<Result<_, _>>()?;
        Ok((clients, total))
    })
}

// --- consent -----------------------------------------------------------------------------------

/// The scopes among `scopes` the user has already granted to the client.
pub fn granted_scopes<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    client: &'c str,
) -> StoreFuture<'c, Vec<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client)
            .fetch_all(&mut *conn)
            .await
    })
}

pub fn grant<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    client: &'c str,
    scope: &'c str,
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "INSERT INTO oauth_consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, client_id, scope) DO NOTHING",
    )
    .bind(user_id)
    .bind(client)
    .bind(scope)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

// --- refresh tokens ----------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub id: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewRefresh<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub scope: &'a str,
    pub auth_time: i64,
    pub now: i64,
    pub expires_at: i64,
}

pub fn insert_refresh<'c>(ex: impl Exec<'c> + 'c, r: NewRefresh<'c>) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
            "INSERT INTO oauth_refresh_tokens (id, token_hash, family_id, client_id, user_id, \
         session_id, scope, auth_time, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(r.token_hash)
        .bind(r.family_id)
        .bind(r.client_id)
        .bind(r.user_id)
        .bind(r.session_id)
        .bind(r.scope)
        .bind(r.auth_time)
        .bind(r.now)
        .bind(r.expires_at)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}

pub fn refresh_by_hash<'c>(
    ex: impl Exec<'c> + 'c,
    hash: &'c str,
) -> StoreFuture<'c, Option<RefreshRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let row = sqlx::query("SELECT * FROM oauth_refresh_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RefreshRow {
            id: row.try_get("id")?,
            family_id: row.try_get("family_id")?,
            client_id: row.try_get("client_id")?,
            user_id: row.try_get("user_id")?,
            session_id: row.try_get("session_id")?,
            scope: row.try_get("scope")?,
            auth_time: row.try_get("auth_time")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        }))
    })
}

/// Mark a refresh token used; false when another request used or revoked it first.
pub fn claim_refresh<'c>(ex: impl Exec<'c> + 'c, id: &'c str, now: i64) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
            "UPDATE oauth_refresh_tokens SET used_at = $2 \
         WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

pub fn revoke_family<'c>(
    ex: impl Exec<'c> + 'c,
    family_id: &'c str,
    now: i64,
) -> StoreFuture<'c, u64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query(
        "UPDATE oauth_refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
        Ok(done.rows_affected())
    })
}

/// Is the gatehouse session behind a token still there (not revoked, not expired), and its
/// user still enabled?
pub fn session_alive<'c>(
    ex: impl Exec<'c> + 'c,
    session_id: &'c str,
    user_id: &'c str,
    now: i64,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        Ok(live_session_amr(ex, session_id, user_id, now)
            .await?
            .is_some())
    })
}

/// How a live session (see [`session_alive`]) was proven: its `amr` as stored, a JSON list;
/// `None` when the session has ended or its user is disabled. One query for both answers.
pub fn live_session_amr<'c>(
    ex: impl Exec<'c> + 'c,
    session_id: &'c str,
    user_id: &'c str,
    now: i64,
) -> StoreFuture<'c, Option<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar(
            "SELECT s.amr FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.expires_at > $3 AND u.is_active = 1",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
    })
}

/// How the session was proven and when: `(amr as stored, a JSON list; created_at)`.
pub fn session_origin<'c>(
    ex: impl Exec<'c> + 'c,
    session_id: &'c str,
) -> StoreFuture<'c, Option<(String, i64)>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let row = sqlx::query("SELECT amr, created_at FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| Ok((r.try_get("amr")?, r.try_get("created_at")?)))
            .transpose()
    })
}

/// The user's teams as `tenant_id:role`.
pub fn groups<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, Vec<String>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let rows = sqlx::query(
        "SELECT tenant_id, role FROM tenant_members WHERE user_id = $1 ORDER BY joined_at, tenant_id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
        rows.iter()
            .map(|r| {
                Ok(format!(
                    "{}:{}",
                    r.try_get::<String, _>("tenant_id")?,
                    r.try_get::<String, _>("role")?
                ))
            })
            .collect()
    })
}
