//! Same-origin check for unsafe requests authenticated by the session cookie.

use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// Pass when `Sec-Fetch-Site` says same-origin (or a user-typed navigation), or when `Origin`
/// equals the public base URL's origin or the origin the request was addressed to. A request
/// with neither header is refused: a cookie alone proves nothing about who sent it.
pub fn check_same_origin(headers: &HeaderMap, public_base_url: &str) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return if matches!(site, "same-origin" | "none") {
            Ok(())
        } else {
            Err(ApiError::CsrfFailed)
        };
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::CsrfFailed)?;
    let origin = origin.trim_end_matches('/');
    if origin.eq_ignore_ascii_case(&origin_of(public_base_url)) {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let addressed = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    if !host.is_empty() && addressed.eq_ignore_ascii_case(host) {
        return Ok(());
    }
    Err(ApiError::CsrfFailed)
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_rules() {
        let base = "https://auth.example.com";
        assert!(check_same_origin(&headers(&[("sec-fetch-site", "same-origin")]), base).is_ok());
        assert!(check_same_origin(&headers(&[("sec-fetch-site", "cross-site")]), base).is_err());
        assert!(
            check_same_origin(&headers(&[("origin", "https://auth.example.com")]), base).is_ok()
        );
        assert!(check_same_origin(&headers(&[("origin", "https://evil.example")]), base).is_err());
        assert!(
            check_same_origin(
                &headers(&[("origin", "http://127.0.0.1:9"), ("host", "127.0.0.1:9")]),
                base
            )
            .is_ok()
        );
        assert!(check_same_origin(&headers(&[]), base).is_err());
    }
}
