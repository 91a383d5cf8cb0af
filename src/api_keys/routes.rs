//! `/api-keys` routes (session only: a key cannot manage keys).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, CreateKey, KeyView};
use crate::error::ApiError;
use crate::http::{ApiJson, ClientInfo, Json, SessionUser, parse_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

/// Create an API key; `key` is shown only in this answer.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateKey,
    security(("session" = []), ("cookie" = [])),
    responses((status = 201, body = KeyView), (status = 403, description = "forbidden")))]
async fn create_key(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state, &auth, input, &client).await?),
    ))
}

/// The caller's API keys (without the keys themselves).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = [KeyView])))]
async fn list_keys(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    service::list(&state, &auth).await.map(Json)
}

/// Revoke one of the caller's API keys.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])), responses((status = 204), (status = 404, description = "not_found")))]
async fn revoke_key(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::revoke(&state, &auth, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
