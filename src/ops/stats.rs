//! The administrators' overview: sign-ins, failed sign-ins, lockouts, new accounts (from the
//! audit trail) and mail sent / given up (from the outbox), counted per hour over the last 24
//! hours or per day over the last 30 days (UTC).

use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::Admin;
use crate::error::ApiError;
use crate::state::AppState;

/// The two windows the overview offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Day,
    Month,
}

impl Range {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "24h" => Some(Self::Day),
            "30d" => Some(Self::Month),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Month => "30d",
        }
    }
    fn step(self) -> i64 {
        match self {
            Self::Day => 3600,
            Self::Month => 86400,
        }
    }
    fn buckets(self) -> i64 {
        match self {
            Self::Day => 24,
            Self::Month => 30,
        }
    }
}

/// Counts per bucket; `buckets[i]` is the start of the i-th bucket, oldest first, the last one
/// being the current (partial) hour or day.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// `24h` or `30d`.
    pub range: String,
    /// `hour` or `day`.
    pub bucket: String,
    pub buckets: Vec<String>,
    pub series: Series,
    pub totals: Totals,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Series {
    pub sign_ins: Vec<i64>,
    pub failed_sign_ins: Vec<i64>,
    pub lockouts: Vec<i64>,
    pub new_accounts: Vec<i64>,
    pub mail_sent: Vec<i64>,
    pub mail_failed: Vec<i64>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Totals {
    pub sign_ins: i64,
    pub failed_sign_ins: i64,
    pub lockouts: i64,
    pub new_accounts: i64,
    pub mail_sent: i64,
    pub mail_failed: i64,
}

/// The series and their totals for `range`, ending now.
pub async fn stats(state: &AppState, _admin: &Admin, range: Range) -> Result<Stats, ApiError> {
    let step = range.step();
    let n = range.buckets();
    let now = state.clock.now();
    let from = (now.div_euclid(step) - (n - 1)) * step;
    let until = from + n * step;
    let len = usize::try_from(n).unwrap_or(0);
    let mut series = Series {
        sign_ins: vec![0; len],
        failed_sign_ins: vec![0; len],
        lockouts: vec![0; len],
        new_accounts: vec![0; len],
        mail_sent: vec![0; len],
        mail_failed: vec![0; len],
    };
    for (name, bucket, count) in counts(state, from, until, step).await? {
        let Some(slot) = usize::try_from(bucket).ok().filter(|b| *b < len) else {
            continue;
        };
        let target = match name.as_str() {
            "user.login" => &mut series.sign_ins,
            "user.login_failed" => &mut series.failed_sign_ins,
            "user.locked" => &mut series.lockouts,
            "user.registered" => &mut series.new_accounts,
            "mail.sent" => &mut series.mail_sent,
            "mail.failed" => &mut series.mail_failed,
            _ => continue,
        };
        target[slot] += count;
    }
    let sum = |v: &Vec<i64>| v.iter().sum();
    let totals = Totals {
        sign_ins: sum(&series.sign_ins),
        failed_sign_ins: sum(&series.failed_sign_ins),
        lockouts: sum(&series.lockouts),
        new_accounts: sum(&series.new_accounts),
        mail_sent: sum(&series.mail_sent),
        mail_failed: sum(&series.mail_failed),
    };
    Ok(Stats {
        range: range.as_str().into(),
        bucket: if step == 3600 { "hour" } else { "day" }.into(),
        buckets: (0..n)
            .map(|i| crate::clock::rfc3339(from + i * step))
            .collect(),
        series,
        totals,
    })
}

/// `(series, bucket index, count)` rows from the audit trail and the outbox. Both tables are
/// indexed by time (`audit_events_at`; the outbox is small once delivered mail is blanked).
async fn counts(
    state: &AppState,
    from: i64,
    until: i64,
    step: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let mut rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT event, (at - $1) / $3 AS bucket, COUNT(*) FROM audit_events \
         WHERE at >= $1 AND at < $2 \
           AND event IN ('user.login', 'user.login_failed', 'user.locked', 'user.registered') \
         GROUP BY 1, 2",
    )
    .bind(from)
    .bind(until)
    .bind(step)
    .fetch_all(state.db.pool())
    .await?;
    // A given-up mail's `next_attempt_at` is the moment it was given up.
    let mail: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT CASE WHEN status = 'sent' THEN 'mail.sent' ELSE 'mail.failed' END, \
                (CASE WHEN status = 'sent' THEN sent_at ELSE next_attempt_at END - $1) / $3, COUNT(*) \
         FROM mail_outbox \
         WHERE status IN ('sent', 'failed') \
           AND CASE WHEN status = 'sent' THEN sent_at ELSE next_attempt_at END >= $1 \
           AND CASE WHEN status = 'sent' THEN sent_at ELSE next_attempt_at END < $2 \
         GROUP BY 1, 2",
    )
    .bind(from)
    .bind(until)
    .bind(step)
    .fetch_all(state.db.pool())
    .await?;
    rows.extend(mail);
    Ok(rows)
}
