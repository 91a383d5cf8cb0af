//! `/auth/password/forgot`, `/auth/password/forgot/verify` and `/auth/password/reset`.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, ForgotInput, ResetInput, ResetToken, VerifyCodeInput};
use crate::accounts::routes::Status;
use crate::error::ApiError;
use crate::http::{ApiJson, ClientInfo, Json};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(forgot))
        .routes(routes!(verify_code))
        .routes(routes!(reset))
}

/// Ask for a recovery mail (a code and a link). The same answer, in the same time, for every address.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "recovery", request_body = ForgotInput,
    responses((status = 202, body = Status), (status = 400, description = "invalid_captcha"),
        (status = 403, description = "password_login_disabled"), (status = 429, description = "rate_limited")))]
async fn forgot(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<ForgotInput>,
) -> Result<(StatusCode, Json<Status>), ApiError> {
    service::forgot(&state, input, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(Status { status: "sent" })))
}

/// Exchange the mailed code for a reset token.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot/verify", tag = "recovery", request_body = VerifyCodeInput,
    responses((status = 200, body = ResetToken), (status = 400, description = "invalid_code"),
        (status = 403, description = "password_login_disabled"), (status = 429, description = "too_many_attempts / rate_limited")))]
async fn verify_code(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<VerifyCodeInput>,
) -> Result<Json<ResetToken>, ApiError> {
    service::verify_code(&state, input, &client).await.map(Json)
}

/// Set a new password with a reset token (from the code exchange or the mailed link).
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "recovery", request_body = ResetInput,
    responses((status = 204), (status = 400, description = "invalid_token"), (status = 403, description = "password_login_disabled"),
        (status = 422, description = "weak_password"),
        (status = 503, description = "busy")))]
async fn reset(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<ResetInput>,
) -> Result<StatusCode, ApiError> {
    service::reset(&state, input, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
