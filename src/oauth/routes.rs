//! `/auth/providers…` (sign-in with a provider) and `/users/me/identities…` routes.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::flow::{self, Door, Failure};
use super::service::{self, Callback, Finished, IdentityView, ProviderInfo};
use crate::error::ApiError;
use crate::http::{ClientInfo, Json, ReqLang, SessionUser, parse_id};
use crate::sessions;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers))
        .routes(routes!(authorize))
        .routes(routes!(callback))
        .routes(routes!(list_identities))
        .routes(routes!(unlink_identity))
}

/// One query parameter; a malformed query is read as far as it goes (never a 400 here).
pub(crate) fn param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// 302 to `location`, never cached, with an optional cookie.
pub(crate) fn redirect(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The configured sign-in channels.
#[utoipa::path(get, path = "/api/v1/auth/providers", tag = "sign-in providers",
    responses((status = 200, body = [ProviderInfo])))]
async fn list_providers(State(state): State<AppState>) -> Json<Vec<ProviderInfo>> {
    Json(service::providers(&state))
}

/// Start signing in with a provider: 302 to the provider with `state`, a PKCE S256 challenge
/// and (OpenID Connect) a `nonce`, and a short-lived `gatehouse_oauth` cookie binding the flow to
/// this browser. With a session, nothing starts: the browser goes to the page
/// `/account/link?provider=ID` (keeping `return_to`), whose confirmed form starts linking the
/// provider identity to the signed-in user — a GET any site can trigger links nothing.
/// A provider that cannot be reached sends the browser to `/login?error=provider_error`.
#[utoipa::path(get, path = "/api/v1/auth/providers/{id}/authorize", tag = "sign-in providers",
    params(("id" = String, Path, description = "channel id from `[providers.<id>]`"),
        ("return_to" = Option<String>, Query, description = "a path on this site (`/…`, not `//…`) to return to; default `/account`")),
    responses((status = 302, description = "to the provider; with a session, to `/account/link?provider=ID` to confirm linking"),
        (status = 404, description = "not_found: no such provider")))]
async fn authorize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let return_to = param(query.as_deref(), "return_to");
    if let Some(confirm) =
        service::link_confirmation(&state, &id, return_to.as_deref(), &headers).await?
    {
        return Ok(redirect(&confirm, None));
    }
    match service::authorize(&state, &id, return_to.as_deref(), &headers, Door::Native).await {
        Ok(started) => {
            let secure = state.secure_cookies();
            let cookie = flow::binding_cookie(&started.binding, secure, flow::NATIVE_COOKIE_PATH);
            Ok(redirect(&started.location, Some(cookie)))
        }
        Err(Failure::UnknownChannel) => Err(ApiError::NotFound),
        Err(failure) => {
            service::record_failure(&state, &id, &failure);
            Ok(redirect(&failure.location(), None))
        }
    }
}

/// Where the provider sends the browser back. Success: the session cookie is set and the
/// browser goes to `return_to` (after linking for a signed-in user: no new session). Failure:
/// 302 to `/login?error=CODE` with CODE one of `invalid_state, missing_code, token_failed,
/// invalid_id_token, email_missing, email_unverified, account_disabled, registration_disabled,
/// provider_error`. A flow started signed in (to link) goes back to `/account?error=CODE`
/// instead, with `identity_taken` when the subject belongs to another user. Never a 5xx.
#[utoipa::path(get, path = "/api/v1/auth/providers/{id}/callback", tag = "sign-in providers",
    params(("id" = String, Path, description = "channel id"),
        ("code" = Option<String>, Query, description = "authorization code"),
        ("state" = Option<String>, Query, description = "the state sent at authorize"),
        ("error" = Option<String>, Query, description = "the provider's error, if any")),
    responses((status = 302, description = "to `return_to` with the session cookie, or to `/login?error=CODE`")))]
async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    client: ClientInfo,
    ReqLang(lang): ReqLang,
) -> Response {
    let answer = Callback::read(query.as_deref(), &headers);
    match service::callback(&state, &id, answer, &client, lang, &Door::Native).await {
        Ok(Finished::SignedIn { session, return_to }) => {
            let lifetime = state.config.session_lifetime.secs();
            let cookie = sessions::set_cookie(&session.token, lifetime, &state.session_cookie());
            redirect(&return_to, Some(cookie))
        }
        Ok(Finished::Linked { return_to }) => redirect(&return_to, None),
        Ok(Finished::SecondStep { mfa_token }) => {
            let cookie = crate::web::mfa_cookie(&state, &mfa_token);
            redirect("/login/mfa", Some(cookie))
        }
        Err(failure) => {
            service::record_failure(&state, &id, &failure);
            redirect(&failure.location(), None)
        }
    }
}

/// The provider identities linked to the caller.
#[utoipa::path(get, path = "/api/v1/users/me/identities", tag = "sign-in providers",
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = [IdentityView])))]
async fn list_identities(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
) -> Result<Json<Vec<IdentityView>>, ApiError> {
    service::identities(&state, &auth.user).await.map(Json)
}

/// Unlink one of the caller's identities.
#[utoipa::path(delete, path = "/api/v1/users/me/identities/{id}", tag = "sign-in providers",
    security(("session" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "identity id")),
    responses((status = 204), (status = 404, description = "not_found (also another user's identity)"),
        (status = 409, description = "last_login_method: the account would have no password and no other identity")))]
async fn unlink_identity(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::unlink(&state, &auth, &parse_id(&id)?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
