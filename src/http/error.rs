//! The one error type of the HTTP API: a closed set of stable codes, each mapped to a status in one
//! `match`, rendered as `{"error": {"code", "message", "fields"}}` in the caller's language.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::i18n::Lang;

/// Validation problems by field name; each value is a field-problem code translated at render time.
pub type FieldErrors = BTreeMap<String, FieldProblem>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    Required,
    Unknown,
    NotAllowed,
    WrongType(String),
    InvalidEmail,
    InvalidNickname,
    PasswordLength,
    WeakPassword,
    InvalidLanguage,
    InvalidColorSchema,
    InvalidTimezone,
    InvalidAvatar,
    PreferencesTooLarge,
    Invalid,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed_json")]
    MalformedJson,
    #[error("validation_failed")]
    Validation(FieldErrors),
    /// A common password, or the email as password; names the field.
    #[error("weak_password")]
    WeakPassword(&'static str),
    #[error("unsupported_media_type")]
    UnsupportedMediaType,
    #[error("payload_too_large")]
    PayloadTooLarge,
    #[error("not_found")]
    NotFound,
    #[error("method_not_allowed")]
    MethodNotAllowed,
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("session_required")]
    SessionRequired,
    #[error("forbidden")]
    Forbidden,
    #[error("csrf_failed")]
    CsrfFailed,
    #[error("rate_limited")]
    RateLimited { retry_after: u64 },
    /// `max_consecutive_failures` reached: password sign-in stays locked until a reset by mail
    /// or an administrator's unlock.
    #[error("account_locked")]
    AccountLocked,
    #[error("email_taken")]
    EmailTaken,
    #[error("registration_disabled")]
    RegistrationDisabled,
    #[error("password_login_disabled")]
    PasswordLoginDisabled,
    /// Login with an unknown email or a wrong password: one answer for both.
    #[error("invalid_credentials")]
    InvalidCredentials,
    /// A wrong current password on a signed-in route.
    #[error("invalid_credentials")]
    WrongPassword,
    #[error("account_disabled")]
    AccountDisabled,
    #[error("email_unverified")]
    EmailUnverified,
    #[error("captcha_required")]
    CaptchaRequired,
    #[error("invalid_captcha")]
    InvalidCaptcha,
    #[error("tenant_has_members")]
    TenantHasMembers,
    /// Unlinking would leave the account with no way to sign in.
    #[error("last_login_method")]
    LastLoginMethod,
    #[error("invitation_email_mismatch")]
    InvitationEmailMismatch,
    #[error("last_owner")]
    LastOwner,
    #[error("invalid_code")]
    InvalidCode,
    #[error("invalid_token")]
    InvalidToken,
    #[error("too_many_attempts")]
    TooManyAttempts { retry_after: u64 },
    #[error("mfa_already_enabled")]
    MfaAlreadyEnabled,
    #[error("mfa_not_enabled")]
    MfaNotEnabled,
    /// A passkey answer that does not verify (or its challenge is unknown, expired or used).
    #[error("invalid_credential")]
    InvalidCredential,
    /// `[mfa] required_for` covers the caller, who has no second factor yet.
    #[error("mfa_enrolment_required")]
    MfaEnrolmentRequired,
    /// The relying party id would be an IP address, which WebAuthn does not allow.
    #[error("passkeys_unavailable")]
    PasskeysUnavailable,
    #[error("busy")]
    Busy,
    /// Adding, editing or testing a mail account failed; `detail` is `{imap: {ok, error?},
    /// smtp: {ok, error?}}` naming what failed (never a password).
    #[error("mail_connection_failed")]
    MailConnectionFailed(serde_json::Value),
    /// A user's mail server failed, hung or dropped the connection while being used.
    #[error("mail_server_error")]
    MailServerError,
    #[error("message_too_large")]
    MessageTooLarge,
    #[error("username_taken")]
    UsernameTaken,
    #[error("internal_error")]
    Internal(#[source] anyhow::Error),
}

/// Every code the API can answer with, for the uniqueness test and the OpenAPI document.
pub const ALL_CODES: &[&str] = &[
    "malformed_json",
    "validation_failed",
    "weak_password",
    "unsupported_media_type",
    "payload_too_large",
    "not_found",
    "method_not_allowed",
    "unauthenticated",
    "session_required",
    "forbidden",
    "csrf_failed",
    "rate_limited",
    "account_locked",
    "email_taken",
    "registration_disabled",
    "password_login_disabled",
    "invalid_credentials",
    "account_disabled",
    "email_unverified",
    "captcha_required",
    "invalid_captcha",
    "tenant_has_members",
    "last_login_method",
    "invitation_email_mismatch",
    "last_owner",
    "invalid_code",
    "invalid_token",
    "too_many_attempts",
    "mfa_already_enabled",
    "mfa_not_enabled",
    "invalid_credential",
    "mfa_enrolment_required",
    "passkeys_unavailable",
    "busy",
    "mail_connection_failed",
    "mail_server_error",
    "message_too_large",
    "username_taken",
    "internal_error",
];

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if database_unavailable(&e) {
            return unavailable(&e);
        }
        Self::Internal(e.into())
    }
}

impl From<crate::kv::KvError> for ApiError {
    fn from(e: crate::kv::KvError) -> Self {
        // Every KvError is the store failing to answer (Redis down, cut or timed out).
        unavailable(&e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let outage = e.chain().any(|cause| {
            cause.is::<crate::kv::KvError>()
                || cause
                    .downcast_ref::<sqlx::Error>()
                    .is_some_and(database_unavailable)
        });
        if outage {
            return unavailable(&e);
        }
        Self::Internal(e)
    }
}

/// The database could not be reached or dropped the connection: an outage the client may retry
/// (503), not a fault of the request or of gatehouse (500).
pub fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception), 57P01–57P03 (the server shutting down or
        // starting up), 53300 (too many connections).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// A backing service is down: answered 503 `busy` with `Retry-After`, the cause logged once
/// as a warning inside the request's span (the causes name hosts and OS errors, never a secret).
fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %cause, "backing service unavailable; answering 503");
    ApiError::Busy
}

impl ApiError {
    pub fn field(name: &str, problem: FieldProblem) -> Self {
        Self::Validation(BTreeMap::from([(name.to_string(), problem)]))
    }

    pub fn code(&self) -> &'static str {
        self.meta().0
    }

    pub fn status(&self) -> StatusCode {
        self.meta().1
    }

    fn meta(&self) -> (&'static str, StatusCode) {
        use StatusCode as S;
        match self {
            Self::MalformedJson => ("malformed_json", S::BAD_REQUEST),
            Self::Validation(_) => ("validation_failed", S::UNPROCESSABLE_ENTITY),
            Self::WeakPassword(_) => ("weak_password", S::UNPROCESSABLE_ENTITY),
            Self::UnsupportedMediaType => ("unsupported_media_type", S::UNSUPPORTED_MEDIA_TYPE),
            Self::PayloadTooLarge => ("payload_too_large", S::PAYLOAD_TOO_LARGE),
            Self::NotFound => ("not_found", S::NOT_FOUND),
            Self::MethodNotAllowed => ("method_not_allowed", S::METHOD_NOT_ALLOWED),
            Self::Unauthenticated => ("unauthenticated", S::UNAUTHORIZED),
            Self::SessionRequired => ("session_required", S::FORBIDDEN),
            Self::Forbidden => ("forbidden", S::FORBIDDEN),
            Self::CsrfFailed => ("csrf_failed", S::FORBIDDEN),
            Self::RateLimited { .. } => ("rate_limited", S::TOO_MANY_REQUESTS),
            Self::AccountLocked => ("account_locked", S::TOO_MANY_REQUESTS),
            Self::EmailTaken => ("email_taken", S::CONFLICT),
            Self::RegistrationDisabled => ("registration_disabled", S::FORBIDDEN),
            Self::PasswordLoginDisabled => ("password_login_disabled", S::FORBIDDEN),
            Self::InvalidCredentials => ("invalid_credentials", S::UNAUTHORIZED),
            Self::WrongPassword => ("invalid_credentials", S::FORBIDDEN),
            Self::AccountDisabled => ("account_disabled", S::FORBIDDEN),
            Self::EmailUnverified => ("email_unverified", S::FORBIDDEN),
            Self::CaptchaRequired => ("captcha_required", S::BAD_REQUEST),
            Self::InvalidCaptcha => ("invalid_captcha", S::BAD_REQUEST),
            Self::TenantHasMembers => ("tenant_has_members", S::CONFLICT),
            Self::LastLoginMethod => ("last_login_method", S::CONFLICT),
            Self::InvitationEmailMismatch => ("invitation_email_mismatch", S::FORBIDDEN),
            Self::LastOwner => ("last_owner", S::CONFLICT),
            Self::InvalidCode => ("invalid_code", S::BAD_REQUEST),
            Self::InvalidToken => ("invalid_token", S::BAD_REQUEST),
            Self::TooManyAttempts { .. } => ("too_many_attempts", S::TOO_MANY_REQUESTS),
            Self::MfaAlreadyEnabled => ("mfa_already_enabled", S::CONFLICT),
            Self::MfaNotEnabled => ("mfa_not_enabled", S::CONFLICT),
            Self::InvalidCredential => ("invalid_credential", S::BAD_REQUEST),
            Self::MfaEnrolmentRequired => ("mfa_enrolment_required", S::FORBIDDEN),
            Self::PasskeysUnavailable => ("passkeys_unavailable", S::CONFLICT),
            Self::Busy => ("busy", S::SERVICE_UNAVAILABLE),
            Self::MailConnectionFailed(_) => ("mail_connection_failed", S::BAD_REQUEST),
            Self::MailServerError => ("mail_server_error", S::BAD_GATEWAY),
            Self::MessageTooLarge => ("message_too_large", S::UNPROCESSABLE_ENTITY),
            Self::UsernameTaken => ("username_taken", S::CONFLICT),
            Self::Internal(_) => ("internal_error", S::INTERNAL_SERVER_ERROR),
        }
    }

    fn fields(&self) -> Option<FieldErrors> {
        match self {
            Self::Validation(f) => Some(f.clone()),
            Self::WeakPassword(field) => Some(BTreeMap::from([(
                field.to_string(),
                FieldProblem::WeakPassword,
            )])),
            _ => None,
        }
    }

    /// The error as the API renders it; the middleware re-renders it in the caller's language.
    pub fn to_rendered(&self) -> RenderedError {
        RenderedError {
            code: self.code(),
            status: self.status(),
            fields: self.fields(),
            retry_after: match self {
                Self::RateLimited { retry_after } | Self::TooManyAttempts { retry_after } => {
                    Some(*retry_after)
                }
                Self::Busy => Some(1),
                _ => None,
            },
            detail: match self {
                Self::MailConnectionFailed(detail) => Some(detail.clone()),
                _ => None,
            },
        }
    }
}

/// What a response needs to show an error; kept in the response's extensions so the
/// language middleware can render it again without knowing the original error.
#[derive(Debug, Clone)]
pub struct RenderedError {
    pub code: &'static str,
    pub status: StatusCode,
    pub fields: Option<FieldErrors>,
    pub retry_after: Option<u64>,
    /// Structured context some codes carry (`mail_connection_failed`).
    pub detail: Option<serde_json::Value>,
}

/// Every error answer of the API.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code.
    pub code: String,
    /// A sentence in the caller's language.
    pub message: String,
    /// Problems by field name (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    /// Structured context (`mail_connection_failed`: which of IMAP and SMTP failed, and how).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl RenderedError {
    /// An error for a status produced outside our handlers (router fallbacks, body limits).
    pub fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => "malformed_json",
            401 => "unauthenticated",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            422 => "validation_failed",
            429 => "rate_limited",
            503 => "busy",
            _ => "internal_error",
        };
        Self {
            code,
            status,
            fields: None,
            retry_after: None,
            detail: None,
        }
    }

    pub fn into_response_in(self, lang: Lang) -> Response {
        let fields = self.fields.as_ref().map(|f| {
            f.iter()
                .map(|(k, p)| (k.clone(), crate::i18n::field_message(p, lang)))
                .collect::<BTreeMap<_, _>>()
        });
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: crate::i18n::error_message(self.code, lang).to_string(),
                fields,
                detail: self.detail.clone(),
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.to_rendered().into_response_in(Lang::En);
        if let Self::Internal(e) = self {
            // Logged once, inside the request span, by the middleware that sees this extension.
            response
                .extensions_mut()
                .insert(InternalErrorLog(std::sync::Arc::new(e)));
        }
        response
    }
}

/// The cause of a 500, carried to the logging middleware (never to the client).
#[derive(Clone)]
pub struct InternalErrorLog(pub std::sync::Arc<anyhow::Error>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ALL_CODES {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert_ne!(
                crate::i18n::error_message(code, Lang::En),
                "Error.",
                "{code} has no English message"
            );
            assert_ne!(
                crate::i18n::error_message(code, Lang::ZhCn),
                "错误。",
                "{code} has no Chinese message"
            );
        }
        assert_eq!(
            ApiError::WrongPassword.code(),
            ApiError::InvalidCredentials.code()
        );
        assert!(ALL_CODES.contains(&ApiError::Busy.code()));
    }
}
