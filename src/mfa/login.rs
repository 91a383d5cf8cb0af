//! The second step of a sign-in: a password (or provider) sign-in of an account with a second
//! factor gets an opaque single-use `mfa_token` (5 minutes, dead after 5 wrong codes) instead of
//! a session, and finishes it with a TOTP code, a recovery code or a passkey. The token lives in
//! the shared short-lived store (only its hash names it), so any instance can finish it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{passkeys, service};
use crate::accounts::throttle;
use crate::accounts::{User, store as users};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::sessions::NewSession;
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

pub const TOKEN_TTL: Duration = Duration::from_secs(300);
/// The token dies at this many wrong codes.
const MAX_WRONG: i64 = 5;

/// The answer of a sign-in whose second step is due: no session yet.
#[derive(Serialize, ToSchema)]
pub struct SecondStep {
    /// Always true.
    pub mfa_required: bool,
    pub mfa_token: String,
    /// What the account can answer with: `totp`, `recovery_code`, `passkey`.
    pub methods: Vec<&'static str>,
    /// Seconds the token lives.
    pub expires_in: u64,
}

impl std::fmt::Debug for SecondStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondStep")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

/// What the first step proved, kept under the token's hash.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    user_id: String,
    /// The session's `auth_method` (`password` or the provider's id).
    method: String,
    amr: Vec<String>,
    /// Where a provider sign-in meant to land.
    return_to: Option<String>,
}

fn token_key(hash: &str) -> String {
    format!("mfa:token:{hash}")
}

fn wrong_key(hash: &str) -> String {
    format!("mfa:wrong:{hash}")
}

/// The hash naming a token, or `invalid_token` for something that cannot be one.
fn token_hash(token: &str) -> Result<String, ApiError> {
    if token.is_empty() || token.len() > 128 {
        return Err(ApiError::InvalidToken);
    }
    Ok(sha256_hex(token))
}

/// The second step `user` owes after proving `amr` by `method`, or `None` when the account has
/// no second factor.
pub async fn begin_if_due(
    state: &AppState,
    user: &User,
    method: &str,
    amr: &[&str],
    return_to: Option<&str>,
) -> Result<Option<SecondStep>, ApiError> {
    let factors = service::factors(state, &user.id).await?;
    if !factors.any() {
        return Ok(None);
    }
    let token = new_token("");
    let pending = Pending {
        user_id: user.id.clone(),
        method: method.to_string(),
        amr: amr.iter().map(|m| m.to_string()).collect(),
        return_to: return_to.map(str::to_string),
    };
    let value = serde_json::to_string(&pending).map_err(anyhow::Error::from)?;
    let hash = sha256_hex(&token);
    state
        .kv
        .set_ex(&token_key(&hash), &value, TOKEN_TTL)
        .await?;
    Ok(Some(SecondStep {
        mfa_required: true,
        mfa_token: token,
        methods: factors.methods(),
        expires_in: TOKEN_TTL.as_secs(),
    }))
}

/// The methods a live token can still be answered with (the page shows them); `None` when the
/// token is unknown, used or expired.
pub async fn methods(state: &AppState, token: &str) -> Result<Option<Vec<&'static str>>, ApiError> {
    let Ok(hash) = token_hash(token) else {
        return Ok(None);
    };
    let Some(value) = state.kv.get(&token_key(&hash)).await? else {
        return Ok(None);
    };
    let pending: Pending = serde_json::from_str(&value).map_err(anyhow::Error::from)?;
    Ok(Some(
        service::factors(state, &pending.user_id).await?.methods(),
    ))
}

async fn pending(state: &AppState, hash: &str) -> Result<Pending, ApiError> {
    let value = state
        .kv
        .get(&token_key(hash))
        .await?
        .ok_or(ApiError::InvalidToken)?;
    serde_json::from_str(&value).map_err(|_| ApiError::InvalidToken)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyStepInput {
    pub mfa_token: String,
}

/// Options to answer the second step with a passkey.
pub async fn passkey_options(
    state: &AppState,
    input: PasskeyStepInput,
) -> Result<service::CeremonyOptions, ApiError> {
    let hash = token_hash(&input.mfa_token)?;
    let pending = pending(state, &hash).await?;
    let (challenge_id, options) =
        passkeys::start_second_step(state, &pending.user_id, &hash).await?;
    Ok(service::CeremonyOptions {
        challenge_id,
        options,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondStepInput {
    pub mfa_token: String,
    /// A TOTP code or a recovery code.
    pub code: Option<String>,
    /// With `credential`: the passkey answer to `POST /auth/login/mfa/passkey`'s options.
    pub challenge_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub credential: Option<Value>,
}

impl std::fmt::Debug for SecondStepInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecondStepInput(********)")
    }
}

/// A finished sign-in, and where a provider sign-in meant to land.
pub struct Finished {
    pub user: User,
    pub session: NewSession,
    pub return_to: Option<String>,
}

/// Finish the second step. A wrong answer counts as a failed sign-in of the account (its
/// lockout applies) and toward the token's 5; the right one ends the token, resets the
/// account's failure count and opens the session.
pub async fn finish(
    state: &AppState,
    input: SecondStepInput,
    client: &ClientInfo,
) -> Result<Finished, ApiError> {
    let hash = token_hash(&input.mfa_token)?;
    let pending = pending(state, &hash).await?;
    let mut user = users::find_by_id(&state.db, &pending.user_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    if !user.is_active {
        state.kv.del(&token_key(&hash)).await?;
        return Err(ApiError::AccountDisabled);
    }
    let answer = match (&input.code, &input.challenge_id, input.credential) {
        (Some(code), None, None) => Answer::Code(code),
        (None, Some(challenge_id), Some(credential)) => Answer::Passkey(challenge_id, credential),
        (None, None, None) => {
            return Err(ApiError::field(
                "code",
                crate::error::FieldProblem::Required,
            ));
        }
        _ => {
            return Err(ApiError::field(
                "body",
                crate::error::FieldProblem::WrongType(
                    "send either code, or challenge_id with credential".into(),
                ),
            ));
        }
    };
    let attempt = throttle::reserve(state, &user.email_normalized, client.ip, None).await?;
    // A code is claimed in a transaction that commits only once the token is taken (a lost
    // race leaves the code unused); a passkey's counter is its own atomic claim.
    let mut tx = None;
    let checked = match answer {
        Answer::Code(code) => {
            let conn = tx.insert(state.db.begin().await?);
            service::check_code(conn, state, &user, code)
                .await
                .map(|ok| {
                    if ok {
                        Ok("otp")
                    } else {
                        Err(ApiError::InvalidCode)
                    }
                })
        }
        Answer::Passkey(challenge_id, credential) => {
            match passkeys::finish_second_step(state, &user.id, &hash, challenge_id, credential)
                .await
            {
                Ok(_) => Ok(Ok("hwk")),
                Err(ApiError::InvalidCredential) => Ok(Err(ApiError::InvalidCredential)),
                Err(other) => Err(other),
            }
        }
    };
    let factor = match checked {
        Ok(Ok(factor)) => factor,
        Ok(Err(wrong)) => {
            drop(tx);
            let failed = attempt.failed(state).await?;
            crate::accounts::service::second_step_failed(state, &user, client, failed).await?;
            if state.kv.incr(&wrong_key(&hash), TOKEN_TTL).await? >= MAX_WRONG {
                state.kv.del(&token_key(&hash)).await?;
            }
            return Err(wrong);
        }
        Err(e) => {
            drop(tx);
            attempt.release(state).await?;
            return Err(e);
        }
    };
    // The token is taken only now, and only once: a parallel finish with it loses here.
    if state.kv.take(&token_key(&hash)).await?.is_none() {
        drop(tx);
        attempt.release(state).await?;
        return Err(ApiError::InvalidToken);
    }
    if let Some(tx) = tx {
        tx.commit().await?;
    }
    attempt.succeeded(state).await?;
    let mut amr: Vec<&str> = pending.amr.iter().map(String::as_str).collect();
    amr.push(factor);
    let session =
        crate::accounts::service::sign_in_with_amr(state, &mut user, client, &pending.method, &amr)
            .await?;
    Ok(Finished {
        user,
        session,
        return_to: pending.return_to,
    })
}

enum Answer<'a> {
    Code(&'a str),
    Passkey(&'a str, Value),
}
