//! Shared HTTP pieces: extractors, typed inputs, middleware and the CSRF rule.

pub mod csrf;
pub mod extractors;
pub mod inputs;
pub mod middleware;
pub mod openapi;
pub mod paging;

use crate::error::ApiError;

// `inputs.rs` still names `super::error`; it is on its way to `domain/`.
pub use crate::error;
pub use extractors::{ApiJson, ClientInfo, CurrentUser, ReqLang, SessionUser};

/// An id from the path; anything that is not a UUID is simply not found.
pub fn parse_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound)
}
