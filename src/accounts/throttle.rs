//! Login protection: consecutive failures per account and failures per IP, kept in the shared
//! short-lived store so every instance sees the same counts. Failures bring the captcha back,
//! then a temporary lock.

use std::net::IpAddr;
use std::time::Duration;

use crate::http::ApiError;
use crate::state::AppState;
use crate::tokens::sha256_hex;

/// The window over which failures per IP are counted.
const IP_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Consecutive account failures are forgotten after a day without another one.
const ACCOUNT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// An IP is refused outright after this many times its captcha threshold of failures.
const IP_LIMIT_FACTOR: u32 = 5;

fn account_key(kind: &str, email_normalized: &str) -> String {
    // Hashed so the store holds no addresses.
    format!("login:{kind}:acct:{}", sha256_hex(email_normalized))
}

fn ip_key(ip: IpAddr) -> String {
    format!("login:fail:ip:{ip}")
}

/// What the counters say before a password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub captcha_required: bool,
}

/// Refuse at once (429 + Retry-After) when the account is locked or the IP is over its limit;
/// otherwise say whether a captcha is due.
pub async fn check(
    state: &AppState,
    email_normalized: &str,
    ip: IpAddr,
) -> Result<Standing, ApiError> {
    if let Some(left) = state.kv.ttl(&account_key("lock", email_normalized)).await? {
        return Err(ApiError::RateLimited {
            retry_after: left.as_secs().max(1),
        });
    }
    let ip_failures = count(state, &ip_key(ip)).await?;
    let ip_threshold = i64::from(state.config.ip_captcha_after_failures);
    if ip_failures >= ip_threshold * i64::from(IP_LIMIT_FACTOR) {
        let left = state.kv.ttl(&ip_key(ip)).await?.unwrap_or(IP_WINDOW);
        return Err(ApiError::RateLimited {
            retry_after: left.as_secs().max(1),
        });
    }
    let account_failures = count(state, &account_key("fail", email_normalized)).await?;
    let captcha_required = account_failures >= i64::from(state.config.captcha_after_failures)
        || ip_failures >= ip_threshold;
    Ok(Standing { captcha_required })
}

async fn count(state: &AppState, key: &str) -> Result<i64, ApiError> {
    Ok(state
        .kv
        .get(key)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Count a failure; true when it locked the account just now.
pub async fn record_failure(
    state: &AppState,
    email_normalized: &str,
    ip: IpAddr,
) -> Result<bool, ApiError> {
    state.kv.incr(&ip_key(ip), IP_WINDOW).await?;
    let failures = state
        .kv
        .incr(&account_key("fail", email_normalized), ACCOUNT_WINDOW)
        .await?;
    if failures < i64::from(state.config.lockout_threshold) {
        return Ok(false);
    }
    let locked = state
        .kv
        .set_nx_ex(
            &account_key("lock", email_normalized),
            "1",
            state.config.lockout_duration.0,
        )
        .await?;
    // The lock ends the streak, but not the suspicion: after it the captcha is still due.
    let due = state.config.captcha_after_failures.to_string();
    state
        .kv
        .set_ex(&account_key("fail", email_normalized), &due, ACCOUNT_WINDOW)
        .await?;
    Ok(locked)
}

/// A correct password resets the account's streak (not the IP's count).
pub async fn record_success(state: &AppState, email_normalized: &str) -> Result<(), ApiError> {
    state.kv.del(&account_key("fail", email_normalized)).await?;
    Ok(())
}
