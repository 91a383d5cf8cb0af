//! `/tenants…` (§2) over the native team rules: members only, managers to invite and remove.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::Profile;
use super::auth::{Body, Client, RagUser};
use super::wire::{self, code, http_date, native_id, rag_id};
use crate::domain::Email;
use crate::error::ApiError;
use crate::tenants::service::{self as tenants, InviteInput, Role};

/// gatehouse's roles in RAGFlow's words (`member` is RAGFlow's `normal`).
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "normal",
    }
}

fn date(rfc3339: &str) -> Value {
    crate::clock::parse_rfc3339(rfc3339)
        .map(|t| Value::String(http_date(t)))
        .unwrap_or(Value::Null)
}

fn team_fault(e: ApiError) -> Response {
    match e {
        ApiError::NotFound | ApiError::Forbidden => {
            wire::fail(code::AUTHENTICATION_ERROR, "no authorization")
        }
        ApiError::LastOwner => wire::data_error("The last owner cannot leave the team."),
        other => wire::fault(other),
    }
}

/// `GET /tenants`: the teams the caller belongs to.
pub async fn list(State(p): State<Profile>, RagUser(auth): RagUser) -> Response {
    match tenants::list(&p.app, &auth).await {
        Ok(list) => wire::ok(Value::Array(
            list.into_iter()
                .map(|t| {
                    json!({"tenant_id": rag_id(&t.id), "role": role_name(t.role), "nickname": t.name,
                        "email": null, "avatar": null, "update_date": date(&t.created_at),
                        "delta_seconds": 0})
                })
                .collect(),
        )),
        Err(e) => team_fault(e),
    }
}

/// `GET /tenants/{tid}/users`: the members other than owners.
pub async fn members(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Path(tenant_id): Path<String>,
) -> Response {
    match tenants::members(&p.app, &auth, &native_id(&tenant_id)).await {
        Ok(list) => wire::ok(Value::Array(
            list.into_iter()
                .filter(|m| m.role != Role::Owner)
                .map(|m| {
                    json!({"id": rag_id(&m.user_id), "user_id": rag_id(&m.user_id), "status": "1",
                        "role": role_name(m.role), "nickname": m.nickname, "email": m.email,
                        "avatar": null, "is_authenticated": "1", "is_active": "1",
                        "is_anonymous": "0", "is_superuser": false,
                        "update_date": date(&m.joined_at), "delta_seconds": 0})
                })
                .collect(),
        )),
        Err(e) => team_fault(e),
    }
}

/// `POST /tenants/{tid}/users {email}`: invite the address as a member (the native invitation
/// mail with its single-use link; joining needs the invitee's consent).
pub async fn invite(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Client(client): Client,
    Path(tenant_id): Path<String>,
    body: Body,
) -> Response {
    let raw = body.text("email").unwrap_or_default();
    let Some(email) = Email::parse(&raw) else {
        return wire::missing(&["email"]);
    };
    let input = InviteInput {
        email,
        role: Role::Member,
    };
    match tenants::invite(&p.app, &auth, &native_id(&tenant_id), input, &client).await {
        Ok(inv) => wire::ok(
            json!({"id": rag_id(&inv.id), "avatar": null, "email": inv.email, "nickname": ""}),
        ),
        Err(e) => team_fault(e),
    }
}

/// `DELETE /tenants/{tid}/users {user_id}`: remove a member, or leave.
pub async fn remove(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Client(client): Client,
    Path(tenant_id): Path<String>,
    body: Body,
) -> Response {
    let Some(user_id) = body.text("user_id") else {
        return wire::missing(&["user_id"]);
    };
    match tenants::remove_member(
        &p.app,
        &auth,
        &native_id(&tenant_id),
        &native_id(&user_id),
        &client,
    )
    .await
    {
        Ok(()) => wire::ok(Value::Bool(true)),
        Err(e) => team_fault(e),
    }
}

/// `PATCH /tenants/{tid}`: accept the caller's open invitation to that team (RAGFlow accepts by
/// team id; the invitation is still bound to the caller's email).
pub async fn accept(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Client(client): Client,
    Path(tenant_id): Path<String>,
) -> Response {
    match tenants::accept_for_tenant(&p.app, &auth, &native_id(&tenant_id), &client).await {
        Ok(()) => wire::ok(Value::Bool(true)),
        Err(e) => team_fault(e),
    }
}
