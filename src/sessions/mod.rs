//! Sessions: issued at sign-in as `ghs_` tokens (only their SHA-256 is stored), looked up on every
//! request with no cache (a revocation holds on every instance at once), listed and revoked.

pub mod routes;
pub mod service;
pub(crate) mod store;

use axum::http::{HeaderMap, HeaderValue, header};

pub use service::{Authenticated, NewSession};

/// The session cookie over http.
pub const COOKIE_NAME: &str = "gatehouse_session";
/// The session cookie over https: browsers accept a `__Host-` cookie only when it is `Secure`,
/// `Path=/` and has no `Domain`, so a neighbouring subdomain or a plain-http answer cannot plant
/// or overwrite it (session fixation through a sibling host).
pub const SECURE_COOKIE_NAME: &str = "__Host-gatehouse_session";
pub const TOKEN_PREFIX: &str = "ghs_";

/// The session cookie's name for a deployment served over https (`secure`) or http.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The session token from the `Cookie` header, if any: only the cookie named for this
/// deployment's scheme counts (over https a plain `gatehouse_session` may have been planted).
pub fn cookie_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    let wanted = cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/, and over https `Secure`
/// under the `__Host-` name.
pub fn set_cookie(token: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    let value =
        format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let value = if secure {
        "__Host-gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
    } else {
        "gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    };
    HeaderValue::from_static(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_read_under_the_name_of_the_deployments_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("gatehouse_session=plain; __Host-gatehouse_session=host"),
        );
        assert_eq!(cookie_token(&headers, false).as_deref(), Some("plain"));
        assert_eq!(cookie_token(&headers, true).as_deref(), Some("host"));
        for secure in [false, true] {
            let set = set_cookie("t", 60, secure);
            let cleared = clear_cookie(secure);
            for value in [&set, &cleared] {
                let value = value.to_str().unwrap_or_default();
                assert!(value.starts_with(cookie_name(secure)), "{value}");
                assert_eq!(value.contains("; Secure"), secure, "{value}");
                assert!(
                    value.contains("; Path=/;") && !value.contains("Domain"),
                    "{value}"
                );
            }
        }
    }
}
