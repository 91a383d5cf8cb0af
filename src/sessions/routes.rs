//! `/users/me/sessions` routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, SessionInfo};
use crate::error::ApiError;
use crate::http::{ClientInfo, Json, SessionUser, parse_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, revoke_other_sessions))
        .routes(routes!(revoke_session))
}

/// The caller's active sessions.
#[utoipa::path(get, path = "/api/v1/users/me/sessions", tag = "sessions", security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = [SessionInfo])))]
async fn list_sessions(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    service::list(&state, &auth).await.map(Json)
}

/// Revoke one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/users/me/sessions/{id}", tag = "sessions", security(("session" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 204), (status = 404, description = "not_found (also another user's session)")))]
async fn revoke_session(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::revoke(&state, &auth, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke every session but the current one.
#[utoipa::path(delete, path = "/api/v1/users/me/sessions", tag = "sessions", security(("session" = []), ("cookie" = [])),
    responses((status = 204)))]
async fn revoke_other_sessions(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
) -> Result<StatusCode, ApiError> {
    service::revoke_others(&state, &auth, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
