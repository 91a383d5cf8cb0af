//! Verification rules: mail a code and a link; accept either once; apply email changes on
//! confirmation. Wrong codes are limited per address like recovery codes.

use serde::Deserialize;
use utoipa::ToSchema;

use super::store;
use crate::accounts::User;
use crate::accounts::store as users;
use crate::audit::{self, AuditEvent};
use crate::codes;
use crate::db::{Conn, is_unique_violation};
use crate::domain::normalize_email;
use crate::error::ApiError;
use crate::error::FieldProblem;
use crate::http::ClientInfo;
use crate::i18n::Lang;
use crate::mail::{self, Template};
use crate::sessions::NewSession;
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

/// Verification and email-change codes and links live 30 minutes.
pub const TTL: i64 = 30 * 60;
const SCOPE: &str = "verification";
const CODE_PURPOSE: &str = "email-verification-code";
/// The purpose under which email-change codes are MACed.
pub const CHANGE_CODE_PURPOSE: &str = "email-change-code";
const REQUESTS_PER_IP: i64 = 20;

/// Queue a verification mail for `user_id` in the caller's transaction; it starts the address's
/// one-mail-a-minute window.
pub async fn queue_verification(
    conn: &mut Conn,
    state: &AppState,
    user_id: &str,
    email: &str,
    lang: Lang,
) -> Result<(), ApiError> {
    codes::mail_allowed(state, SCOPE, &normalize_email(email)).await?;
    let (code, token) = (codes::new_code(), new_token(""));
    let now = state.clock.now();
    store::insert(
        &mut *conn,
        user_id,
        &codes::mac(state, CODE_PURPOSE, &code),
        &sha256_hex(&token),
        now,
        now + TTL,
    )
    .await?;
    let link = mail::link(state, &format!("/verify-email?token={token}"));
    let template = Template::Verification {
        code: &code,
        link: &link,
        minutes: TTL / 60,
    };
    mail::enqueue(conn, state, email, &template, lang).await?;
    Ok(())
}

/// Tell the owner of an address that someone tried to register it (at most once a minute).
pub async fn notify_signup_attempt(
    state: &AppState,
    email_normalized: &str,
) -> Result<(), ApiError> {
    let Some(user) = users::find_by_email(&state.db, email_normalized).await? else {
        return Ok(());
    };
    if !codes::mail_allowed(state, "signup-attempt", email_normalized).await? {
        return Ok(());
    }
    let link = mail::link(state, "/forgot-password");
    let mut tx = state.db.begin().await?;
    mail::enqueue(
        &mut tx,
        state,
        &user.email,
        &Template::SignupAttempt { link: &link },
        user.lang(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendInput {
    pub email: String,
}

/// Requests that mail a verification to an address the caller names (resends, and
/// registrations that must be verified): [`REQUESTS_PER_IP`] per IP in 15 minutes, then 429.
pub async fn limit_requests(state: &AppState, client: &ClientInfo) -> Result<(), ApiError> {
    codes::ip_limit(
        state,
        "verification",
        client.ip,
        REQUESTS_PER_IP,
        codes::IP_WINDOW,
    )
    .await
}

/// Mail a new code and link to an unverified address; the answer never says which addresses exist.
pub async fn resend(
    state: &AppState,
    input: ResendInput,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    limit_requests(state, client).await?;
    let normalized = normalize_email(&input.email);
    let Some(user) = users::find_by_email(&state.db, &normalized).await? else {
        return Ok(());
    };
    if user.email_verified
        || !user.is_active
        || !codes::mail_allowed(state, SCOPE, &normalized).await?
    {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    queue_verification(&mut tx, state, &user.id, &user.email, user.lang()).await?;
    tx.commit().await?;
    Ok(())
}

/// `{token}` from a link, or `{email, code}` from a mail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    pub token: Option<String>,
    pub email: Option<String>,
    pub code: Option<String>,
}

pub enum Verified {
    Done,
    /// The verification completed a registration and `login_after_verification` is on.
    SignedIn(Box<User>, NewSession),
}

/// What a link or code proved.
enum Proof {
    Account(String),
    Change(store::PendingChange),
}

/// A code that matched, not yet used.
enum Matched {
    Verification { id: String, user_id: String },
    Change(store::PendingChange),
}

/// Verify an address by link token or by code.
pub async fn verify(
    state: &AppState,
    input: VerifyInput,
    client: &ClientInfo,
) -> Result<Verified, ApiError> {
    let now = state.clock.now();
    let matched = match (&input.token, &input.email, &input.code) {
        (Some(_), None, None) => None,
        (None, Some(email), Some(code)) => {
            Some(check_code(state, &normalize_email(email), code, client).await?)
        }
        _ => return Err(ApiError::field("token", FieldProblem::Required)),
    };
    let mut tx = state.db.begin().await?;
    let proof = match (matched, input.token) {
        (Some(Matched::Verification { id, user_id }), _) => store::claim_by_id(&mut tx, &id, now)
            .await?
            .then_some(Proof::Account(user_id))
            .ok_or(ApiError::InvalidCode)?,
        (Some(Matched::Change(change)), _) => store::claim_change_by_id(&mut tx, &change.0, now)
            .await?
            .then_some(Proof::Change(change))
            .ok_or(ApiError::InvalidCode)?,
        (None, Some(token)) => {
            let hash = sha256_hex(token.trim());
            if let Some(user_id) = store::claim_token(&mut tx, &hash, now).await? {
                Proof::Account(user_id)
            } else if let Some(change) = store::claim_change_token(&mut tx, &hash, now).await? {
                Proof::Change(change)
            } else {
                return Err(ApiError::InvalidToken);
            }
        }
        (None, None) => return Err(ApiError::InvalidToken),
    };
    match proof {
        Proof::Account(user_id) => {
            users::mark_email_verified(&mut tx, &user_id).await?;
            audit::record(
                &mut tx,
                now,
                AuditEvent::by_user(audit::Event::UserEmailVerified, &user_id, client),
            )
            .await?;
            tx.commit().await?;
            let mut user = users::find_by_id(&state.db, &user_id)
                .await?
                .ok_or(ApiError::InvalidToken)?;
            if state.config.login_after_verification
                && user.last_login_at.is_none()
                && user.is_active
            {
                let session =
                    crate::accounts::service::sign_in(state, &mut user, client, "password").await?;
                return Ok(Verified::SignedIn(Box::new(user), session));
            }
        }
        Proof::Change((_, user_id, email, normalized)) => {
            let old = users::find_by_id(&state.db, &user_id)
                .await?
                .ok_or(ApiError::InvalidToken)?;
            if let Err(e) = store::set_email(&mut tx, &user_id, &email, &normalized, now).await {
                return Err(if is_unique_violation(&e) {
                    ApiError::EmailTaken
                } else {
                    e.into()
                });
            }
            audit::record(
                &mut tx,
                now,
                AuditEvent::by_user(audit::Event::UserEmailChanged, &user_id, client),
            )
            .await?;
            // The old address is told: it no longer signs in, and may be the one that knows.
            let link = mail::link(state, "/forgot-password");
            let notice = Template::SignInChanged {
                change: mail::SignInChange::EmailChanged,
                detail: &email,
                link: &link,
            };
            mail::enqueue(&mut tx, state, &old.email, &notice, old.lang()).await?;
            tx.commit().await?;
        }
    }
    Ok(Verified::Done)
}

/// Check a typed code against the live verification of the address (a new account's, or an
/// email change towards it). Checks count before the comparison; the fifth wrong one locks the
/// address for 30 minutes.
async fn check_code(
    state: &AppState,
    normalized: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<Matched, ApiError> {
    let attempt = codes::reserve_try(state, SCOPE, normalized, client.ip).await?;
    let now = state.clock.now();
    let user = users::find_by_email(&state.db, normalized)
        .await?
        .filter(|u| !u.email_verified);
    if let Some(user) = &user
        && let Some((id, stored)) = store::live_code(&state.db, &user.id, now).await?
        && codes::matches(state, CODE_PURPOSE, code, &stored)
    {
        attempt.right(state).await?;
        return Ok(Matched::Verification {
            id,
            user_id: user.id.clone(),
        });
    }
    if let Some((change, stored)) = store::live_change(&state.db, normalized, now).await?
        && codes::matches(state, CHANGE_CODE_PURPOSE, code, &stored)
    {
        attempt.right(state).await?;
        return Ok(Matched::Change(change));
    }
    if attempt.wrong(state).await?
        && let Some(user) = &user
    {
        store::kill_codes(&state.db, &user.id).await?;
    }
    Err(ApiError::InvalidCode)
}
