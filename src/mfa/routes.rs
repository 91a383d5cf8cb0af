//! `/users/me/mfa…`, `/users/me/passkeys…`, `/auth/login/mfa…`, `/auth/passkey…` and
//! `/admin/users/{id}/mfa` routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::login::{self, PasskeyStepInput, SecondStepInput};
use super::service::{
    self, CeremonyOptions, CodeInput, DisableTotp, MfaStatus, NewPasskeyInput, PasskeyView,
    PasswordConfirmation, RecoveryCodes, RenamePasskey, TotpEnrolment,
};
use crate::accounts::routes::{SignedIn, signed_in};
use crate::admin::Admin;
use crate::error::ApiError;
use crate::http::{ApiJson, ClientInfo, Json, SessionUser, parse_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(start_totp, disable_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(renew_recovery_codes))
        .routes(routes!(login_second_step))
        .routes(routes!(second_step_passkey_options))
        .routes(routes!(passkey_options))
        .routes(routes!(add_passkey))
        .routes(routes!(rename_passkey, remove_passkey))
        .routes(routes!(sign_in_options))
        .routes(routes!(sign_in_with_passkey))
        .routes(routes!(admin_reset))
}

/// The caller's second factors.
#[utoipa::path(get, path = "/api/v1/users/me/mfa", tag = "two-factor", security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = MfaStatus), (status = 403, description = "session_required")))]
async fn status(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
) -> Result<Json<MfaStatus>, ApiError> {
    service::status(&state, &auth.user).await.map(Json)
}

/// Start a TOTP enrolment: a pending secret (10 minutes) with its `otpauth://` URI and QR code.
#[utoipa::path(post, path = "/api/v1/users/me/mfa/totp", tag = "two-factor", request_body = PasswordConfirmation,
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = TotpEnrolment), (status = 403, description = "invalid_credentials (wrong password; counts as a failed login)"),
        (status = 409, description = "mfa_already_enabled"), (status = 429, description = "rate_limited / account_locked (password checks count as sign-in attempts)")))]
async fn start_totp(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<PasswordConfirmation>,
) -> Result<Json<TotpEnrolment>, ApiError> {
    service::start_totp(&state, &auth, input, &client)
        .await
        .map(Json)
}

/// Confirm the pending secret with a code: TOTP in force, other sessions revoked, ten recovery
/// codes shown once.
#[utoipa::path(post, path = "/api/v1/users/me/mfa/totp/confirm", tag = "two-factor", request_body = CodeInput,
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = RecoveryCodes), (status = 400, description = "invalid_code; invalid_token (no pending secret)"),
        (status = 429, description = "rate_limited (too many wrong codes)")))]
async fn confirm_totp(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<CodeInput>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    service::confirm_totp(&state, &auth, input, &client)
        .await
        .map(Json)
}

/// Turn TOTP off with the password and a TOTP or recovery code.
#[utoipa::path(delete, path = "/api/v1/users/me/mfa/totp", tag = "two-factor", request_body = DisableTotp,
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 400, description = "invalid_code"), (status = 403, description = "invalid_credentials"),
        (status = 429, description = "rate_limited / account_locked (password checks count as sign-in attempts)")))]
async fn disable_totp(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<DisableTotp>,
) -> Result<StatusCode, ApiError> {
    service::disable_totp(&state, &auth, input, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new set of recovery codes; the previous set stops working.
#[utoipa::path(post, path = "/api/v1/users/me/mfa/recovery-codes", tag = "two-factor", request_body = PasswordConfirmation,
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = RecoveryCodes), (status = 403, description = "invalid_credentials"),
        (status = 409, description = "mfa_not_enabled"), (status = 429, description = "rate_limited / account_locked (password checks count as sign-in attempts)")))]
async fn renew_recovery_codes(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<PasswordConfirmation>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    service::renew_recovery_codes(&state, &auth, input, &client)
        .await
        .map(Json)
}

/// Finish a sign-in's second step with `code` (TOTP or recovery code), or with `challenge_id`
/// and `credential` (a passkey).
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "two-factor", request_body = SecondStepInput,
    responses((status = 200, body = SignedIn),
        (status = 400, description = "invalid_code (counts as a failed login); invalid_credential (passkey); invalid_token (unknown, expired, used, or dead after 5 wrong codes)"),
        (status = 403, description = "account_disabled"), (status = 429, description = "rate_limited / account_locked")))]
async fn login_second_step(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<SecondStepInput>,
) -> Result<Response, ApiError> {
    let done = login::finish(&state, input, &client).await?;
    Ok(signed_in(&state, StatusCode::OK, &done.user, done.session))
}

/// Options to answer the second step with one of the account's passkeys.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa/passkey", tag = "two-factor", request_body = PasskeyStepInput,
    responses((status = 200, body = CeremonyOptions), (status = 400, description = "invalid_token"),
        (status = 409, description = "passkeys_unavailable")))]
async fn second_step_passkey_options(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PasskeyStepInput>,
) -> Result<Json<CeremonyOptions>, ApiError> {
    login::passkey_options(&state, input).await.map(Json)
}

/// Options to add a passkey (the password, or a provider sign-in of the last 10 minutes).
#[utoipa::path(post, path = "/api/v1/users/me/passkeys/options", tag = "passkeys", request_body = PasswordConfirmation,
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = CeremonyOptions), (status = 403, description = "invalid_credentials"),
        (status = 409, description = "passkeys_unavailable (the relying party would be an IP address)"),
        (status = 429, description = "rate_limited / account_locked (password checks count as sign-in attempts)")))]
async fn passkey_options(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<PasswordConfirmation>,
) -> Result<Json<CeremonyOptions>, ApiError> {
    service::passkey_options(&state, &auth, input, &client)
        .await
        .map(Json)
}

/// Register the passkey the browser made for the options.
#[utoipa::path(post, path = "/api/v1/users/me/passkeys", tag = "passkeys", request_body = NewPasskeyInput,
    security(("session" = []), ("cookie" = [])),
    responses((status = 201, body = PasskeyView), (status = 400, description = "invalid_credential"),
        (status = 409, description = "passkeys_unavailable"), (status = 422, description = "validation_failed (name)")))]
async fn add_passkey(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<NewPasskeyInput>,
) -> Result<Response, ApiError> {
    let view = service::add_passkey(&state, &auth, input, &client).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Rename one of the caller's passkeys.
#[utoipa::path(patch, path = "/api/v1/users/me/passkeys/{id}", tag = "passkeys", request_body = RenamePasskey,
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = PasskeyView), (status = 404, description = "not_found")))]
async fn rename_passkey(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RenamePasskey>,
) -> Result<Json<PasskeyView>, ApiError> {
    service::rename_passkey(&state, &auth, &parse_id(&id)?, input)
        .await
        .map(Json)
}

/// Remove one of the caller's passkeys.
#[utoipa::path(delete, path = "/api/v1/users/me/passkeys/{id}", tag = "passkeys",
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, description = "not_found (also another user's passkey)")))]
async fn remove_passkey(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::remove_passkey(&state, &auth, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Options for a usernameless passkey sign-in.
#[utoipa::path(post, path = "/api/v1/auth/passkey/options", tag = "passkeys",
    responses((status = 200, body = CeremonyOptions), (status = 409, description = "passkeys_unavailable"),
        (status = 429, description = "rate_limited")))]
async fn sign_in_options(
    State(state): State<AppState>,
    client: ClientInfo,
) -> Result<Json<CeremonyOptions>, ApiError> {
    service::sign_in_options(&state, &client).await.map(Json)
}

/// Sign in with a passkey alone (user verification makes it complete; no second step).
#[utoipa::path(post, path = "/api/v1/auth/passkey", tag = "passkeys", request_body = service::PasskeySignIn,
    responses((status = 200, body = SignedIn), (status = 401, description = "invalid_credentials"),
        (status = 403, description = "account_disabled"), (status = 409, description = "passkeys_unavailable"),
        (status = 429, description = "rate_limited")))]
async fn sign_in_with_passkey(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<service::PasskeySignIn>,
) -> Result<Response, ApiError> {
    let (user, session) = service::sign_in_with_passkey(&state, input, &client).await?;
    Ok(signed_in(&state, StatusCode::OK, &user, session))
}

/// Remove every second factor of a user (TOTP, recovery codes, passkeys).
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/mfa", tag = "admin", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "forbidden: not a superuser"), (status = 404, description = "not_found")))]
async fn admin_reset(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::admin_reset(&state, &admin, &parse_id(&id)?, Some(&client)).await?;
    Ok(StatusCode::NO_CONTENT)
}
