//! Forward authentication for reverse proxies (nginx `auth_request`, Traefik `forwardAuth`,
//! Caddy `forward_auth`): "who is this?" answered from the request's session cookie or bearer
//! token (a session, an API key, or an access token gatehouse issued).

use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{store, tokens};
use crate::accounts::User;
use crate::error::ApiError;
use crate::http::CurrentUser;
use crate::http::extractors::{credential, is_trusted_proxy, peer_ip};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ForwardQuery {
    redirect: Option<String>,
}

/// Who the request's credential belongs to: 200 with `X-Auth-User-Id`, `X-Auth-Email`,
/// `X-Auth-Name` (percent-encoded UTF-8) and `X-Auth-Groups` (`tenant_id:role`, comma-separated).
/// Without a valid credential: 401, or with `redirect=1` a 302 to the sign-in page whose
/// `return_to` is the original URL, built from `X-Forwarded-Proto`, `-Host` and `-Uri` only when
/// the request comes from a trusted proxy and the host is in `[forward_auth] allowed_hosts`.
#[utoipa::path(get, path = "/api/v1/auth/forward", tag = "auth",
    params(("redirect" = Option<String>, Query, description = "`1`: answer 302 to the sign-in page instead of 401")),
    security((), ("session" = []), ("cookie" = [])),
    responses((status = 200, description = "signed in; identity in the X-Auth-* headers"),
        (status = 302, description = "not signed in, redirect=1: to /login?return_to=…"),
        (status = 401, description = "unauthenticated")))]
pub async fn forward(
    State(state): State<AppState>,
    Query(query): Query<ForwardQuery>,
    parts: Parts,
    caller: Result<CurrentUser, ApiError>,
) -> Response {
    let headers = &parts.headers;
    let peer = peer_ip(&parts);
    let user = match caller {
        Ok(CurrentUser(auth)) => Some(std::sync::Arc::unwrap_or_clone(auth.user)),
        Err(ApiError::Unauthenticated) => match access_token_user(&state, headers).await {
            Ok(found) => found,
            Err(e) => return e.into_response(),
        },
        Err(e) => return e.into_response(),
    };
    let Some(user) = user else {
        if query
            .redirect
            .as_deref()
            .is_some_and(|r| r == "1" || r == "true")
        {
            return to_login(&state, peer, headers);
        }
        return ApiError::Unauthenticated.into_response();
    };
    match identity(&state, &user).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The user behind a bearer access token gatehouse issued to an application.
async fn access_token_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<User>, ApiError> {
    let Some((token, false)) = credential(headers, &state.session_cookie()) else {
        return Ok(None);
    };
    if !token.starts_with("eyJ") {
        return Ok(None);
    }
    let claims = tokens::check_access_token(state, &token)
        .await
        .map_err(|_| ApiError::Busy)?;
    let Some(claims) = claims.filter(|c| c.sid.is_some()) else {
        return Ok(None);
    };
    Ok(crate::accounts::store::find_by_id(&state.db, &claims.sub)
        .await?
        .filter(|u| u.is_active))
}

async fn identity(state: &AppState, user: &User) -> Result<Response, ApiError> {
    let groups = store::groups(&state.db, &user.id).await?.join(",");
    let name: String =
        url::form_urlencoded::byte_serialize(user.nickname.as_bytes()).collect::<String>();
    // form_urlencoded writes a space as `+`; a header reader expects percent-encoding.
    let name = name.replace('+', "%20");
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-auth-user-id", &user.id);
    put("x-auth-email", &user.email);
    put("x-auth-name", &name);
    put("x-auth-groups", &groups);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn to_login(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Response {
    let login = format!("{}/login", state.public_base_url.trim_end_matches('/'));
    let location = match original_url(state, peer, headers) {
        Some(url) => {
            let back: String = url::form_urlencoded::byte_serialize(url.as_bytes()).collect();
            format!("{login}?return_to={back}")
        }
        None => login,
    };
    let location = HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/login"));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// The URL the user asked the proxy for, if a trusted proxy says so and its host is allowed.
fn original_url(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<String> {
    let peer = peer?;
    if !is_trusted_proxy(&state.config.trusted_proxies, &peer) {
        return None;
    }
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let proto = get("x-forwarded-proto").filter(|p| matches!(*p, "http" | "https"))?;
    let host = get("x-forwarded-host")?;
    let uri = get("x-forwarded-uri").unwrap_or("/");
    if !uri.starts_with('/') || uri.starts_with("//") {
        return None;
    }
    let url = url::Url::parse(&format!("{proto}://{host}{uri}")).ok()?;
    allowed_host(state, &url).then(|| url.to_string())
}

/// Is `url`'s host (with its port, when it has one) in `[forward_auth] allowed_hosts`?
pub fn allowed_host(state: &AppState, url: &url::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let with_port = url.port().map(|p| format!("{host}:{p}"));
    url.username().is_empty()
        && url.password().is_none()
        && state.config.forward_auth.allowed_hosts.iter().any(|h| {
            h.eq_ignore_ascii_case(host) && url.port().is_none()
                || with_port
                    .as_deref()
                    .is_some_and(|w| h.eq_ignore_ascii_case(w))
        })
}
