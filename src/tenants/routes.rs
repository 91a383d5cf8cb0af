//! `/tenants…` and `/invitations/{token}/accept` routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{
    self, BroadcastInput, CreateTenant, InvitationOffer, InvitationView, InviteInput, MemberView,
    Queued, RoleInput, TenantView,
};
use crate::error::ApiError;
use crate::http::{ApiJson, ClientInfo, CurrentUser, Json, SessionUser, parse_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(list_members))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(invite, list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(show_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(broadcast))
}

/// The caller's teams and their role in each.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = [TenantView])))]
async fn list_tenants(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    service::list(&state, &auth).await.map(Json)
}

/// Create a team; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = CreateTenant,
    security(("session" = []), ("cookie" = [])),
    responses((status = 201, body = TenantView)))]
async fn create_tenant(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state, &auth, input, &client).await?),
    ))
}

/// Members of a team (members only; 404 for others).
#[utoipa::path(get, path = "/api/v1/tenants/{id}/members", tag = "tenants", params(("id" = String, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [MemberView]), (status = 404, description = "not_found")))]
async fn list_members(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    service::members(&state, &auth, &parse_id(&id)?)
        .await
        .map(Json)
}

/// Change a member's role (owner/admin; the owner role only by owners).
#[utoipa::path(patch, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "tenants", request_body = RoleInput,
    params(("id" = String, Path), ("user_id" = String, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MemberView), (status = 403, description = "forbidden"), (status = 404, description = "not_found"),
        (status = 409, description = "last_owner")))]
async fn update_member(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    client: ClientInfo,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<RoleInput>,
) -> Result<Json<MemberView>, ApiError> {
    let (id, user_id) = (parse_id(&id)?, parse_id(&user_id)?);
    service::update_member(&state, &auth, &id, &user_id, input, &client)
        .await
        .map(Json)
}

/// Remove a member (owner/admin), or leave the team (self).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}/members/{user_id}", tag = "tenants",
    params(("id" = String, Path), ("user_id" = String, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "forbidden"), (status = 404, description = "not_found"),
        (status = 409, description = "last_owner")))]
async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    client: ClientInfo,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service::remove_member(
        &state,
        &auth,
        &parse_id(&id)?,
        &parse_id(&user_id)?,
        &client,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invite an address to the team (owner/admin); a single-use link is mailed, valid 7 days.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/invitations", tag = "tenants", request_body = InviteInput, params(("id" = String, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = InvitationView), (status = 403, description = "forbidden"), (status = 404, description = "not_found"),
        (status = 429, description = "rate_limited")))]
async fn invite(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<InviteInput>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service::invite(&state, &auth, &parse_id(&id)?, input, &client).await?),
    ))
}

/// The team's pending invitations: not used, not expired (owner/admin).
#[utoipa::path(get, path = "/api/v1/tenants/{id}/invitations", tag = "tenants", params(("id" = String, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [InvitationView]), (status = 403, description = "forbidden"), (status = 404, description = "not_found")))]
async fn list_invitations(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<InvitationView>>, ApiError> {
    service::invitations(&state, &auth, &parse_id(&id)?)
        .await
        .map(Json)
}

/// Withdraw a pending invitation (owner/admin); its link stops working at once.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}/invitations/{invitation_id}", tag = "tenants",
    params(("id" = String, Path), ("invitation_id" = String, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "forbidden"), (status = 404, description = "not_found: no pending invitation of that id in this team")))]
async fn revoke_invitation(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    client: ClientInfo,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (id, invitation_id) = (parse_id(&id)?, parse_id(&invitation_id)?);
    service::revoke_invitation(&state, &auth, &id, &invitation_id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an invitation link offers (team, invited address, role, expiry), so a client can show it
/// before the holder signs in; the token from the mailed link is the credential.
#[utoipa::path(get, path = "/api/v1/invitations/{token}", tag = "tenants", params(("token" = String, Path)),
    responses((status = 200, body = InvitationOffer), (status = 400, description = "invalid_token: unknown, expired or used")))]
async fn show_invitation(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<InvitationOffer>, ApiError> {
    service::invitation(&state, &token).await.map(Json)
}

/// Accept an invitation as the signed-in user it was sent to.
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "tenants", params(("token" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 400, description = "invalid_token"), (status = 403, description = "invitation_email_mismatch")))]
async fn accept_invitation(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::accept(&state, &auth, &token, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail every member (owner/admin); `subject` and `body` may be given per language.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/broadcast", tag = "tenants", request_body = BroadcastInput, params(("id" = String, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 202, body = Queued), (status = 403, description = "forbidden"), (status = 404, description = "not_found"),
        (status = 429, description = "rate_limited")))]
async fn broadcast(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<BroadcastInput>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(service::broadcast(&state, &auth, &parse_id(&id)?, input, &client).await?),
    ))
}
