//! One-time codes and the limits around them, shared by recovery, verification and email change:
//! codes are stored as HMACs under the server key, wrong tries are counted per address, and
//! after too many the address is locked for a while (a new mail does not lift the lock).

use std::net::IpAddr;
use std::time::Duration;

use crate::http::ApiError;
use crate::state::AppState;
use crate::tokens::{constant_time_eq, random_digits, sha256_hex};

/// Wrong codes allowed per address before the lock.
pub const MAX_WRONG: i64 = 5;
/// How long an address stays locked after too many wrong codes.
pub const LOCK: Duration = Duration::from_secs(30 * 60);
/// At most one mail of a kind per address in this window.
pub const MAIL_COOLDOWN: Duration = Duration::from_secs(60);

/// A fresh six-digit code.
pub fn new_code() -> String {
    random_digits(6)
}

/// The stored form of `code` for `purpose`.
pub fn mac(state: &AppState, purpose: &str, code: &str) -> String {
    state.key.mac_hex(purpose, code.trim())
}

/// Compare a typed code with a stored MAC in constant time.
pub fn matches(state: &AppState, purpose: &str, typed: &str, stored: &str) -> bool {
    matches_len(state, purpose, typed, stored, 6)
}

/// [`matches`] for codes of `len` characters (the RAGFlow profile's four letters).
pub fn matches_len(state: &AppState, purpose: &str, typed: &str, stored: &str, len: usize) -> bool {
    typed.trim().len() == len && constant_time_eq(&mac(state, purpose, typed), stored)
}

/// The short-lived-store key of a counter, lock or cooldown of an address.
pub fn key(kind: &str, scope: &str, email_normalized: &str) -> String {
    format!("codes:{kind}:{scope}:{}", sha256_hex(email_normalized))
}

/// 429 `too_many_attempts` while the address is locked for `scope`.
pub async fn ensure_not_locked(
    state: &AppState,
    scope: &str,
    email_normalized: &str,
) -> Result<(), ApiError> {
    match state.kv.ttl(&key("lock", scope, email_normalized)).await? {
        Some(left) => Err(ApiError::TooManyAttempts {
            retry_after: left.as_secs().max(1),
        }),
        None => Ok(()),
    }
}

/// Count a wrong code; true when this one locked the address.
pub async fn record_wrong(
    state: &AppState,
    scope: &str,
    email_normalized: &str,
) -> Result<bool, ApiError> {
    let tries = state
        .kv
        .incr(&key("tries", scope, email_normalized), LOCK)
        .await?;
    if tries < MAX_WRONG {
        return Ok(false);
    }
    state
        .kv
        .set_ex(&key("lock", scope, email_normalized), "1", LOCK)
        .await?;
    state.kv.del(&key("tries", scope, email_normalized)).await?;
    Ok(true)
}

pub async fn clear_wrong(
    state: &AppState,
    scope: &str,
    email_normalized: &str,
) -> Result<(), ApiError> {
    state.kv.del(&key("tries", scope, email_normalized)).await?;
    Ok(())
}

/// True at most once per [`MAIL_COOLDOWN`] per address and scope (silently limits mail floods).
pub async fn mail_allowed(
    state: &AppState,
    scope: &str,
    email_normalized: &str,
) -> Result<bool, ApiError> {
    Ok(state
        .kv
        .set_nx_ex(&key("mail", scope, email_normalized), "1", MAIL_COOLDOWN)
        .await?)
}

/// A per-IP request limit for unauthenticated mail-sending routes: 429 past `max` in `window`.
pub async fn ip_limit(
    state: &AppState,
    scope: &str,
    ip: IpAddr,
    max: i64,
    window: Duration,
) -> Result<(), ApiError> {
    let key = format!("codes:ip:{scope}:{ip}");
    if state.kv.incr(&key, window).await? > max {
        let left = state.kv.ttl(&key).await?.unwrap_or(window);
        return Err(ApiError::RateLimited {
            retry_after: left.as_secs().max(1),
        });
    }
    Ok(())
}
