//! Shared HTTP pieces: extractors, typed inputs, middleware, the CSRF rule, the one cookie
//! reader and the one rule for local return paths.

pub mod csrf;
pub mod extractors;
pub mod inputs;
pub mod middleware;
pub mod openapi;
pub mod paging;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

pub use extractors::{ApiJson, ClientInfo, CurrentUser, ReqLang, SessionUser};

/// Where a signed-in browser goes when it asked for nowhere (or for somewhere not allowed).
pub const DEFAULT_RETURN: &str = "/account";

/// A JSON response body. Unlike axum's, it is written into one buffer large enough for a
/// typical answer (a user object is about 500 bytes): axum's starts at 128 bytes and grows by
/// copying, twice for `/users/me`, which every signed-in page and client asks.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

/// What [`Json`] reserves for a body before writing it.
const JSON_BODY_CAPACITY: usize = 1024;

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(JSON_BODY_CAPACITY);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => ApiError::Internal(anyhow::Error::new(e).context("serializing a response"))
                .into_response(),
        }
    }
}

/// The value of the first cookie called `name` in the `Cookie` headers (trimmed; `None` when
/// absent or empty). Every cookie gatehouse reads goes through here.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `return_to` if it is a path on this site, else [`DEFAULT_RETURN`]: it starts with one `/`
/// (not `//…`, which a browser reads as another host), and holds only printable ASCII without
/// `\` (browsers turn `/\` into `//`; a control character could split a header).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.len() <= 2048
                && path.chars().all(|c| c.is_ascii_graphic() && c != '\\') =>
        {
            path.to_string()
        }
        _ => DEFAULT_RETURN.to_string(),
    }
}

/// An id from the path; anything that is not a UUID is simply not found.
pub fn parse_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_return_to(Some("/teams?x=1")), "/teams?x=1");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/a b",
            " /account",
            "/a\nb",
            "/a\tb",
            "/\r\nSet-Cookie: x",
            "/caf\u{e9}",
            "/a\u{85}b",
        ] {
            assert_eq!(safe_return_to(Some(bad)), DEFAULT_RETURN, "{bad:?}");
        }
        assert_eq!(safe_return_to(None), DEFAULT_RETURN);
    }

    #[test]
    fn cookies_are_read_by_name_first_match_wins() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; b= 2 ; c=".parse().unwrap());
        headers.append(header::COOKIE, "a=3; d=4".parse().unwrap());
        assert_eq!(cookie(&headers, "a").as_deref(), Some("1"));
        assert_eq!(cookie(&headers, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
        assert_eq!(cookie(&headers, "d").as_deref(), Some("4"));
        assert_eq!(cookie(&headers, "e"), None);
    }
}
