//! `/auth/register`, `/auth/login`, `/auth/logout` and `/users/me…` routes.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::service::{
    self, DeleteAccount, EmailChangeRequest, LoginInput, PasswordChange, ProfilePatch,
    RegisterInput, Registered,
};
use super::store::{User, UserView};
use crate::error::ApiError;
use crate::http::{ApiJson, ClientInfo, CurrentUser, Json, ReqLang, SessionUser};
use crate::sessions::{self, NewSession};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(change_email))
}

/// A signed-in user and their new session.
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    pub user: UserView,
    pub session: NewSession,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: &'static str,
}

/// The `{user, session}` answer with the session cookie set.
pub fn signed_in(
    state: &AppState,
    status: StatusCode,
    user: &User,
    session: NewSession,
) -> Response {
    let cookie = sessions::set_cookie(
        &session.token,
        state.config.session_lifetime.secs(),
        &state.session_cookie(),
    );
    (
        status,
        [(header::SET_COOKIE, cookie)],
        Json(SignedIn {
            user: user.view(),
            session,
        }),
    )
        .into_response()
}

/// Create an account (and its personal tenant) and sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterInput,
    responses((status = 201, body = SignedIn), (status = 202, body = Status, description = "verification_sent"),
        (status = 403, description = "registration_disabled / password_login_disabled"), (status = 409, description = "email_taken"),
        (status = 422, description = "weak_password"), (status = 503, description = "busy")))]
async fn register(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    client: ClientInfo,
    ApiJson(input): ApiJson<RegisterInput>,
) -> Result<Response, ApiError> {
    Ok(
        match service::register(&state, input, lang, &client).await? {
            Registered::SignedIn(user, session) => {
                signed_in(&state, StatusCode::CREATED, &user, session)
            }
            Registered::VerificationSent => (
                StatusCode::ACCEPTED,
                Json(Status {
                    status: "verification_sent",
                }),
            )
                .into_response(),
        },
    )
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginInput,
    responses((status = 200, body = SignedIn, description = "signed in; or, when the account has a second factor, `{mfa_required, mfa_token, methods, expires_in}` (no session, no cookie): finish with `POST /auth/login/mfa`"), (status = 400, description = "captcha_required / invalid_captcha"),
        (status = 401, description = "invalid_credentials"),
        (status = 403, description = "account_disabled / email_unverified / password_login_disabled"),
        (status = 429, description = "rate_limited / account_locked"), (status = 503, description = "busy")))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<LoginInput>,
) -> Result<Response, ApiError> {
    Ok(match service::login(&state, input, &client).await? {
        service::SignIn::Done(user, session) => signed_in(&state, StatusCode::OK, &user, session),
        service::SignIn::SecondStep(step) => (StatusCode::OK, Json(step)).into_response(),
    })
}

/// Sign out: the current session is revoked and the cookie cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("session" = []), ("cookie" = [])),
    responses((status = 204)))]
async fn logout(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
) -> Result<Response, ApiError> {
    sessions::service::logout(&state, &auth, &client).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            sessions::clear_cookie(&state.session_cookie()),
        )],
    )
        .into_response())
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "accounts", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserView)))]
async fn get_me(CurrentUser(auth): CurrentUser) -> Json<UserView> {
    // The request's own copy of the caller is gone by now, so the user moves into the view.
    Json(std::sync::Arc::unwrap_or_clone(auth.user).into())
}

/// Change profile fields; `email` is changed through `/users/me/email`.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "accounts", request_body = ProfilePatch,
    security(("bearer" = []), ("cookie" = [])), responses((status = 200, body = UserView)))]
async fn update_me(
    State(state): State<AppState>,
    CurrentUser(auth): CurrentUser,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> Result<Json<UserView>, ApiError> {
    service::update_profile(&state, &auth.user, patch)
        .await
        .map(|u| Json(u.view()))
}

/// Delete the account.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "accounts", request_body = DeleteAccount,
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "invalid_credentials / password_login_disabled"), (status = 409, description = "tenant_has_members"),
        (status = 429, description = "rate_limited / account_locked"), (status = 503, description = "busy")))]
async fn delete_me(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<DeleteAccount>,
) -> Result<Response, ApiError> {
    service::delete_account(&state, &auth, input, &client).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            sessions::clear_cookie(&state.session_cookie()),
        )],
    )
        .into_response())
}

/// Change the password; every other session is revoked.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "accounts", request_body = PasswordChange,
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, description = "invalid_credentials / password_login_disabled"), (status = 422, description = "weak_password"),
        (status = 429, description = "rate_limited / account_locked"), (status = 503, description = "busy")))]
async fn change_password(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    service::change_password(&state, &auth, input, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask to change the email address; it changes when the new address confirms.
#[utoipa::path(post, path = "/api/v1/users/me/email", tag = "accounts", request_body = EmailChangeRequest,
    security(("session" = []), ("cookie" = [])),
    responses((status = 202, body = Status), (status = 403, description = "invalid_credentials / password_login_disabled"), (status = 409, description = "email_taken"),
        (status = 429, description = "rate_limited / account_locked"), (status = 503, description = "busy")))]
async fn change_email(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<EmailChangeRequest>,
) -> Result<(StatusCode, Json<Status>), ApiError> {
    service::request_email_change(&state, &auth, input, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Status {
            status: "confirmation_sent",
        }),
    ))
}
