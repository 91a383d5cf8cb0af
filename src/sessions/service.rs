//! Session rules: issue, authenticate (idle and absolute expiry, disabled users), list, revoke.

use serde::Serialize;
use utoipa::ToSchema;

use super::TOKEN_PREFIX;
use super::store::{self, SessionInsert};
use crate::accounts::User;
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use crate::db::Conn;
use crate::domain::SessionId;
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

/// Who is calling, as found from their credential.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Shared: the request keeps a copy of the caller for later extractors.
    pub user: std::sync::Arc<User>,
    pub credential: Credential,
}

/// What the caller presented: exactly one of a session or an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A session token (Bearer or cookie).
    Session(SessionId),
    /// An API key: the caller is limited to its tenant.
    ApiKey(crate::api_keys::KeyScope),
}

impl Authenticated {
    /// The caller's session; `None` for an API key.
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session(id) => Some(id.as_str()),
            Credential::ApiKey(_) => None,
        }
    }

    /// The caller's API key; `None` for a session.
    pub fn api_key(&self) -> Option<&crate::api_keys::KeyScope> {
        match &self.credential {
            Credential::ApiKey(key) => Some(key),
            Credential::Session(_) => None,
        }
    }

    /// May this caller act in `tenant_id` at all? An API key only in its own tenant.
    pub fn may_use_tenant(&self, tenant_id: &str) -> bool {
        self.api_key().is_none_or(|k| k.tenant_id == tenant_id)
    }
}

/// A session as returned by the response that creates it; the token is shown only there.
#[derive(Serialize, ToSchema)]
pub struct NewSession {
    pub id: String,
    pub token: String,
    pub expires_at: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("id", &self.id)
            .field("token", &"********")
            .finish()
    }
}

/// An entry of the caller's session list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
    /// How the session was authenticated: `pwd`, `otp`, `hwk`, `fed`.
    pub amr: Vec<String>,
}

fn effective_expiry(state: &AppState, last_seen_at: i64, absolute: i64) -> i64 {
    (last_seen_at + state.config.session_idle_timeout.secs()).min(absolute)
}

/// The authentication methods a sign-in by `method` alone proves.
pub fn default_amr(method: &str) -> &'static [&'static str] {
    match method {
        "password" => &["pwd"],
        "passkey" => &["hwk"],
        _ => &["fed"],
    }
}

/// Create a session for `user_id` inside the caller's transaction.
pub async fn issue(
    conn: &mut Conn,
    state: &AppState,
    user_id: &str,
    client: &ClientInfo,
    method: &str,
) -> Result<NewSession, ApiError> {
    issue_with_amr(conn, state, user_id, client, method, default_amr(method)).await
}

/// [`issue`] recording the methods `amr` that authenticated it (a second step adds one).
pub async fn issue_with_amr(
    conn: &mut Conn,
    state: &AppState,
    user_id: &str,
    client: &ClientInfo,
    method: &str,
    amr: &[&str],
) -> Result<NewSession, ApiError> {
    let now = state.clock.now();
    let token = new_token(TOKEN_PREFIX);
    let id = uuid::Uuid::now_v7().to_string();
    let expires_at = now + state.config.session_lifetime.secs();
    store::insert(
        &mut *conn,
        SessionInsert {
            id: &id,
            user_id,
            token_hash: &sha256_hex(&token),
            now,
            expires_at,
            ip: &client.ip.to_string(),
            user_agent: client.user_agent.as_deref(),
            auth_method: method,
            amr: &serde_json::to_string(amr).unwrap_or_else(|_| "[]".into()),
        },
    )
    .await?;
    metrics::counter!("gatehouse_sessions_created_total").increment(1);
    Ok(NewSession {
        id,
        token,
        expires_at: rfc3339(effective_expiry(state, now, expires_at)),
    })
}

/// The caller behind a session token, or `None` when the token is unknown, expired, idle too
/// long, or its user is disabled. No cache: a revoked session fails on every instance at once.
pub async fn authenticate(
    state: &AppState,
    token: &str,
) -> Result<Option<Authenticated>, ApiError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let Some((session, user)) = store::find_by_token_hash(&state.db, &sha256_hex(token)).await?
    else {
        return Ok(None);
    };
    let now = state.clock.now();
    if now >= effective_expiry(state, session.last_seen_at, session.expires_at) || !user.is_active {
        return Ok(None);
    }
    if now - session.last_seen_at >= 60 {
        store::touch(&state.db, &session.id, now).await?;
    }
    Ok(Some(Authenticated {
        user: user.into(),
        credential: Credential::Session(SessionId::new(session.id)),
    }))
}

pub async fn list(state: &AppState, auth: &Authenticated) -> Result<Vec<SessionInfo>, ApiError> {
    let now = state.clock.now();
    let rows = store::list_for_user(&state.db, &auth.user.id).await?;
    Ok(rows
        .into_iter()
        .filter(|s| now < effective_expiry(state, s.last_seen_at, s.expires_at))
        .map(|s| SessionInfo {
            current: auth.session_id() == Some(s.id.as_str()),
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            expires_at: rfc3339(effective_expiry(state, s.last_seen_at, s.expires_at)),
            amr: parse_amr(&s.amr),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect())
}

pub fn parse_amr(stored: &str) -> Vec<String> {
    serde_json::from_str(stored).unwrap_or_default()
}

/// Revoke one of the caller's sessions; another user's session is simply not found.
pub async fn revoke(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    if !store::delete_one(&mut tx, &auth.user.id, id).await? {
        return Err(ApiError::NotFound);
    }
    let event = AuditEvent::by_user(audit::Event::SessionRevoked, &auth.user.id, client)
        .detail(serde_json::json!({"session_id": id}));
    audit::record(&mut tx, state.clock.now(), event).await?;
    tx.commit().await?;
    metrics::counter!("gatehouse_sessions_revoked_total").increment(1);
    Ok(())
}

/// Revoke every session of the user but `keep`, recording why; runs in the caller's transaction.
pub async fn revoke_all_but(
    conn: &mut Conn,
    state: &AppState,
    user_id: &str,
    keep: Option<&str>,
    event: AuditEvent<'_>,
) -> Result<u64, ApiError> {
    let count = store::delete_all_but(&mut *conn, user_id, keep).await?;
    if count > 0 {
        let event = event.detail(serde_json::json!({"count": count}));
        audit::record(&mut *conn, state.clock.now(), event).await?;
        metrics::counter!("gatehouse_sessions_revoked_total").increment(count);
    }
    Ok(count)
}

/// Revoke every session of the caller but the current one.
pub async fn revoke_others(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
) -> Result<u64, ApiError> {
    let mut tx = state.db.begin().await?;
    let event = AuditEvent::by_user(audit::Event::SessionRevoked, &auth.user.id, client);
    let count = revoke_all_but(&mut tx, state, &auth.user.id, auth.session_id(), event).await?;
    tx.commit().await?;
    Ok(count)
}

/// Sign out: the current session ends.
pub async fn logout(
    state: &AppState,
    auth: &Authenticated,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let Some(session_id) = auth.session_id() else {
        return Err(ApiError::SessionRequired);
    };
    let mut tx = state.db.begin().await?;
    store::delete_one(&mut tx, &auth.user.id, session_id).await?;
    audit::record(
        &mut tx,
        state.clock.now(),
        AuditEvent::by_user(audit::Event::UserLogout, &auth.user.id, client),
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("gatehouse_sessions_revoked_total").increment(1);
    Ok(())
}

/// Remove sessions past their idle or absolute expiry (a periodic task; lookups already refuse them).
pub async fn purge_expired(state: &AppState) -> Result<u64, sqlx::Error> {
    let now = state.clock.now();
    let idle_since = now - state.config.session_idle_timeout.secs();
    store::delete_expired(&state.db, now, idle_since).await
}

/// True when `session_id` was opened by a provider sign-in (not a password) at or after `since`.
pub async fn is_recent_provider_login(
    state: &AppState,
    session_id: &str,
    since: i64,
) -> Result<bool, ApiError> {
    Ok(store::is_provider_login_since(&state.db, session_id, since).await?)
}
