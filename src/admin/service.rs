//! Administration rules. Each function takes an [`Admin`], so nothing here runs unchecked.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Admin;
use super::store::{self, AuditFilter, AuditRow, OutboxRow};
use crate::accounts::{User, UserView};
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use crate::domain::{Email, Nickname, Password};
use crate::error::ApiError;
use crate::error::FieldProblem;
use crate::http::ClientInfo;
use crate::http::paging::{Page, Paging};
use crate::state::AppState;

/// A user as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub is_active: bool,
}

fn admin_view(user: &User) -> AdminUserView {
    AdminUserView {
        user: user.view(),
        is_active: user.is_active,
    }
}

pub async fn list_users(
    state: &AppState,
    _: &Admin,
    query: &str,
    paging: Paging,
) -> Result<Page<AdminUserView>, ApiError> {
    let (users, total) =
        store::search_users(&state.db, query, paging.limit(), paging.offset()).await?;
    Ok(paging.wrap(users.iter().map(admin_view).collect(), total))
}

async fn load(state: &AppState, id: &str) -> Result<User, ApiError> {
    crate::accounts::store::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn get_user(state: &AppState, _: &Admin, id: &str) -> Result<AdminUserView, ApiError> {
    Ok(admin_view(&load(state, id).await?))
}

/// Find a user by id or email (for the CLI).
pub async fn find_user(state: &AppState, _: &Admin, id_or_email: &str) -> Result<User, ApiError> {
    let by_id = match uuid::Uuid::parse_str(id_or_email) {
        Ok(id) => crate::accounts::store::find_by_id(&state.db, &id.to_string()).await?,
        Err(_) => None,
    };
    match by_id {
        Some(u) => Ok(u),
        None => crate::accounts::store::find_by_email(
            &state.db,
            &crate::domain::normalize_email(id_or_email),
        )
        .await?
        .ok_or(ApiError::NotFound),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(value_type = String, format = Email)]
    pub email: Email,
    #[schema(value_type = String)]
    pub nickname: Nickname,
    #[schema(value_type = String)]
    pub password: Password,
    #[serde(default)]
    pub is_superuser: bool,
}

pub async fn create_user(
    state: &AppState,
    _: &Admin,
    input: CreateUser,
) -> Result<AdminUserView, ApiError> {
    let user = crate::accounts::service::create_user(
        state,
        &input.email,
        &input.nickname,
        &input.password,
        input.is_superuser,
    )
    .await?;
    Ok(admin_view(&user))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Nickname>,
}

/// Change a user. Disabling revokes every session and API key at once; administrators cannot
/// disable or demote themselves (someone must be left to undo it).
pub async fn update_user(
    state: &AppState,
    admin: &Admin,
    id: &str,
    input: UpdateUser,
    client: &ClientInfo,
) -> Result<AdminUserView, ApiError> {
    let user = load(state, id).await?;
    let own = admin.user_id() == Some(id);
    if own && (input.is_active == Some(false) || input.is_superuser == Some(false)) {
        return Err(ApiError::Forbidden);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let update = crate::accounts::store::AdminUpdate {
        is_active: input.is_active.unwrap_or(user.is_active),
        is_superuser: input.is_superuser.unwrap_or(user.role.is_superuser()),
        nickname: input.nickname.as_ref().map_or(&user.nickname, |n| &n.0),
    };
    crate::accounts::store::update_by_admin(&mut tx, id, update, now).await?;
    let mut revoked = (0, 0);
    if input.is_active == Some(false) {
        let event = actor_event(admin, audit::Event::SessionRevoked, id, client);
        revoked.0 =
            crate::sessions::service::revoke_all_but(&mut tx, state, id, None, event).await?;
        revoked.1 = crate::api_keys::service::revoke_all(&mut tx, id).await?;
    }
    let changes = serde_json::json!({
        "is_active": input.is_active, "is_superuser": input.is_superuser,
        "nickname_changed": input.nickname.is_some(), "sessions_revoked": revoked.0, "api_keys_revoked": revoked.1,
    });
    audit::record(
        &mut tx,
        now,
        actor_event(admin, audit::Event::AdminUserUpdated, id, client).detail(changes),
    )
    .await?;
    tx.commit().await?;
    Ok(admin_view(&load(state, id).await?))
}

fn actor_event<'a>(
    admin: &'a Admin,
    event: audit::Event,
    subject: &'a str,
    client: &'a ClientInfo,
) -> AuditEvent<'a> {
    AuditEvent {
        event,
        actor_user_id: admin.user_id(),
        subject_user_id: Some(subject),
        tenant_id: None,
        client: Some(client),
        detail: serde_json::json!({}),
    }
}

pub async fn delete_user(
    state: &AppState,
    admin: &Admin,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    load(state, id).await?;
    if admin.user_id() == Some(id) {
        return Err(ApiError::Forbidden);
    }
    crate::accounts::service::erase_user(state, id, admin.user_id().unwrap_or(id), client).await
}

/// Mail the user a recovery code and link.
pub async fn send_password_reset(
    state: &AppState,
    _: &Admin,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let user = load(state, id).await?;
    crate::recovery::service::send_recovery_mail(state, &user.email_normalized, client).await
}

/// Lift the user's sign-in locks (the temporary one and the one of `max_consecutive_failures`)
/// and recovery-code locks, and forget their failures.
pub async fn unlock(
    state: &AppState,
    admin: &Admin,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let user = load(state, id).await?;
    crate::accounts::service::forget_login_failures(state, &user.email_normalized).await?;
    crate::recovery::service::forget_wrong_codes(state, &user.email_normalized).await?;
    let event = actor_event(admin, audit::Event::UserUnlocked, id, client);
    audit::record(&state.db, state.clock.now(), event).await?;
    Ok(())
}

pub async fn revoke_sessions(
    state: &AppState,
    admin: &Admin,
    id: &str,
    client: &ClientInfo,
) -> Result<u64, ApiError> {
    load(state, id).await?;
    let mut tx = state.db.begin().await?;
    let count = crate::sessions::service::revoke_all_but(
        &mut tx,
        state,
        id,
        None,
        actor_event(admin, audit::Event::SessionRevoked, id, client),
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub at: String,
    pub event: String,
    pub actor_user_id: Option<String>,
    pub subject_user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

fn audit_view(r: AuditRow) -> AuditView {
    AuditView {
        id: r.id,
        at: rfc3339(r.at),
        event: r.event,
        actor_user_id: r.actor_user_id,
        subject_user_id: r.subject_user_id,
        tenant_id: r.tenant_id,
        ip: r.ip,
        user_agent: r.user_agent,
        detail: serde_json::from_str(&r.detail).unwrap_or_default(),
    }
}

/// Parse an RFC 3339 time for a filter; a bad one is 422 naming `field`.
pub fn parse_time(field: &str, value: &str) -> Result<i64, ApiError> {
    crate::clock::parse_rfc3339(value).ok_or_else(|| ApiError::field(field, FieldProblem::Invalid))
}

pub struct AuditQuery {
    pub user_id: Option<String>,
    pub event: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

pub async fn audit(
    state: &AppState,
    _: &Admin,
    q: AuditQuery,
    paging: Paging,
) -> Result<Page<AuditView>, ApiError> {
    let filter = AuditFilter {
        user_id: q.user_id,
        event: q.event,
        since: q.since,
        until: q.until,
    };
    let (rows, total) =
        store::search_audit(&state.db, &filter, paging.limit(), paging.offset()).await?;
    Ok(paging.wrap(rows.into_iter().map(audit_view).collect(), total))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxView {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
}

pub async fn outbox(
    state: &AppState,
    _: &Admin,
    status: Option<&str>,
    paging: Paging,
) -> Result<Page<OutboxView>, ApiError> {
    if status.is_some_and(|s| !matches!(s, "pending" | "sent" | "failed")) {
        return Err(ApiError::field("status", FieldProblem::Invalid));
    }
    let (rows, total) = store::outbox(&state.db, status, paging.limit(), paging.offset()).await?;
    let items = rows
        .into_iter()
        .map(|r: OutboxRow| OutboxView {
            id: r.id,
            kind: r.kind,
            recipient: r.recipient,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: rfc3339(r.created_at),
            next_attempt_at: rfc3339(r.next_attempt_at),
            sent_at: r.sent_at.map(rfc3339),
        })
        .collect();
    Ok(paging.wrap(items, total))
}
