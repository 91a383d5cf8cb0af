//! Shared HTTP pieces: the error type, extractors, typed inputs, middleware and the CSRF rule.

pub mod csrf;
pub mod error;
pub mod extractors;
pub mod inputs;
pub mod middleware;
pub mod openapi;
pub mod paging;

pub use error::ApiError;
pub use extractors::{ApiJson, ClientInfo, CurrentUser, ReqLang, SessionUser};

/// An id from the path; anything that is not a UUID is simply not found.
pub fn parse_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}
