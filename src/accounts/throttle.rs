//! Login protection: consecutive failures per address and failures per IP (in the shared
//! short-lived store, so every instance sees the same counts), and the consecutive failures no
//! time forgives (in the database). Failures bring the captcha back, then a temporary lock, and
//! after `max_consecutive_failures` a lock that only a reset by mail or an administrator lifts.
//!
//! Every attempt is counted *before* its password is checked ([`reserve`]): parallel guesses get
//! no more tries than sequential ones. An attempt refused before the check (captcha, lock, limit)
//! gives its count back; a checked one keeps it until a complete sign-in resets the address.

use std::net::IpAddr;
use std::time::Duration;

use super::store;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::ip_bucket;

/// The window over which failures per IP are counted.
const IP_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The captcha streak of an address is forgotten after a day without another failure.
const ACCOUNT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// An IP is refused outright after this many times its captcha threshold of failures.
const IP_LIMIT_FACTOR: i64 = 5;

fn streak_key(tag: &str) -> String {
    format!("login:fail:acct:{tag}")
}

fn lock_key(tag: &str) -> String {
    format!("login:lock:acct:{tag}")
}

fn ip_key(ip: IpAddr) -> String {
    format!("login:fail:ip:{}", ip_bucket(ip))
}

/// The `failure_counts` key of an address's sign-in failures.
fn total_key(tag: &str) -> String {
    format!("login:{tag}")
}

/// What a captcha-protected caller sent; `None` where no captcha can be asked (a signed-in
/// confirmation of the password, the RAGFlow profile).
pub type CaptchaAnswer<'a> = Option<(Option<&'a str>, Option<&'a str>)>;

/// One counted sign-in attempt of an address, reserved before its password is checked.
#[derive(Debug)]
#[must_use = "an attempt ends as failed, succeeded or released"]
pub struct Attempt {
    tag: String,
    ip: IpAddr,
    ip_count: i64,
    streak: i64,
    total: i64,
}

/// What a failed attempt set off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failed {
    /// The address is now locked for `lockout_duration`.
    pub locked: bool,
    /// The address reached `max_consecutive_failures`: locked until a reset or an unlock.
    pub locked_for_good: bool,
}

/// Count an attempt of `email_normalized` from `ip` before its password is checked; refuse it
/// (giving the count back) while the address is locked, the IP is over its limit, or a captcha
/// is due and not solved.
pub async fn reserve(
    state: &AppState,
    email_normalized: &str,
    ip: IpAddr,
    captcha: CaptchaAnswer<'_>,
) -> Result<Attempt, ApiError> {
    let tag = state.key.address_tag(email_normalized);
    let max = i64::from(state.config.max_consecutive_failures);
    if store::failures(&state.db, &total_key(&tag)).await? >= max {
        return Err(ApiError::AccountLocked);
    }
    if let Some(left) = state.kv.ttl(&lock_key(&tag)).await? {
        return Err(rate_limited(left));
    }
    let mut attempt = Attempt {
        tag,
        ip,
        ip_count: 0,
        streak: 0,
        total: 0,
    };
    match attempt.count(state, captcha).await {
        Ok(()) => Ok(attempt),
        Err(e) => {
            attempt.release(state).await?;
            Err(e)
        }
    }
}

fn rate_limited(left: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after: left.as_secs().max(1),
    }
}

impl Attempt {
    async fn count(
        &mut self,
        state: &AppState,
        captcha: CaptchaAnswer<'_>,
    ) -> Result<(), ApiError> {
        let config = &state.config;
        let ip_threshold = i64::from(config.ip_captcha_after_failures);
        self.ip_count = state.kv.incr(&ip_key(self.ip), IP_WINDOW).await?;
        if self.ip_count > ip_threshold * IP_LIMIT_FACTOR {
            let left = state.kv.ttl(&ip_key(self.ip)).await?.unwrap_or(IP_WINDOW);
            return Err(rate_limited(left));
        }
        self.streak = state
            .kv
            .incr(&streak_key(&self.tag), ACCOUNT_WINDOW)
            .await?;
        if self.streak > i64::from(config.lockout_threshold) {
            // The attempt that reached the threshold is still being checked; it sets the lock.
            return Err(rate_limited(config.lockout_duration.0));
        }
        if let Some((id, answer)) = captcha {
            let due = self.streak > i64::from(config.captcha_after_failures)
                || self.ip_count > ip_threshold;
            crate::captcha::service::require(state, due, id, answer).await?;
        }
        let now = state.clock.now();
        self.total = store::add_failure(&state.db, &total_key(&self.tag), now).await?;
        if self.total > i64::from(config.max_consecutive_failures) {
            return Err(ApiError::AccountLocked);
        }
        Ok(())
    }

    /// Give back what this attempt counted: it was refused before anything was checked.
    pub async fn release(self, state: &AppState) -> Result<(), ApiError> {
        if self.ip_count > 0 {
            state.kv.add(&ip_key(self.ip), -1, IP_WINDOW).await?;
        }
        if self.streak > 0 {
            state
                .kv
                .add(&streak_key(&self.tag), -1, ACCOUNT_WINDOW)
                .await?;
        }
        if self.total > 0 {
            store::release_failure(&state.db, &total_key(&self.tag)).await?;
        }
        Ok(())
    }

    /// The password was wrong: the counts stay, and the thresholds this attempt reached apply.
    pub async fn failed(self, state: &AppState) -> Result<Failed, ApiError> {
        let config = &state.config;
        let mut outcome = Failed {
            locked_for_good: self.total >= i64::from(config.max_consecutive_failures),
            ..Failed::default()
        };
        if self.streak >= i64::from(config.lockout_threshold) {
            outcome.locked = state
                .kv
                .set_nx_ex(&lock_key(&self.tag), "1", config.lockout_duration.0)
                .await?;
            // The lock ends the streak but not the suspicion: after it the captcha is still
            // due. Subtracting (not setting) keeps the count right for attempts still in flight.
            let back = (i64::from(config.lockout_threshold)
                - i64::from(config.captcha_after_failures))
            .max(0);
            state
                .kv
                .add(&streak_key(&self.tag), -back, ACCOUNT_WINDOW)
                .await?;
        }
        Ok(outcome)
    }

    /// The password was right and the sign-in is complete: the address starts afresh (the
    /// IP's count of failures is not a failure of this attempt either).
    pub async fn succeeded(self, state: &AppState) -> Result<(), ApiError> {
        if self.ip_count > 0 {
            state.kv.add(&ip_key(self.ip), -1, IP_WINDOW).await?;
        }
        clear_tag(state, &self.tag).await
    }
}

async fn clear_tag(state: &AppState, tag: &str) -> Result<(), ApiError> {
    state.kv.del(&streak_key(tag)).await?;
    state.kv.del(&lock_key(tag)).await?;
    store::clear_failures(&state.db, &total_key(tag)).await?;
    Ok(())
}

/// Forget every failure of an address: its owner proved it (a reset by mail), or an
/// administrator unlocked it.
pub async fn clear(state: &AppState, email_normalized: &str) -> Result<(), ApiError> {
    clear_tag(state, &state.key.address_tag(email_normalized)).await
}
