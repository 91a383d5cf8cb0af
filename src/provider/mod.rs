//! gatehouse as the OpenID Provider of the operator's applications: discovery, JWKS, the
//! authorization code flow with PKCE and consent, the token endpoint (codes, rotating refresh
//! tokens, client credentials), userinfo, revocation, introspection, RP-initiated logout, the
//! clients superusers register, and forward authentication for reverse proxies.
//!
//! The OAuth endpoints answer in OAuth's own error shape (RFC 6749 §5.2), which is what the
//! applications' libraries read; the admin API keeps gatehouse's error body.

pub mod authorize;
pub mod cli;
pub mod clients;
pub mod forward;
pub mod keys;
pub mod routes;
mod store;
pub mod tokens;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An OAuth error answer: `{"error", "error_description"}` with the status RFC 6749 gives it.
#[derive(Debug)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    /// The client authenticated with HTTP Basic: a 401 names the scheme it should retry with.
    pub basic: bool,
    internal: Option<anyhow::Error>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: &str) -> Self {
        Self {
            error,
            description: description.to_string(),
            basic: false,
            internal: None,
        }
    }

    pub fn invalid_request(description: &str) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_grant(description: &str) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_client() -> Self {
        Self::new("invalid_client", "client authentication failed")
    }

    /// A failure of gatehouse itself; logged once, answered as `server_error` without detail.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self {
            error: "server_error",
            description: "the server could not answer; try again".into(),
            basic: false,
            internal: Some(e.into()),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "invalid_token" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Some(e) = &self.internal {
            tracing::error!(error = %e, "OpenID Provider request failed");
        }
        let status = self.status();
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut response = (status, crate::http::Json(body)).into_response();
        // OAuth's clients read this shape; the API's error rendering leaves it alone.
        response
            .extensions_mut()
            .insert(crate::http::middleware::OwnBody);
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if self.error == "invalid_token" {
                "Bearer error=\"invalid_token\""
            } else if self.basic {
                "Basic realm=\"gatehouse\""
            } else {
                "Bearer"
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
