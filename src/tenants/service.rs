//! Team rules: membership and roles (owner > admin > member), invitations, broadcast. An outsider
//! learns nothing (404); a member without the role is refused (403).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, MemberRow, NewInvitation};
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use futures_util::future::BoxFuture;

use crate::db::Exec;
use crate::domain::Email;
use crate::error::ApiError;
use crate::error::FieldProblem;
use crate::http::ClientInfo;
use crate::i18n::Lang;
use crate::mail::{self, Template};
use crate::sessions::Authenticated;
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

/// How long an invitation stays open (imported ones too).
pub const INVITATION_TTL: i64 = 7 * 86400;
/// Broadcasts a tenant may send per hour.
const BROADCASTS_PER_HOUR: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Whether a manager with this role may grant, withdraw or take away `role`: only owners
    /// touch the owner role (the one rule behind invite, withdraw, role change and removal).
    fn reaches(self, role: Role) -> bool {
        role <= self
    }

    fn parse(s: &str) -> Self {
        match s {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            _ => Self::Member,
        }
    }
}

/// The caller's role in `tenant_id`; 404 for outsiders and for API keys of other tenants.
/// Boxed like the store functions it calls (see [`crate::db::StoreFuture`]).
fn membership<'c>(
    ex: impl Exec<'c> + 'c,
    auth: &'c Authenticated,
    tenant_id: &'c str,
) -> BoxFuture<'c, Result<Role, ApiError>> {
    Box::pin(async move {
        if !auth.may_use_tenant(tenant_id) {
            return Err(ApiError::NotFound);
        }
        let role = store::role_of(ex, tenant_id, &auth.user.id)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(Role::parse(&role))
    })
}

/// The caller's role in `tenant_id`, for other features that act in a team (the RAGFlow
/// profile): 404 for outsiders and for API keys of other tenants.
pub async fn require_member(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
) -> Result<Role, ApiError> {
    membership(&state.db, auth, tenant_id).await
}

/// [`require_member`] for what only an owner or admin may do (403 for other members).
pub async fn require_manager(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
) -> Result<Role, ApiError> {
    manager(&state.db, auth, tenant_id).await
}

/// The caller's role, which must be owner or admin.
fn manager<'c>(
    ex: impl Exec<'c> + 'c,
    auth: &'c Authenticated,
    tenant_id: &'c str,
) -> BoxFuture<'c, Result<Role, ApiError>> {
    Box::pin(async move {
        let role = membership(ex, auth, tenant_id).await?;
        if role < Role::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(role)
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub nickname: String,
    pub role: Role,
    pub joined_at: String,
}

fn member_view(m: MemberRow) -> MemberView {
    MemberView {
        role: Role::parse(&m.role),
        user_id: m.user_id,
        email: m.email,
        nickname: m.nickname,
        joined_at: rfc3339(m.joined_at),
    }
}

/// The caller's tenants (an API key sees only its own).
pub async fn list(state: &AppState, auth: &Authenticated) -> Result<Vec<TenantView>, ApiError> {
    let rows = store::list_for_user(&state.db, &auth.user.id).await?;
    Ok(rows
        .into_iter()
        .filter(|(id, ..)| auth.may_use_tenant(id))
        .map(|(id, name, role, created_at)| TenantView {
            id,
            name,
            role: Role::parse(&role),
            created_at: rfc3339(created_at),
        })
        .collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
}

fn tenant_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field("name", FieldProblem::Invalid));
    }
    Ok(name.to_string())
}

/// Create a team with the caller as its owner.
pub async fn create(
    state: &AppState,
    auth: &Authenticated,
    input: CreateTenant,
    client: &ClientInfo,
) -> Result<TenantView, ApiError> {
    let name = tenant_name(&input.name)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let id = store::create_with_owner(&mut tx, &name, &auth.user.id, false, now).await?;
    let event = AuditEvent::by_user(audit::Event::TenantCreated, &auth.user.id, client)
        .tenant(&id)
        .detail(serde_json::json!({"name": name}));
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    Ok(TenantView {
        id,
        name,
        role: Role::Owner,
        created_at: rfc3339(now),
    })
}

pub async fn members(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
) -> Result<Vec<MemberView>, ApiError> {
    membership(&state.db, auth, tenant_id).await?;
    Ok(store::members(&state.db, tenant_id)
        .await?
        .into_iter()
        .map(member_view)
        .collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    #[schema(value_type = String, format = Email)]
    pub email: Email,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: String,
}

/// Invite an address; the mail carries a single-use link valid for 7 days. Only owners invite owners.
pub async fn invite(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
    input: InviteInput,
    client: &ClientInfo,
) -> Result<InvitationView, ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let role = manager(&mut tx, auth, tenant_id).await?;
    if !role.reaches(input.role) {
        return Err(ApiError::Forbidden);
    }
    crate::codes::mail_limits(state, &crate::codes::INVITATIONS, &auth.user.id, client.ip).await?;
    let tenant = store::name_of(&mut tx, tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let token = new_token("");
    let id = uuid::Uuid::now_v7().to_string();
    let expires_at = now + INVITATION_TTL;
    store::insert_invitation(
        &mut tx,
        NewInvitation {
            id: &id,
            tenant_id,
            email: &input.email.display,
            email_normalized: &input.email.normalized,
            role: input.role.as_str(),
            token_hash: &sha256_hex(&token),
            invited_by: &auth.user.id,
            now,
            expires_at,
        },
    )
    .await?;
    let invitee = crate::accounts::store::find_by_email(&state.db, &input.email.normalized).await?;
    let lang = invitee
        .map(|u| u.lang())
        .unwrap_or_else(|| auth.user.lang());
    let link = mail::link(state, &format!("/invitations/{token}"));
    let template = Template::Invitation {
        inviter: &auth.user.nickname,
        tenant: &tenant,
        link: &link,
    };
    mail::enqueue(&mut tx, state, &input.email.display, &template, lang).await?;
    let event = AuditEvent::by_user(audit::Event::TenantMemberInvited, &auth.user.id, client)
        .tenant(tenant_id)
        .detail(serde_json::json!({"invitation_id": id, "role": input.role.as_str()}));
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    Ok(InvitationView {
        id,
        tenant_id: tenant_id.to_string(),
        email: input.email.display,
        role: input.role,
        expires_at: rfc3339(expires_at),
    })
}

/// A team's pending invitations (owner/admin).
pub async fn invitations(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
) -> Result<Vec<InvitationView>, ApiError> {
    manager(&state.db, auth, tenant_id).await?;
    let now = state.clock.now();
    Ok(store::pending_invitations(&state.db, tenant_id, now)
        .await?
        .into_iter()
        .map(|(id, email, role, expires_at)| InvitationView {
            id,
            tenant_id: tenant_id.to_string(),
            email,
            role: Role::parse(&role),
            expires_at: rfc3339(expires_at),
        })
        .collect())
}

/// Withdraw a pending invitation (owner/admin; only owners withdraw an owner invitation, as only
/// they make one): its link stops working at once.
pub async fn revoke_invitation(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
    invitation_id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let caller = manager(&mut tx, auth, tenant_id).await?;
    let role = store::delete_invitation(&mut tx, tenant_id, invitation_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !caller.reaches(Role::parse(&role)) {
        return Err(ApiError::Forbidden);
    }
    let event = AuditEvent::by_user(audit::Event::TenantInvitationRevoked, &auth.user.id, client)
        .tenant(tenant_id)
        .detail(serde_json::json!({"invitation_id": invitation_id, "role": role}));
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    Ok(())
}

/// What an invitation link offers, for the person holding it (the link is the credential).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationOffer {
    /// The team's name.
    pub tenant_name: String,
    /// The address it was sent to; only an account with this address can accept.
    pub email: String,
    pub role: Role,
    pub expires_at: String,
}

/// The live invitation behind `token`; `invalid_token` when unknown, expired or used.
pub async fn invitation(state: &AppState, token: &str) -> Result<InvitationOffer, ApiError> {
    let now = state.clock.now();
    let (tenant_name, email, role, expires_at) =
        store::invitation_offer(&state.db, &sha256_hex(token.trim()), now)
            .await?
            .ok_or(ApiError::InvalidToken)?;
    Ok(InvitationOffer {
        tenant_name,
        email,
        role: Role::parse(&role),
        expires_at: rfc3339(expires_at),
    })
}

/// Accept an invitation as the signed-in user whose email it was sent to.
pub async fn accept(
    state: &AppState,
    auth: &Authenticated,
    token: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (id, tenant_id, email, role) =
        store::live_invitation(&mut tx, &sha256_hex(token.trim()), now)
            .await?
            .ok_or(ApiError::InvalidToken)?;
    if email != auth.user.email_normalized {
        return Err(ApiError::InvitationEmailMismatch);
    }
    if !store::claim_invitation(&mut tx, &id, &auth.user.id, now).await? {
        return Err(ApiError::InvalidToken);
    }
    if store::add_member(&mut tx, &tenant_id, &auth.user.id, &role, now).await? {
        let event = AuditEvent::by_user(audit::Event::TenantMemberJoined, &auth.user.id, client)
            .tenant(&tenant_id)
            .detail(serde_json::json!({"invitation_id": id, "role": role}));
        audit::record(&mut tx, now, event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Accept the signed-in user's open invitation to `tenant_id` without its link: for clients
/// that accept by team (RAGFlow's `PATCH /tenants/{id}`, and imported RAGFlow invitations, which
/// were never mailed). The invitation is still bound to the user's email. `NotFound` when none.
pub async fn accept_for_tenant(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (id, role) =
        store::live_invitation_for(&mut tx, tenant_id, &auth.user.email_normalized, now)
            .await?
            .ok_or(ApiError::NotFound)?;
    if !store::claim_invitation(&mut tx, &id, &auth.user.id, now).await? {
        return Err(ApiError::NotFound);
    }
    if store::add_member(&mut tx, tenant_id, &auth.user.id, &role, now).await? {
        let event = AuditEvent::by_user(audit::Event::TenantMemberJoined, &auth.user.id, client)
            .tenant(tenant_id)
            .detail(serde_json::json!({"invitation_id": id, "role": role}));
        audit::record(&mut tx, now, event).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub role: Role,
}

/// Change a member's role. Only owners grant or take the owner role; the last owner stays.
pub async fn update_member(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
    user_id: &str,
    input: RoleInput,
    client: &ClientInfo,
) -> Result<MemberView, ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let caller = manager(&mut tx, auth, tenant_id).await?;
    let target = store::member(&mut tx, tenant_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let current = Role::parse(&target.role);
    if !caller.reaches(current) || !caller.reaches(input.role) {
        return Err(ApiError::Forbidden);
    }
    if current == Role::Owner
        && input.role != Role::Owner
        && store::count_owners(&mut tx, state.db.backend(), tenant_id).await? <= 1
    {
        return Err(ApiError::LastOwner);
    }
    store::set_role(&mut tx, tenant_id, user_id, input.role.as_str()).await?;
    let updated = store::member(&mut tx, tenant_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if current != input.role {
        let event = AuditEvent {
            event: audit::Event::TenantMemberRoleChanged,
            actor_user_id: Some(&auth.user.id),
            subject_user_id: Some(user_id),
            tenant_id: Some(tenant_id),
            client: Some(client),
            detail: serde_json::json!({"from": current.as_str(), "to": input.role.as_str()}),
        };
        audit::record(&mut tx, now, event).await?;
    }
    tx.commit().await?;
    Ok(member_view(updated))
}

/// Remove a member (owners/admins), or leave (anyone, for themselves). Admins cannot remove owners.
pub async fn remove_member(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
    user_id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let caller = membership(&mut tx, auth, tenant_id).await?;
    let target = store::member(&mut tx, tenant_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let target_role = Role::parse(&target.role);
    let leaving = user_id == auth.user.id;
    if !leaving && (caller < Role::Admin || !caller.reaches(target_role)) {
        return Err(ApiError::Forbidden);
    }
    if target_role == Role::Owner
        && store::count_owners(&mut tx, state.db.backend(), tenant_id).await? <= 1
    {
        return Err(ApiError::LastOwner);
    }
    store::remove_member(&mut tx, tenant_id, user_id).await?;
    let event = AuditEvent {
        event: audit::Event::TenantMemberRemoved,
        actor_user_id: Some(&auth.user.id),
        subject_user_id: Some(user_id),
        tenant_id: Some(tenant_id),
        client: Some(client),
        detail: serde_json::json!({"left": leaving}),
    };
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    Ok(())
}

/// A text, or one text per language (`{"en": …, "zh-CN": …}`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Localized {
    One(String),
    PerLanguage(BTreeMap<String, String>),
}

impl Localized {
    /// The text for `lang`, else English, else any.
    fn pick(&self, lang: Lang) -> Option<&str> {
        match self {
            Self::One(s) => Some(s),
            Self::PerLanguage(map) => map
                .get(lang.as_str())
                .or_else(|| map.get("en"))
                .or_else(|| map.values().next())
                .map(String::as_str),
        }
    }

    fn valid(&self, max: usize) -> bool {
        let ok = |s: &String| !s.trim().is_empty() && s.chars().count() <= max;
        match self {
            Self::One(s) => ok(s),
            Self::PerLanguage(map) => {
                !map.is_empty()
                    && map.values().all(ok)
                    && map.keys().all(|k| Lang::parse(k).is_some())
            }
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastInput {
    pub subject: Localized,
    pub body: Localized,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    pub queued: usize,
}

/// Queue one mail per member, in each member's language where the text has it.
pub async fn broadcast(
    state: &AppState,
    auth: &Authenticated,
    tenant_id: &str,
    input: BroadcastInput,
    client: &ClientInfo,
) -> Result<Queued, ApiError> {
    if !input.subject.valid(200) {
        return Err(ApiError::field("subject", FieldProblem::Invalid));
    }
    if !input.body.valid(20_000) {
        return Err(ApiError::field("body", FieldProblem::Invalid));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    manager(&mut tx, auth, tenant_id).await?;
    let key = format!("broadcast:{tenant_id}");
    if state.kv.incr(&key, Duration::from_secs(3600)).await? > BROADCASTS_PER_HOUR {
        let left = state
            .kv
            .ttl(&key)
            .await?
            .map(|d| d.as_secs())
            .unwrap_or(3600);
        return Err(ApiError::RateLimited {
            retry_after: left.max(1),
        });
    }
    let tenant = store::name_of(&mut tx, tenant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let members = store::members(&mut tx, tenant_id).await?;
    for m in &members {
        let lang = Lang::parse(&m.language).unwrap_or_default();
        let (subject, body) = (
            input.subject.pick(lang).unwrap_or_default(),
            input.body.pick(lang).unwrap_or_default(),
        );
        mail::enqueue(
            &mut tx,
            state,
            &m.email,
            &Template::Broadcast {
                tenant: &tenant,
                subject,
                body,
            },
            lang,
        )
        .await?;
    }
    let event = AuditEvent::by_user(audit::Event::TenantBroadcast, &auth.user.id, client)
        .tenant(tenant_id)
        .detail(serde_json::json!({"recipients": members.len()}));
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    Ok(Queued {
        queued: members.len(),
    })
}
