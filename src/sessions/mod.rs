//! Sessions: issued at sign-in as `ghs_` tokens (only their SHA-256 is stored), looked up on every
//! request with no cache (a revocation holds on every instance at once), listed and revoked.

pub mod routes;
pub mod service;
pub(crate) mod store;

use axum::http::{HeaderMap, HeaderValue};

pub use service::{Authenticated, Credential, NewSession};

/// The session cookie over http.
pub const COOKIE_NAME: &str = "gatehouse_session";
/// The session cookie over https: browsers accept a `__Host-` cookie only when it is `Secure`,
/// `Path=/` and has no `Domain`, so a neighbouring subdomain or a plain-http answer cannot plant
/// or overwrite it (session fixation through a sibling host).
pub const SECURE_COOKIE_NAME: &str = "__Host-gatehouse_session";
/// The session cookie over https shared with the apps of `[forward_auth] cookie_domain`:
/// `__Secure-` still keeps plain-http answers from setting it.
pub const DOMAIN_COOKIE_NAME: &str = "__Secure-gatehouse_session";
pub const TOKEN_PREFIX: &str = "ghs_";

/// Where the session cookie lives: over http, over https on gatehouse's host only, or over
/// https on a parent domain that the apps behind forward authentication share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieScope {
    Http,
    Host,
    Domain(String),
}

impl CookieScope {
    /// The scope of a deployment served over https (`secure`) or http, with an optional
    /// `[forward_auth] cookie_domain` (which counts over https only).
    pub fn new(secure: bool, domain: Option<&str>) -> Self {
        match (secure, domain) {
            (false, _) => Self::Http,
            (true, None) => Self::Host,
            (true, Some(d)) => Self::Domain(d.to_string()),
        }
    }

    /// The session cookie's name in this scope.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Http => COOKIE_NAME,
            Self::Host => SECURE_COOKIE_NAME,
            Self::Domain(_) => DOMAIN_COOKIE_NAME,
        }
    }

    /// The attributes after `Path=/; HttpOnly; SameSite=Lax; Max-Age=N`.
    fn attributes(&self) -> String {
        match self {
            Self::Http => String::new(),
            Self::Host => "; Secure".into(),
            Self::Domain(d) => format!("; Domain={d}; Secure"),
        }
    }
}

/// The session token from the `Cookie` header, if any: only the cookie named for this
/// deployment's scope counts (over https a plain `gatehouse_session` may have been planted).
pub fn cookie_token(headers: &HeaderMap, scope: &CookieScope) -> Option<String> {
    crate::http::cookie(headers, scope.name())
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/, and over https `Secure`
/// under the `__Host-` name (or `__Secure-` with the shared `Domain`).
pub fn set_cookie(token: &str, max_age_secs: i64, scope: &CookieScope) -> HeaderValue {
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        scope.name(),
        scope.attributes()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(scope: &CookieScope) -> HeaderValue {
    set_cookie("", 0, scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_read_under_the_name_of_the_deployments_scheme() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("gatehouse_session=plain; __Host-gatehouse_session=host"),
        );
        assert_eq!(
            cookie_token(&headers, &CookieScope::Http).as_deref(),
            Some("plain")
        );
        assert_eq!(
            cookie_token(&headers, &CookieScope::Host).as_deref(),
            Some("host")
        );
        let shared = CookieScope::Domain("example.com".into());
        assert_eq!(cookie_token(&headers, &shared), None, "neither name counts");
        for scope in [CookieScope::Http, CookieScope::Host, shared] {
            let set = set_cookie("t", 60, &scope);
            let cleared = clear_cookie(&scope);
            for value in [&set, &cleared] {
                let value = value.to_str().unwrap_or_default();
                assert!(value.starts_with(scope.name()), "{value}");
                assert_eq!(
                    value.ends_with("; Secure"),
                    scope != CookieScope::Http,
                    "{value}"
                );
                assert!(value.contains("; Path=/;"), "{value}");
                assert_eq!(
                    value.contains("; Domain=example.com;"),
                    matches!(scope, CookieScope::Domain(_)),
                    "{value}"
                );
            }
            assert!(cleared.to_str().unwrap_or_default().contains("Max-Age=0"));
        }
    }
}
