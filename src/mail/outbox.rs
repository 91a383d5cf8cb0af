//! The outbox worker, one per instance: claims due `mail_outbox` rows under a lease, sends
//! them, and marks each sent (bodies blanked) or failed (retried with backoff until
//! `smtp.give_up_after`). A row whose lease ran out — its worker died mid-send — is claimed
//! again, so a crash or an SMTP outage delays mail but never loses it.
//! See docs/decisions/0002-durable-outbox.md.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::transport::{Outgoing, SendError, Transport};
use crate::db::Backend;
use crate::state::AppState;

/// How long a claim protects a row from other workers.
pub const LEASE_SECS: i64 = 60;
/// How often the worker looks for due rows when nobody wakes it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// [`super::enqueue`] wakes the worker before the caller commits; this pause lets the commit land
/// so the wake-up finds the row (the poll catches anything slower).
pub const WAKE_DELAY: Duration = Duration::from_millis(50);
/// Rows claimed at once.
pub const BATCH: i64 = 10;
/// Backoff after the first failure, doubled per attempt up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 5;
pub const MAX_BACKOFF_SECS: i64 = 15 * 60;

const CLAIM_POSTGRES: &str = "UPDATE mail_outbox SET claimed_by = $1, claimed_until = $2 \
     WHERE id IN (SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
       AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY created_at, id LIMIT $4 \
       FOR UPDATE SKIP LOCKED) \
     RETURNING id, kind, recipient, subject, body_text, body_html, attempts, created_at, claimed_until";

// SQLite serialises writers, so the same UPDATE is atomic without row locks.
const CLAIM_SQLITE: &str = "UPDATE mail_outbox SET claimed_by = $1, claimed_until = $2 \
     WHERE id IN (SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
       AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY created_at, id LIMIT $4) \
     RETURNING id, kind, recipient, subject, body_text, body_html, attempts, created_at, claimed_until";

/// A row this worker holds a lease on.
#[derive(Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i64,
    pub created_at: i64,
    pub claimed_until: i64,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bodies hold codes and links: never printed.
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub claimed: usize,
    pub sent: usize,
    /// Failed this time, to be tried again later.
    pub retrying: usize,
    /// Given up: status `failed`.
    pub failed: usize,
    /// Claimed but handed back unsent (the lease would have run out during the send), or
    /// taken over by another worker meanwhile.
    pub released: usize,
}

/// Start this instance's worker on `state`'s configured transport, and install the wake-up
/// that [`super::enqueue`] pokes. Fails when `[smtp]` cannot be used (unreadable `ca_file`, …).
pub fn spawn(state: &AppState) -> anyhow::Result<JoinHandle<()>> {
    let transport = Transport::from_config(&state.config)?;
    let wake = state.mail_wake.clone();
    let state = state.clone();
    let worker = format!("worker-{}", uuid::Uuid::new_v4().simple());
    tracing::info!(transport = %transport.describe(), worker = %worker, "mail worker started");
    Ok(tokio::spawn(async move {
        loop {
            let full = match run_once(&state, &transport, &worker, LEASE_SECS).await {
                Ok(report) => report.claimed as i64 >= BATCH,
                Err(e) => {
                    tracing::warn!(error = %e, "mail worker pass failed; trying again");
                    false
                }
            };
            if full {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = wake.notified() => tokio::time::sleep(WAKE_DELAY).await,
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }))
}

/// One pass: claim due rows for `worker` with a lease of `lease_secs`, send each, mark each,
/// and refresh the depth gauge.
pub async fn run_once(
    state: &AppState,
    transport: &Transport,
    worker: &str,
    lease_secs: i64,
) -> anyhow::Result<RunReport> {
    let rows = claim(state, worker, lease_secs, BATCH).await?;
    let mut report = RunReport {
        claimed: rows.len(),
        ..RunReport::default()
    };
    // Never start a send that could outlast the lease: another worker would send it too.
    let budget = state.config.smtp.timeout.secs().saturating_add(1);
    for row in rows {
        if state.clock.now().saturating_add(budget) >= row.claimed_until {
            release(state, &row.id, worker).await?;
            report.released += 1;
            continue;
        }
        let outgoing = Outgoing {
            id: &row.id,
            recipient: &row.recipient,
            subject: &row.subject,
            text: &row.body_text,
            html: &row.body_html,
        };
        match transport.send(&outgoing).await {
            // The transport logs the one line per delivered message.
            Ok(_) => {
                if mark_sent(state, &row.id, worker).await? {
                    metrics::counter!("gatehouse_mail_sent_total").increment(1);
                    report.sent += 1;
                } else {
                    tracing::warn!(mail_id = %row.id, kind = %row.kind, "mail delivered after its lease was taken over; it may arrive twice");
                    report.released += 1;
                }
            }
            Err(error) => {
                metrics::counter!("gatehouse_mail_failed_total", "class" => error.class.as_str())
                    .increment(1);
                match mark_failed(state, &row, worker, &error).await? {
                    Some(true) => {
                        tracing::error!(mail_id = %row.id, kind = %row.kind, attempts = row.attempts + 1, error = %error, "mail given up");
                        metrics::counter!("gatehouse_mail_given_up_total").increment(1);
                        report.failed += 1;
                    }
                    Some(false) => {
                        tracing::warn!(mail_id = %row.id, kind = %row.kind, attempts = row.attempts + 1, error = %error, "mail not delivered; will retry");
                        report.retrying += 1;
                    }
                    None => report.released += 1,
                }
            }
        }
    }
    refresh_depth(state).await?;
    Ok(report)
}

/// Claim up to `limit` due rows for `worker` until `now + lease_secs`. Atomic: two workers
/// never hold the same row (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on
/// SQLite). Rows whose lease has expired count as due.
pub async fn claim(
    state: &AppState,
    worker: &str,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let now = state.clock.now();
    let sql = match state.db.backend() {
        Backend::Postgres => CLAIM_POSTGRES,
        Backend::Sqlite => CLAIM_SQLITE,
    };
    let mut tx = state.db.begin().await?;
    let rows = sqlx::query_as::<_, Claimed>(sql)
        .bind(worker)
        .bind(now.saturating_add(lease_secs))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Mark `id` sent if `worker` still holds it, and blank its bodies: codes and links must not
/// stay at rest once delivered. False when the lease was lost to another worker.
pub async fn mark_sent(state: &AppState, id: &str, worker: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE mail_outbox SET status = 'sent', sent_at = $3, attempts = attempts + 1, \
         last_error = NULL, body_text = '', body_html = '', claimed_by = NULL, claimed_until = NULL \
         WHERE id = $1 AND claimed_by = $2 AND status = 'pending'",
    )
    .bind(id)
    .bind(worker)
    .bind(state.clock.now())
    .execute(state.db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Record a failed attempt: `Some(true)` when the mail is given up (bodies blanked),
/// `Some(false)` when it will be retried after a backoff, `None` when the lease was lost.
async fn mark_failed(
    state: &AppState,
    row: &Claimed,
    worker: &str,
    error: &SendError,
) -> Result<Option<bool>, sqlx::Error> {
    let now = state.clock.now();
    let give_up = error.class.is_permanent()
        || row
            .created_at
            .saturating_add(state.config.smtp.give_up_after.secs())
            <= now;
    let sql = if give_up {
        "UPDATE mail_outbox SET status = 'failed', attempts = attempts + 1, last_error = $3, \
         next_attempt_at = $4, body_text = '', body_html = '', claimed_by = NULL, claimed_until = NULL \
         WHERE id = $1 AND claimed_by = $2 AND status = 'pending'"
    } else {
        "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, \
         claimed_by = NULL, claimed_until = NULL \
         WHERE id = $1 AND claimed_by = $2 AND status = 'pending'"
    };
    let done = sqlx::query(sql)
        .bind(&row.id)
        .bind(worker)
        .bind(error.to_string())
        .bind(now.saturating_add(backoff_secs(row.attempts)))
        .execute(state.db.pool())
        .await?;
    Ok((done.rows_affected() == 1).then_some(give_up))
}

/// Hand a claimed row back unsent.
async fn release(state: &AppState, id: &str, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET claimed_by = NULL, claimed_until = NULL \
         WHERE id = $1 AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .execute(state.db.pool())
    .await?;
    Ok(())
}

/// Pending rows, also published as the `gatehouse_mail_outbox_depth` gauge.
pub async fn refresh_depth(state: &AppState) -> Result<i64, sqlx::Error> {
    let depth: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE status = 'pending'")
            .fetch_one(state.db.pool())
            .await?;
    metrics::gauge!("gatehouse_mail_outbox_depth").set(depth as f64);
    Ok(depth)
}

/// Seconds to wait after a failure when `attempts` attempts were made before it:
/// 5 s, 10 s, 20 s, … capped at 15 minutes.
pub fn backoff_secs(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    FIRST_BACKOFF_SECS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_BACKOFF_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_secs(0), 5);
        assert_eq!(backoff_secs(1), 10);
        assert_eq!(backoff_secs(4), 80);
        assert_eq!(backoff_secs(8), MAX_BACKOFF_SECS);
        assert_eq!(backoff_secs(1000), MAX_BACKOFF_SECS);
        assert_eq!(backoff_secs(-3), 5);
    }

    #[test]
    fn claimed_rows_never_print_their_bodies() {
        let row = Claimed {
            id: "m1".into(),
            kind: "recovery".into(),
            recipient: "a@example.com".into(),
            subject: "Reset".into(),
            body_text: "code 123456".into(),
            body_html: "<p>code 123456</p>".into(),
            attempts: 0,
            created_at: 0,
            claimed_until: 0,
        };
        assert!(!format!("{row:?}").contains("123456"));
    }
}
