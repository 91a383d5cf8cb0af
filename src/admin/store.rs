//! The administration queries: user search, audit search, outbox view.

use crate::accounts::User;
use crate::db::{Exec, StoreFuture};

/// Escape `%`, `_` and `\` for a LIKE pattern.
fn like_pattern(query: &str) -> String {
    let escaped: String = query
        .chars()
        .flat_map(|c| {
            if matches!(c, '%' | '_' | '\\') {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect();
    format!("%{escaped}%")
}

pub fn search_users<'c>(
    ex: impl Exec<'c> + 'c,
    query: &'c str,
    limit: i64,
    offset: i64,
) -> StoreFuture<'c, (Vec<User>, i64)> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let pattern = like_pattern(&query.trim().to_lowercase());
        let filter =
            "WHERE email_normalized LIKE $1 ESCAPE '\\' OR LOWER(nickname) LIKE $1 ESCAPE '\\'";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM users {filter}"
        )))
        .bind(&pattern)
        .fetch_one(&mut *conn)
        .await?;
        let users = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM users {filter} ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        )))
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
        Ok((users, total))
    })
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub event: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub event: String,
    pub actor_user_id: Option<String>,
    pub subject_user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
}

pub fn search_audit<'c>(
    ex: impl Exec<'c> + 'c,
    f: &'c AuditFilter,
    limit: i64,
    offset: i64,
) -> StoreFuture<'c, (Vec<AuditRow>, i64)> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        // Unset filters bind values that match everything, so one statement serves every combination.
        let filter = "WHERE ($1 = '' OR subject_user_id = $1 OR actor_user_id = $1) AND ($2 = '' OR event = $2) \
                  AND at >= $3 AND at <= $4";
        let user = f.user_id.as_deref().unwrap_or("");
        let event = f.event.as_deref().unwrap_or("");
        let (since, until) = (f.since.unwrap_or(i64::MIN), f.until.unwrap_or(i64::MAX));
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM audit_events {filter}"
        )))
        .bind(user)
        .bind(event)
        .bind(since)
        .bind(until)
        .fetch_one(&mut *conn)
        .await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM audit_events {filter} ORDER BY at DESC, id DESC LIMIT $5 OFFSET $6"
        )))
        .bind(user)
        .bind(event)
        .bind(since)
        .bind(until)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
        Ok((rows, total))
    })
}

#[derive(Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub sent_at: Option<i64>,
}

/// Outbox rows without their bodies (which may hold codes and links).
pub fn outbox<'c>(
    ex: impl Exec<'c> + 'c,
    status: Option<&'c str>,
    limit: i64,
    offset: i64,
) -> StoreFuture<'c, (Vec<OutboxRow>, i64)> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let status = status.unwrap_or("");
        let filter = "WHERE ($1 = '' OR status = $1)";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM mail_outbox {filter}"
        )))
        .bind(status)
        .fetch_one(&mut *conn)
        .await?;
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, kind, recipient, subject, status, attempts, last_error, created_at, next_attempt_at, sent_at \
         FROM mail_outbox {filter} ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
        Ok((rows, total))
    })
}
