//! The one error type of gatehouse's services and API: a closed set of stable codes
//! ([`ErrorCode`]), each error mapped to a code and a status in one `match`, rendered as
//! `{"error": {"code", "message", "fields"}}` in the caller's language.

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
#[error("{}", self.code())]
pub enum ApiError {
    MalformedJson,
    Validation(FieldErrors),
    /// A common password, or the email as password; names the field.
    WeakPassword(&'static str),
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    Unauthenticated,
    SessionRequired,
    Forbidden,
    CsrfFailed,
    RateLimited {
        retry_after: u64,
    },
    /// `max_consecutive_failures` reached: password sign-in stays locked until a reset by mail
    /// or an administrator's unlock.
    AccountLocked,
    EmailTaken,
    RegistrationDisabled,
    PasswordLoginDisabled,
    /// Login with an unknown email or a wrong password: one answer for both.
    InvalidCredentials,
    /// A wrong current password on a signed-in route.
    WrongPassword,
    AccountDisabled,
    EmailUnverified,
    CaptchaRequired,
    InvalidCaptcha,
    TenantHasMembers,
    /// Unlinking would leave the account with no way to sign in.
    LastLoginMethod,
    InvitationEmailMismatch,
    LastOwner,
    InvalidCode,
    InvalidToken,
    TooManyAttempts {
        retry_after: u64,
    },
    MfaAlreadyEnabled,
    MfaNotEnabled,
    /// A passkey answer that does not verify (or its challenge is unknown, expired or used).
    InvalidCredential,
    /// `[mfa] required_for` covers the caller, who has no second factor yet.
    MfaEnrolmentRequired,
    /// The relying party id would be an IP address, which WebAuthn does not allow.
    PasskeysUnavailable,
    Busy,
    /// Adding, editing or testing a mail account failed; `detail` is `{imap: {ok, error?},
    /// smtp: {ok, error?}}` naming what failed (never a password).
    MailConnectionFailed(serde_json::Value),
    /// A user's mail server failed, hung or dropped the connection while being used.
    MailServerError,
    MessageTooLarge,
    UsernameTaken,
    Internal(#[source] anyhow::Error),
}

/// Declares [`ErrorCode`]: each variant once, with its wire spelling.
macro_rules! error_codes {
    ($($variant:ident => $code:literal,)*) => {
        /// Every code the API can answer with: the stable snake_case `code` of an error body.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, for the uniqueness test and the OpenAPI document.
            pub const ALL: &[ErrorCode] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    MalformedJson => "malformed_json",
    ValidationFailed => "validation_failed",
    WeakPassword => "weak_password",
    UnsupportedMediaType => "unsupported_media_type",
    PayloadTooLarge => "payload_too_large",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    Unauthenticated => "unauthenticated",
    SessionRequired => "session_required",
    Forbidden => "forbidden",
    CsrfFailed => "csrf_failed",
    RateLimited => "rate_limited",
    AccountLocked => "account_locked",
    EmailTaken => "email_taken",
    RegistrationDisabled => "registration_disabled",
    PasswordLoginDisabled => "password_login_disabled",
    InvalidCredentials => "invalid_credentials",
    AccountDisabled => "account_disabled",
    EmailUnverified => "email_unverified",
    CaptchaRequired => "captcha_required",
    InvalidCaptcha => "invalid_captcha",
    TenantHasMembers => "tenant_has_members",
    LastLoginMethod => "last_login_method",
    InvitationEmailMismatch => "invitation_email_mismatch",
    LastOwner => "last_owner",
    InvalidCode => "invalid_code",
    InvalidToken => "invalid_token",
    TooManyAttempts => "too_many_attempts",
    MfaAlreadyEnabled => "mfa_already_enabled",
    MfaNotEnabled => "mfa_not_enabled",
    InvalidCredential => "invalid_credential",
    MfaEnrolmentRequired => "mfa_enrolment_required",
    PasskeysUnavailable => "passkeys_unavailable",
    Busy => "busy",
    MailConnectionFailed => "mail_connection_failed",
    MailServerError => "mail_server_error",
    MessageTooLarge => "message_too_large",
    UsernameTaken => "username_taken",
    InternalError => "internal_error",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

    pub fn code(&self) -> ErrorCode {
        self.meta().0
    }

    pub fn status(&self) -> StatusCode {
        self.meta().1
    }

    fn meta(&self) -> (ErrorCode, StatusCode) {
        use ErrorCode as C;
        use StatusCode as S;
        match self {
            Self::MalformedJson => (C::MalformedJson, S::BAD_REQUEST),
            Self::Validation(_) => (C::ValidationFailed, S::UNPROCESSABLE_ENTITY),
            Self::WeakPassword(_) => (C::WeakPassword, S::UNPROCESSABLE_ENTITY),
            Self::UnsupportedMediaType => (C::UnsupportedMediaType, S::UNSUPPORTED_MEDIA_TYPE),
            Self::PayloadTooLarge => (C::PayloadTooLarge, S::PAYLOAD_TOO_LARGE),
            Self::NotFound => (C::NotFound, S::NOT_FOUND),
            Self::MethodNotAllowed => (C::MethodNotAllowed, S::METHOD_NOT_ALLOWED),
            Self::Unauthenticated => (C::Unauthenticated, S::UNAUTHORIZED),
            Self::SessionRequired => (C::SessionRequired, S::FORBIDDEN),
            Self::Forbidden => (C::Forbidden, S::FORBIDDEN),
            Self::CsrfFailed => (C::CsrfFailed, S::FORBIDDEN),
            Self::RateLimited { .. } => (C::RateLimited, S::TOO_MANY_REQUESTS),
            Self::AccountLocked => (C::AccountLocked, S::TOO_MANY_REQUESTS),
            Self::EmailTaken => (C::EmailTaken, S::CONFLICT),
            Self::RegistrationDisabled => (C::RegistrationDisabled, S::FORBIDDEN),
            Self::PasswordLoginDisabled => (C::PasswordLoginDisabled, S::FORBIDDEN),
            Self::InvalidCredentials => (C::InvalidCredentials, S::UNAUTHORIZED),
            Self::WrongPassword => (C::InvalidCredentials, S::FORBIDDEN),
            Self::AccountDisabled => (C::AccountDisabled, S::FORBIDDEN),
            Self::EmailUnverified => (C::EmailUnverified, S::FORBIDDEN),
            Self::CaptchaRequired => (C::CaptchaRequired, S::BAD_REQUEST),
            Self::InvalidCaptcha => (C::InvalidCaptcha, S::BAD_REQUEST),
            Self::TenantHasMembers => (C::TenantHasMembers, S::CONFLICT),
            Self::LastLoginMethod => (C::LastLoginMethod, S::CONFLICT),
            Self::InvitationEmailMismatch => (C::InvitationEmailMismatch, S::FORBIDDEN),
            Self::LastOwner => (C::LastOwner, S::CONFLICT),
            Self::InvalidCode => (C::InvalidCode, S::BAD_REQUEST),
            Self::InvalidToken => (C::InvalidToken, S::BAD_REQUEST),
            Self::TooManyAttempts { .. } => (C::TooManyAttempts, S::TOO_MANY_REQUESTS),
            Self::MfaAlreadyEnabled => (C::MfaAlreadyEnabled, S::CONFLICT),
            Self::MfaNotEnabled => (C::MfaNotEnabled, S::CONFLICT),
            Self::InvalidCredential => (C::InvalidCredential, S::BAD_REQUEST),
            Self::MfaEnrolmentRequired => (C::MfaEnrolmentRequired, S::FORBIDDEN),
            Self::PasskeysUnavailable => (C::PasskeysUnavailable, S::CONFLICT),
            Self::Busy => (C::Busy, S::SERVICE_UNAVAILABLE),
            Self::MailConnectionFailed(_) => (C::MailConnectionFailed, S::BAD_REQUEST),
            Self::MailServerError => (C::MailServerError, S::BAD_GATEWAY),
            Self::MessageTooLarge => (C::MessageTooLarge, S::UNPROCESSABLE_ENTITY),
            Self::UsernameTaken => (C::UsernameTaken, S::CONFLICT),
            Self::Internal(_) => (C::InternalError, S::INTERNAL_SERVER_ERROR),
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
    pub code: ErrorCode,
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
            400 => ErrorCode::MalformedJson,
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::ValidationFailed,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Busy,
            _ => ErrorCode::InternalError,
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
                code: self.code.as_str().to_string(),
                message: self.code.message(lang).to_string(),
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

    /// Each code is spelled once and has a message in both languages (the `match` in
    /// `ErrorCode::message` is exhaustive, so this checks the words are really there).
    #[test]
    fn codes_are_unique_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            for lang in [Lang::En, Lang::ZhCn] {
                assert!(!code.message(lang).is_empty(), "{code} has no message");
            }
        }
        assert_eq!(
            ApiError::WrongPassword.code(),
            ApiError::InvalidCredentials.code()
        );
        assert_eq!(ApiError::Busy.to_string(), "busy");
    }

    #[test]
    fn the_body_keeps_its_shape() {
        let response = ApiError::field("email", FieldProblem::InvalidEmail).into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let rendered = response.extensions().get::<RenderedError>().cloned();
        assert_eq!(rendered.map(|r| r.code), Some(ErrorCode::ValidationFailed));
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::NotFound.as_str().into(),
                message: ErrorCode::NotFound.message(Lang::En).into(),
                fields: None,
                detail: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&body).ok().as_deref(),
            Some(r#"{"error":{"code":"not_found","message":"Not found."}}"#)
        );
    }
}
