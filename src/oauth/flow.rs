//! The sign-in in flight between authorize and callback: state, PKCE verifier, nonce, where to
//! return and whom to link, kept server-side for ten minutes and bound to the browser that
//! started it by a cookie; and the failure codes the callback redirects with.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::kv::KvError;
use crate::state::AppState;
use crate::tokens::{constant_time_eq, new_token, sha256_hex};

/// The cookie that binds a pending sign-in to the browser that started it.
pub const BINDING_COOKIE: &str = "gatehouse_oauth";
/// The native callback's path prefix, where the binding cookie is sent.
pub const NATIVE_COOKIE_PATH: &str = "/api/v1/auth/providers";
/// How long a started sign-in may take.
pub const TTL: Duration = Duration::from_secs(600);

/// What the callback needs to finish a sign-in; stored under a hash of the `state` value.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub provider: String,
    /// SHA-256 of the binding cookie's value.
    pub binding: String,
    pub pkce_verifier: String,
    pub nonce: Option<String>,
    pub return_to: String,
    /// Set when a signed-in user started the flow: the identity is linked to them.
    pub link_user_id: Option<String>,
    /// The door the flow was started at, which alone may finish it.
    #[serde(default)]
    pub door: Door,
}

/// Where a sign-in was started and comes back to: gatehouse's own API and pages, or a
/// compatibility profile on its own listener (which answers the browser in its own wire format).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Door {
    #[default]
    Native,
    /// The profile's callback URL, registered at the provider as this channel's redirect URI.
    Profile { callback: String },
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// True when `cookie` is the binding value this flow was started with (constant-time).
    pub fn bound_to(&self, cookie: Option<&str>) -> bool {
        cookie.is_some_and(|c| constant_time_eq(&sha256_hex(c), &self.binding))
    }
}

fn key(csrf_state: &str) -> String {
    format!("oauth:flow:{}", sha256_hex(csrf_state))
}

pub async fn save(state: &AppState, csrf_state: &str, pending: &Pending) -> Result<(), KvError> {
    let value = serde_json::to_string(pending).map_err(|e| KvError(e.to_string()))?;
    state.kv.set_ex(&key(csrf_state), &value, TTL).await
}

/// Take the pending flow for `csrf_state`: it can be taken once, whichever instance asks first.
pub async fn take(state: &AppState, csrf_state: &str) -> Result<Option<Pending>, KvError> {
    if csrf_state.is_empty() || csrf_state.len() > 256 {
        return Ok(None);
    }
    Ok(state
        .kv
        .take(&key(csrf_state))
        .await?
        .and_then(|v| serde_json::from_str(&v).ok()))
}

/// The binding value the browser already holds (so two tabs can sign in at once), or a new one.
pub fn binding_value(headers: &HeaderMap) -> String {
    binding_from(headers)
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| new_token(""))
}

/// The binding cookie the callback compares, if the browser sent one.
pub fn binding_from(headers: &HeaderMap) -> Option<String> {
    crate::http::cookie(headers, BINDING_COOKIE)
}

/// HttpOnly, SameSite=Lax (the provider's redirect back is a top-level GET, which Lax allows),
/// scoped to the callback's path (`path`), gone after the flow's lifetime.
pub fn binding_cookie(value: &str, secure: bool, path: &str) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{BINDING_COOKIE}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        TTL.as_secs()
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Why a callback did not sign anyone in; the code goes to `/login?error=CODE`.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("invalid_state")]
    InvalidState,
    /// No channel of that id is configured (only when starting: a callback says invalid_state).
    #[error("unknown_channel")]
    UnknownChannel,
    #[error("missing_code")]
    MissingCode,
    #[error("token_failed")]
    TokenFailed,
    #[error("invalid_id_token")]
    InvalidIdToken,
    #[error("email_missing")]
    EmailMissing,
    #[error("email_unverified")]
    EmailUnverified,
    #[error("account_disabled")]
    AccountDisabled,
    #[error("registration_disabled")]
    RegistrationDisabled,
    /// The provider answered `error=…`, or could not be reached, or answered nonsense.
    #[error("provider_error")]
    ProviderError,
    /// Linking for a signed-in user: the subject belongs to another account.
    #[error("identity_taken")]
    IdentityTaken,
    /// A flow started by a signed-in user (to link) failed: the user goes back to the account
    /// page, not to the sign-in page (which would only send them on, dropping the error).
    #[error("{0}")]
    WhileLinking(Box<Failure>),
    /// Our own fault (database, store, configuration); logged, shown as `provider_error`.
    #[error("internal: {0:#}")]
    Internal(anyhow::Error),
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidState => "invalid_state",
            Self::UnknownChannel => "unknown_channel",
            Self::MissingCode => "missing_code",
            Self::TokenFailed => "token_failed",
            Self::InvalidIdToken => "invalid_id_token",
            Self::EmailMissing => "email_missing",
            Self::EmailUnverified => "email_unverified",
            Self::AccountDisabled => "account_disabled",
            Self::RegistrationDisabled => "registration_disabled",
            Self::ProviderError | Self::Internal(_) => "provider_error",
            Self::IdentityTaken => "identity_taken",
            Self::WhileLinking(inner) => inner.code(),
        }
    }

    /// Where the browser goes: `/account?error=CODE` when linking, else `/login?error=CODE`.
    pub fn location(&self) -> String {
        match self {
            Self::IdentityTaken | Self::WhileLinking(_) => {
                format!("/account?error={}", self.code())
            }
            other => format!("/login?error={}", other.code()),
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<KvError> for Failure {
    fn from(e: KvError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<crate::error::ApiError> for Failure {
    fn from(e: crate::error::ApiError) -> Self {
        use crate::error::ApiError as A;
        match e {
            A::AccountDisabled => Self::AccountDisabled,
            A::EmailUnverified => Self::EmailUnverified,
            A::RegistrationDisabled => Self::RegistrationDisabled,
            A::Internal(e) => Self::Internal(e),
            other => Self::Internal(anyhow::anyhow!("{}", other.code())),
        }
    }
}
