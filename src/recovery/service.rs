//! Recovery rules: `forgot` answers alike and in alike time for every address; codes allow five
//! wrong tries per address; reset tokens are used once, atomically.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, NewReset};
use crate::accounts::store as users;
use crate::audit::{self, AuditEvent};
use crate::codes;
use crate::domain::Password;
use crate::domain::normalize_email;
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::mail::{self, Template};
use crate::passwords::PasswordPolicy;
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

/// Codes live 15 minutes, link (and exchanged) tokens 30.
const CODE_TTL: i64 = 15 * 60;
const TOKEN_TTL: i64 = 30 * 60;
/// `forgot` answers no sooner than this after it started, whatever it did: the time of the
/// answer does not tell whether the address has an account.
const FORGOT_ANSWER_AT: Duration = Duration::from_millis(300);
/// Recovery requests one address may make in 15 minutes.
const FORGOT_PER_IP: i64 = 20;
const SCOPE: &str = "recovery";
const CODE_PURPOSE: &str = "password-reset-code";

/// How a recovery code looks and lives. The limits around it (one mail a minute, five wrong
/// tries, the 30-minute lock a new mail does not lift) are the same for every style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeStyle {
    /// Six digits for 15 minutes, mailed with a link.
    Native,
    /// The RAGFlow profile's OTP: four letters A–Z for 5 minutes, no link.
    Letters,
}

impl CodeStyle {
    fn ttl(self) -> i64 {
        match self {
            Self::Native => CODE_TTL,
            Self::Letters => 5 * 60,
        }
    }

    fn new_code(self) -> String {
        match self {
            Self::Native => codes::new_code(),
            Self::Letters => crate::tokens::random_from_alphabet(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4),
        }
    }

    fn matches(self, state: &AppState, typed: &str, stored: &str) -> bool {
        match self {
            Self::Native => codes::matches(state, CODE_PURPOSE, typed, stored),
            Self::Letters => {
                codes::matches_len(state, CODE_PURPOSE, &typed.to_uppercase(), stored, 4)
            }
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotInput {
    pub email: String,
    /// Required unless the captcha is turned off.
    pub captcha_id: Option<String>,
    pub captcha_answer: Option<String>,
}

/// Mail a code and a link to a known address (at most once a minute); answer alike for all.
pub async fn forgot(
    state: &AppState,
    input: ForgotInput,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    forgot_with(state, input, client, CodeStyle::Native).await
}

/// [`forgot`] with a code of `style`.
pub async fn forgot_with(
    state: &AppState,
    input: ForgotInput,
    client: &ClientInfo,
    style: CodeStyle,
) -> Result<(), ApiError> {
    ensure_password_login(state)?;
    let answer_at = tokio::time::Instant::now() + FORGOT_ANSWER_AT;
    codes::ip_limit(
        state,
        "forgot",
        client.ip,
        FORGOT_PER_IP,
        Duration::from_secs(15 * 60),
    )
    .await?;
    if state.config.captcha.enabled {
        let (id, answer) = (
            input.captcha_id.unwrap_or_default(),
            input.captcha_answer.unwrap_or_default(),
        );
        if !crate::captcha::service::verify(state, &id, &answer).await? {
            return Err(ApiError::InvalidCaptcha);
        }
    }
    let result =
        send_recovery_mail_with(state, &normalize_email(&input.email), client, style).await;
    tokio::time::sleep_until(answer_at).await;
    result
}

/// Mail a recovery code and link to the account of `normalized`, if it exists, is active and had
/// no such mail in the last minute (used by `forgot` and by administrators).
pub async fn send_recovery_mail(
    state: &AppState,
    normalized: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    send_recovery_mail_with(state, normalized, client, CodeStyle::Native).await
}

async fn send_recovery_mail_with(
    state: &AppState,
    normalized: &str,
    client: &ClientInfo,
    style: CodeStyle,
) -> Result<(), ApiError> {
    let Some(user) = users::find_by_email(&state.db, normalized).await? else {
        return Ok(());
    };
    if !user.is_active || !codes::mail_allowed(state, SCOPE, normalized).await? {
        return Ok(());
    }
    let (code, token) = (style.new_code(), new_token(""));
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    store::insert(
        &mut tx,
        NewReset {
            user_id: &user.id,
            code_hash: &codes::mac(state, CODE_PURPOSE, &code),
            token_hash: &sha256_hex(&token),
            now,
            code_expires_at: now + style.ttl(),
            token_expires_at: now + TOKEN_TTL,
        },
    )
    .await?;
    let link = mail::link(state, &format!("/reset-password?token={token}"));
    let template = match style {
        CodeStyle::Native => Template::Recovery {
            code: &code,
            link: &link,
        },
        CodeStyle::Letters => Template::ResetCode {
            code: &code,
            minutes: style.ttl() / 60,
        },
    };
    mail::enqueue(&mut tx, state, &user.email, &template, user.lang()).await?;
    let mut event = AuditEvent::by_user(audit::Event::UserPasswordResetRequested, &user.id, client);
    event.actor_user_id = None;
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCodeInput {
    pub email: String,
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResetToken {
    pub reset_token: String,
    pub expires_in: i64,
}

impl std::fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetToken(********)")
    }
}

/// Exchange a mailed code for a reset token. Five wrong codes lock the address for 30 minutes;
/// every check is counted before the code is compared.
pub async fn verify_code(
    state: &AppState,
    input: VerifyCodeInput,
    client: &ClientInfo,
) -> Result<ResetToken, ApiError> {
    verify_code_with(state, input, client, CodeStyle::Native).await
}

/// [`verify_code`] for a code of `style`.
pub async fn verify_code_with(
    state: &AppState,
    input: VerifyCodeInput,
    client: &ClientInfo,
    style: CodeStyle,
) -> Result<ResetToken, ApiError> {
    ensure_password_login(state)?;
    let normalized = normalize_email(&input.email);
    let attempt = codes::reserve_try(state, SCOPE, &normalized, client.ip).await?;
    let user = users::find_by_email(&state.db, &normalized).await?;
    let live = match &user {
        Some(u) => store::live_code(&state.db, &u.id, state.clock.now()).await?,
        None => None,
    };
    let token = new_token("");
    let matched = live.filter(|(_, stored)| style.matches(state, &input.code, stored));
    let exchanged = match &matched {
        Some((id, _)) => {
            store::exchange_code(
                &state.db,
                id,
                &sha256_hex(&token),
                state.clock.now() + TOKEN_TTL,
            )
            .await?
        }
        None => false,
    };
    if !exchanged {
        if attempt.wrong(state).await?
            && let Some(u) = &user
        {
            store::kill_codes(&state.db, &u.id).await?;
        }
        return Err(ApiError::InvalidCode);
    }
    attempt.right(state).await?;
    Ok(ResetToken {
        reset_token: token,
        expires_in: TOKEN_TTL,
    })
}

/// Forget the address's wrong recovery codes and lift its lock (an administrator's unlock).
pub async fn forget_wrong_codes(state: &AppState, email_normalized: &str) -> Result<(), ApiError> {
    codes::clear(state, SCOPE, email_normalized).await
}

/// Recovery sets a password: with password sign-in turned off there is none to set.
fn ensure_password_login(state: &AppState) -> Result<(), ApiError> {
    if state.config.password_login_enabled {
        Ok(())
    } else {
        Err(ApiError::PasswordLoginDisabled)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetInput {
    pub reset_token: String,
    #[schema(value_type = String)]
    pub new_password: Password,
}

/// Set a new password with a reset token: every session ends, the email counts as verified.
pub async fn reset(
    state: &AppState,
    input: ResetInput,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    reset_with(state, input, client, PasswordPolicy::Native).await
}

/// [`reset`] under a password `policy` (the RAGFlow profile's `password_policy`).
pub async fn reset_with(
    state: &AppState,
    input: ResetInput,
    client: &ClientInfo,
    policy: PasswordPolicy,
) -> Result<(), ApiError> {
    ensure_password_login(state)?;
    let token_hash = sha256_hex(input.reset_token.trim());
    let now = state.clock.now();
    let user_id = store::token_user(&state.db, &token_hash, now)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let user = users::find_by_id(&state.db, &user_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    policy.check(&input.new_password, &user.email, "new_password")?;
    let hash = state.hasher.hash(&input.new_password).await?;
    let mut tx = state.db.begin().await?;
    if store::claim_token(&mut tx, &token_hash, now)
        .await?
        .is_none()
    {
        return Err(ApiError::InvalidToken);
    }
    users::set_password_hash(&mut tx, &user.id, &hash, now).await?;
    users::mark_email_verified(&mut tx, &user.id).await?;
    let first_proof = !user.email_verified;
    crate::accounts::service::end_access_before_proof(
        &mut tx,
        state,
        &user.id,
        client,
        first_proof,
    )
    .await?;
    audit::record(
        &mut tx,
        now,
        AuditEvent::by_user(audit::Event::UserPasswordReset, &user.id, client),
    )
    .await?;
    let link = mail::link(state, "/forgot-password");
    mail::enqueue(
        &mut tx,
        state,
        &user.email,
        &Template::PasswordChanged { link: &link },
        user.lang(),
    )
    .await?;
    tx.commit().await?;
    crate::accounts::service::forget_login_failures(state, &user.email_normalized).await?;
    Ok(())
}
