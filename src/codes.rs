//! One-time codes and the limits around them, shared by recovery, verification and email change:
//! codes are stored as HMACs under the server key, checks are counted per address before the
//! code is compared, and after too many wrong ones the address is locked for a while (a new
//! mail does not lift the lock) — for good after `max_consecutive_failures`.

use std::net::IpAddr;
use std::time::Duration;

use crate::accounts::store as users;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{constant_time_eq, ip_bucket, random_digits};

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

/// Code checks one IP may make in [`IP_WINDOW`] (right or wrong).
pub const CHECKS_PER_IP: i64 = 20;
/// The window of per-IP limits on code checks and mail-sending requests.
pub const IP_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The short-lived-store key of a counter, lock or cooldown of an address.
pub fn key(state: &AppState, kind: &str, scope: &str, email_normalized: &str) -> String {
    format!(
        "codes:{kind}:{scope}:{}",
        state.key.address_tag(email_normalized)
    )
}

/// The `failure_counts` key of an address's wrong codes of `scope`: the cap no time forgives.
fn total_key(state: &AppState, scope: &str, email_normalized: &str) -> String {
    format!("{scope}:{}", state.key.address_tag(email_normalized))
}

fn too_many(left: Duration) -> ApiError {
    ApiError::TooManyAttempts {
        retry_after: left.as_secs().max(1),
    }
}

/// One code check of an address, counted before the code is compared, so parallel guesses get
/// no more tries than sequential ones.
#[derive(Debug)]
#[must_use = "a code check ends as right or wrong"]
pub struct CodeTry {
    tries_key: String,
    lock_key: String,
    total_key: String,
    tries: i64,
}

/// Count a code check of `email_normalized` for `scope` from `ip`. Refused (429) past the IP's
/// limit, while the address is locked, when [`MAX_WRONG`] checks are already under way or done,
/// and for good once `max_consecutive_failures` wrong codes came without a right one.
pub async fn reserve_try(
    state: &AppState,
    scope: &str,
    email_normalized: &str,
    ip: IpAddr,
) -> Result<CodeTry, ApiError> {
    ip_limit(
        state,
        &format!("{scope}-check"),
        ip,
        CHECKS_PER_IP,
        IP_WINDOW,
    )
    .await?;
    let attempt = CodeTry {
        tries_key: key(state, "tries", scope, email_normalized),
        lock_key: key(state, "lock", scope, email_normalized),
        total_key: total_key(state, scope, email_normalized),
        tries: 0,
    };
    let max = i64::from(state.config.max_consecutive_failures);
    if users::failures(&state.db, &attempt.total_key).await? >= max {
        return Err(too_many(LOCK));
    }
    if let Some(left) = state.kv.ttl(&attempt.lock_key).await? {
        return Err(too_many(left));
    }
    let tries = state.kv.incr(&attempt.tries_key, LOCK).await?;
    if tries > MAX_WRONG {
        state.kv.add(&attempt.tries_key, -1, LOCK).await?;
        return Err(too_many(LOCK));
    }
    let total = users::add_failure(&state.db, &attempt.total_key, state.clock.now()).await?;
    if total > max {
        state.kv.add(&attempt.tries_key, -1, LOCK).await?;
        users::release_failure(&state.db, &attempt.total_key).await?;
        return Err(too_many(LOCK));
    }
    Ok(CodeTry { tries, ..attempt })
}

impl CodeTry {
    /// The code was wrong; true when this one locked the address.
    pub async fn wrong(self, state: &AppState) -> Result<bool, ApiError> {
        if self.tries < MAX_WRONG {
            return Ok(false);
        }
        state.kv.set_ex(&self.lock_key, "1", LOCK).await?;
        state.kv.del(&self.tries_key).await?;
        Ok(true)
    }

    /// The code was right: the address starts afresh.
    pub async fn right(self, state: &AppState) -> Result<(), ApiError> {
        state.kv.del(&self.tries_key).await?;
        users::clear_failures(&state.db, &self.total_key).await?;
        Ok(())
    }
}

/// Forget the wrong codes and the lock of an address for `scope` (an administrator's unlock).
pub async fn clear(state: &AppState, scope: &str, email_normalized: &str) -> Result<(), ApiError> {
    state
        .kv
        .del(&key(state, "tries", scope, email_normalized))
        .await?;
    state
        .kv
        .del(&key(state, "lock", scope, email_normalized))
        .await?;
    users::clear_failures(&state.db, &total_key(state, scope, email_normalized)).await?;
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
        .set_nx_ex(
            &key(state, "mail", scope, email_normalized),
            "1",
            MAIL_COOLDOWN,
        )
        .await?)
}

/// A per-IP request limit (its IPv6 /64) for routes that send mail or check codes: 429 past
/// `max` in `window`.
pub async fn ip_limit(
    state: &AppState,
    scope: &str,
    ip: IpAddr,
    max: i64,
    window: Duration,
) -> Result<(), ApiError> {
    limit(
        state,
        &format!("codes:ip:{scope}:{}", ip_bucket(ip)),
        max,
        window,
    )
    .await
}

/// How often a signed-in user (and an IP) may make gatehouse mail someone else.
#[derive(Debug)]
pub struct MailLimit {
    scope: &'static str,
    per_user: i64,
    per_ip: i64,
    window: Duration,
}

const HOUR: Duration = Duration::from_secs(3600);

/// Invitations: 20 per user per hour (API.md), and 60 per IP.
pub const INVITATIONS: MailLimit = MailLimit {
    scope: "invitation",
    per_user: 20,
    per_ip: 60,
    window: HOUR,
};

/// Email-change requests (each mails the new address): 5 per user per hour, and 20 per IP.
pub const EMAIL_CHANGES: MailLimit = MailLimit {
    scope: "email-change",
    per_user: 5,
    per_ip: 20,
    window: HOUR,
};

/// 429 + Retry-After once `user_id` or `ip` is past `limit`; counts this request.
pub async fn mail_limits(
    state: &AppState,
    limit: &MailLimit,
    user_id: &str,
    ip: IpAddr,
) -> Result<(), ApiError> {
    let user_key = format!("codes:user:{}:{user_id}", limit.scope);
    self::limit(state, &user_key, limit.per_user, limit.window).await?;
    ip_limit(state, limit.scope, ip, limit.per_ip, limit.window).await
}

async fn limit(state: &AppState, key: &str, max: i64, window: Duration) -> Result<(), ApiError> {
    if state.kv.incr(key, window).await? > max {
        let left = state.kv.ttl(key).await?.unwrap_or(window);
        return Err(ApiError::RateLimited {
            retry_after: left.as_secs().max(1),
        });
    }
    Ok(())
}
