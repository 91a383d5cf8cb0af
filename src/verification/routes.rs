//! `/auth/email/verification` and `/auth/email/verify`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{self, ResendInput, Verified, VerifyInput};
use crate::accounts::routes::{SignedIn, Status, signed_in};
use crate::error::ApiError;
use crate::http::{ApiJson, ClientInfo, Json};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(resend))
        .routes(routes!(verify))
}

/// Mail a new verification code and link (202 whatever the address).
#[utoipa::path(post, path = "/api/v1/auth/email/verification", tag = "verification", request_body = ResendInput,
    responses((status = 202, body = Status), (status = 429, description = "rate_limited")))]
async fn resend(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<ResendInput>,
) -> Result<(StatusCode, Json<Status>), ApiError> {
    service::resend(&state, input, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(Status { status: "sent" })))
}

/// Verify an address by `{token}` (link) or `{email, code}`; also confirms email changes.
#[utoipa::path(post, path = "/api/v1/auth/email/verify", tag = "verification", request_body = VerifyInput,
    responses((status = 204), (status = 200, body = SignedIn, description = "login_after_verification"),
        (status = 400, description = "invalid_token / invalid_code"), (status = 409, description = "email_taken"),
        (status = 429, description = "too_many_attempts")))]
async fn verify(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<VerifyInput>,
) -> Result<Response, ApiError> {
    Ok(match service::verify(&state, input, &client).await? {
        Verified::Done => StatusCode::NO_CONTENT.into_response(),
        Verified::SignedIn(user, session) => signed_in(&state, StatusCode::OK, &user, session),
    })
}
