//! `POST /captcha`.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, Challenge};
use crate::error::ApiError;
use crate::http::{ClientInfo, Json};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_captcha))
}

/// A new image captcha (one answer attempt per captcha). 404 when the captcha is turned off.
#[utoipa::path(post, path = "/api/v1/captcha", tag = "captcha",
    responses((status = 201, body = Challenge), (status = 404, description = "not_found: captcha turned off"),
        (status = 429, description = "rate_limited")))]
async fn create_captcha(
    State(state): State<AppState>,
    client: ClientInfo,
) -> Result<(StatusCode, Json<Challenge>), ApiError> {
    let challenge = service::create(&state, client.ip).await?;
    Ok((StatusCode::CREATED, Json(challenge)))
}
