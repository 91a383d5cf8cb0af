//! API key rules: create (the key is shown once), list, revoke, authenticate.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, KeyRow, NewKey};
use super::{KEY_PREFIX, KeyScope};
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::error::FieldProblem;
use crate::http::ClientInfo;
use crate::sessions::{Authenticated, Credential};
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

/// Characters of a key kept visible in lists (`ghk_` + 8).
const VISIBLE_PREFIX: usize = 12;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// Default: the caller's personal tenant.
    pub tenant_id: Option<String>,
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

/// An API key as listed (`key` only in the answer that creates it).
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl std::fmt::Debug for KeyView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyView")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn view(row: KeyRow, key: Option<String>) -> KeyView {
    KeyView {
        id: row.id,
        name: row.name,
        tenant_id: row.tenant_id,
        prefix: row.prefix,
        key,
        created_at: rfc3339(row.created_at),
        expires_at: row.expires_at.map(rfc3339),
        last_used_at: row.last_used_at.map(rfc3339),
    }
}

/// Create a key in a tenant the caller belongs to.
pub async fn create(
    state: &AppState,
    auth: &Authenticated,
    input: CreateKey,
    client: &ClientInfo,
) -> Result<KeyView, ApiError> {
    create_with_prefix(state, auth, input, client, KEY_PREFIX).await
}

/// [`create`] with another prefix (the RAGFlow profile's `ragflow-` tokens); the rules are the same.
pub async fn create_with_prefix(
    state: &AppState,
    auth: &Authenticated,
    input: CreateKey,
    client: &ClientInfo,
    prefix: &str,
) -> Result<KeyView, ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field("name", FieldProblem::Invalid));
    }
    if input
        .expires_in_days
        .is_some_and(|d| !(1..=3650).contains(&d))
    {
        return Err(ApiError::field("expires_in_days", FieldProblem::Invalid));
    }
    let user_id = &auth.user.id;
    let mut tx = state.db.begin().await?;
    let tenant_id = match input.tenant_id {
        Some(id) => {
            let id = uuid::Uuid::parse_str(&id)
                .map(|u| u.to_string())
                .map_err(|_| ApiError::Forbidden)?;
            crate::tenants::store::role_of(&mut tx, &id, user_id)
                .await?
                .ok_or(ApiError::Forbidden)?;
            id
        }
        None => crate::tenants::store::personal_tenant(&mut tx, user_id)
            .await?
            .ok_or(ApiError::Forbidden)?,
    };
    let key = new_token(prefix);
    let now = state.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let expires_at = input.expires_in_days.map(|d| now + d * 86400);
    store::insert(
        &mut tx,
        NewKey {
            id: &id,
            user_id,
            tenant_id: &tenant_id,
            name,
            prefix: &key[..VISIBLE_PREFIX],
            key_hash: &sha256_hex(&key),
            now,
            expires_at,
        },
    )
    .await?;
    let event = AuditEvent::by_user(audit::Event::ApiKeyCreated, user_id, client)
        .tenant(&tenant_id)
        .detail(serde_json::json!({"api_key_id": id, "name": name}));
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    let row = KeyRow {
        id,
        tenant_id,
        name: name.to_string(),
        prefix: key[..VISIBLE_PREFIX].to_string(),
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    Ok(view(row, Some(key)))
}

pub async fn list(state: &AppState, auth: &Authenticated) -> Result<Vec<KeyView>, ApiError> {
    Ok(store::list_for_user(&state.db, &auth.user.id)
        .await?
        .into_iter()
        .map(|r| view(r, None))
        .collect())
}

/// Revoke one of the caller's keys; it stops working on every instance at once.
pub async fn revoke(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    let (tenant_id, name) = store::delete_one(&mut tx, &auth.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let event = AuditEvent::by_user(audit::Event::ApiKeyRevoked, &auth.user.id, client)
        .tenant(&tenant_id)
        .detail(serde_json::json!({"api_key_id": id, "name": name}));
    audit::record(&mut tx, state.clock.now(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// The caller behind an API key, or `None` when it is unknown, expired, its owner disabled or no
/// longer a member of the key's tenant.
pub async fn authenticate(state: &AppState, key: &str) -> Result<Option<Authenticated>, ApiError> {
    if key.len() > 128 {
        return Ok(None);
    }
    let Some((row, user)) = store::find_by_hash(&state.db, &sha256_hex(key)).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    if row.expires_at.is_some_and(|at| at <= now) || !user.is_active {
        return Ok(None);
    }
    if row.last_used_at.is_none_or(|at| now - at >= 60) {
        store::touch(&state.db, &row.id, now).await?;
    }
    Ok(Some(Authenticated {
        user: user.into(),
        credential: Credential::ApiKey(KeyScope {
            id: row.id,
            tenant_id: row.tenant_id,
        }),
    }))
}

/// Revoke every key of a user (account disabled) inside the caller's transaction.
pub async fn revoke_all(conn: &mut crate::db::Conn, user_id: &str) -> Result<u64, ApiError> {
    Ok(store::delete_all_for_user(&mut *conn, user_id).await?)
}

/// A key made elsewhere, brought over with its text (RAGFlow's `ragflow-…` tokens).
pub struct ImportedKey<'a> {
    /// Where it comes from, for the audit trail (`ragflow`).
    pub source: &'a str,
    pub user_id: &'a str,
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub key: &'a str,
    pub created_at: i64,
}

/// Store an imported key in the caller's transaction; the new key's id, or `None` when a key
/// with that text exists (imports run again).
pub async fn import(
    conn: &mut crate::db::Conn,
    k: ImportedKey<'_>,
    now: i64,
) -> Result<Option<String>, ApiError> {
    let id = uuid::Uuid::now_v7().to_string();
    let prefix: String = k.key.chars().take(VISIBLE_PREFIX).collect();
    let inserted = store::insert_if_absent(
        &mut *conn,
        NewKey {
            id: &id,
            user_id: k.user_id,
            tenant_id: k.tenant_id,
            name: k.name,
            prefix: &prefix,
            key_hash: &sha256_hex(k.key),
            now: k.created_at,
            expires_at: None,
        },
    )
    .await?;
    if !inserted {
        return Ok(None);
    }
    let event = AuditEvent {
        event: audit::Event::ApiKeyCreated,
        actor_user_id: None,
        subject_user_id: Some(k.user_id),
        tenant_id: Some(k.tenant_id),
        client: None,
        detail: serde_json::json!({"api_key_id": id, "name": k.name, "imported_from": k.source}),
    };
    audit::record(&mut *conn, now, event).await?;
    Ok(Some(id))
}
