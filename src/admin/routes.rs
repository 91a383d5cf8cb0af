//! `/admin/*` routes: superusers only (403 `forbidden` for others; API keys are refused with
//! 403 `session_required` — administration is done by a person at a session, or at the CLI).

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Admin;
use super::service::{
    self, AdminUserView, AuditQuery, AuditView, CreateUser, OutboxView, UpdateUser,
};
use crate::error::ApiError;
use crate::http::paging::{Page, Paging};
use crate::http::{ApiJson, ClientInfo, CurrentUser, Json, parse_id};
use crate::state::AppState;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser(auth) = CurrentUser::from_request_parts(parts, state).await?;
        if !auth.user.role.is_superuser() {
            return Err(ApiError::Forbidden);
        }
        if auth.session_id().is_none() {
            return Err(ApiError::SessionRequired);
        }
        Ok(Admin {
            user_id: Some(auth.user.id.clone()),
        })
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(send_password_reset))
        .routes(routes!(unlock))
        .routes(routes!(revoke_sessions))
        .routes(routes!(audit))
        .routes(routes!(outbox))
}

fn text(q: &HashMap<String, String>, name: &str) -> Option<String> {
    q.get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Search users by email or nickname.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    params(("query" = Option<String>, Query), ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Page<AdminUserView>), (status = 403, description = "forbidden: not a superuser")))]
async fn list_users(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Page<AdminUserView>>, ApiError> {
    let paging = Paging::from_query(&q)?;
    service::list_users(
        &state,
        &admin,
        &text(&q, "query").unwrap_or_default(),
        paging,
    )
    .await
    .map(Json)
}

/// Create a user (email taken as verified).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = CreateUser,
    security(("session" = []), ("cookie" = [])),
    responses((status = 201, body = AdminUserView), (status = 403, description = "forbidden: not a superuser"), (status = 409, description = "email_taken"),
        (status = 422, description = "weak_password"), (status = 503, description = "busy")))]
async fn create_user(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<AdminUserView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service::create_user(&state, &admin, input).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/users/{id}", tag = "admin", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = AdminUserView), (status = 403, description = "forbidden: not a superuser"), (status = 404, description = "not_found")))]
async fn get_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<AdminUserView>, ApiError> {
    service::get_user(&state, &admin, &parse_id(&id)?)
        .await
        .map(Json)
}

/// Enable/disable, promote/demote, rename. Disabling revokes every session and API key at once.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", request_body = UpdateUser, params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = AdminUserView), (status = 403, description = "forbidden: not a superuser, or not on yourself"),
        (status = 404, description = "not_found")))]
async fn update_user(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateUser>,
) -> Result<Json<AdminUserView>, ApiError> {
    service::update_user(&state, &admin, &parse_id(&id)?, input, &client)
        .await
        .map(Json)
}

#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "forbidden: not a superuser, or not on yourself"),
        (status = 404, description = "not_found"), (status = 409, description = "tenant_has_members")))]
async fn delete_user(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::delete_user(&state, &admin, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift the user's sign-in and recovery locks, including the one of `max_consecutive_failures`.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "forbidden: not a superuser"), (status = 404, description = "not_found")))]
async fn unlock(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::unlock(&state, &admin, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail the user a password reset code and link.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/password-reset", tag = "admin", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 202), (status = 403, description = "forbidden: not a superuser"), (status = 404, description = "not_found")))]
async fn send_password_reset(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::send_password_reset(&state, &admin, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sign the user out everywhere.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/sessions", tag = "admin", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "forbidden: not a superuser"), (status = 404, description = "not_found")))]
async fn revoke_sessions(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::revoke_sessions(&state, &admin, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit trail, newest first; `since`/`until` are RFC 3339 times.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    params(("user_id" = Option<String>, Query), ("event" = Option<String>, Query), ("since" = Option<String>, Query),
        ("until" = Option<String>, Query), ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Page<AuditView>), (status = 403, description = "forbidden: not a superuser"),
        (status = 422, description = "validation_failed: since or until not RFC 3339, or a bad page")))]
async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Page<AuditView>>, ApiError> {
    let paging = Paging::from_query(&q)?;
    let query = AuditQuery {
        user_id: text(&q, "user_id"),
        event: text(&q, "event"),
        since: text(&q, "since")
            .map(|v| service::parse_time("since", &v))
            .transpose()?,
        until: text(&q, "until")
            .map(|v| service::parse_time("until", &v))
            .transpose()?,
    };
    service::audit(&state, &admin, query, paging)
        .await
        .map(Json)
}

/// The mail outbox without bodies; `status` is pending, sent or failed.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin",
    params(("status" = Option<String>, Query), ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Page<OutboxView>), (status = 403, description = "forbidden: not a superuser")))]
async fn outbox(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Page<OutboxView>>, ApiError> {
    let paging = Paging::from_query(&q)?;
    service::outbox(&state, &admin, text(&q, "status").as_deref(), paging)
        .await
        .map(Json)
}
