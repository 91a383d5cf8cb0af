//! Sessions: issued at sign-in as `ghs_` tokens (only their SHA-256 is stored), looked up on every
//! request with no cache (a revocation holds on every instance at once), listed and revoked.

pub mod routes;
pub mod service;
mod store;

use axum::http::{HeaderMap, HeaderValue, header};

pub use service::{Authenticated, NewSession};

pub const COOKIE_NAME: &str = "gatehouse_session";
pub const TOKEN_PREFIX: &str = "ghs_";

/// The session token from the `Cookie` header, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure when served over https.
pub fn set_cookie(token: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let value = if secure {
        "gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
    } else {
        "gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    };
    HeaderValue::from_static(value)
}
