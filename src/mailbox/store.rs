//! SQL of `mail_accounts`, `mail_folders` and `mail_drafts`.

use crate::db::{Exec, StoreFuture};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub imap_host: String,
    pub imap_port: i64,
    pub imap_tls: String,
    pub smtp_host: String,
    pub smtp_port: i64,
    pub smtp_tls: String,
    pub username: String,
    pub password_sealed: String,
    pub is_primary: i64,
    pub credential_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_checked_at: Option<i64>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, user_id, email, display_name, imap_host, imap_port, imap_tls, \
    smtp_host, smtp_port, smtp_tls, username, password_sealed, is_primary, credential_version, \
    created_at, updated_at, last_checked_at, last_error";

pub fn list<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, Vec<AccountRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mail_accounts WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
    })
}

/// The account if it belongs to `user_id`.
pub fn get<'c>(
    ex: impl Exec<'c> + 'c,
    user_id: &'c str,
    id: &'c str,
) -> StoreFuture<'c, Option<AccountRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mail_accounts WHERE id = $1 AND user_id = $2"
        )))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
    })
}

pub fn count_for_user<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, i64> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_accounts WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await
    })
}

pub fn clear_primary<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE mail_accounts SET is_primary = 0 WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

pub fn insert<'c>(ex: impl Exec<'c> + 'c, a: &'c AccountRow) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO mail_accounts ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        )))
        .bind(&a.id)
        .bind(&a.user_id)
        .bind(&a.email)
        .bind(&a.display_name)
        .bind(&a.imap_host)
        .bind(a.imap_port)
        .bind(&a.imap_tls)
        .bind(&a.smtp_host)
        .bind(a.smtp_port)
        .bind(&a.smtp_tls)
        .bind(&a.username)
        .bind(&a.password_sealed)
        .bind(a.is_primary)
        .bind(a.credential_version)
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(a.last_checked_at)
        .bind(&a.last_error)
        .execute(&mut *conn)
        .await
        .map(|_| ())
    })
}

/// Write every editable column of `a` (owned by `a.user_id`).
pub fn update<'c>(ex: impl Exec<'c> + 'c, a: &'c AccountRow) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query(
        "UPDATE mail_accounts SET email = $1, display_name = $2, imap_host = $3, imap_port = $4, \
         imap_tls = $5, smtp_host = $6, smtp_port = $7, smtp_tls = $8, username = $9, \
         password_sealed = $10, is_primary = $11, credential_version = $12, updated_at = $13, \
         last_checked_at = $14, last_error = $15 WHERE id = $16 AND user_id = $17",
    )
    .bind(&a.email)
    .bind(&a.display_name)
    .bind(&a.imap_host)
    .bind(a.imap_port)
    .bind(&a.imap_tls)
    .bind(&a.smtp_host)
    .bind(a.smtp_port)
    .bind(&a.smtp_tls)
    .bind(&a.username)
    .bind(&a.password_sealed)
    .bind(a.is_primary)
    .bind(a.credential_version)
    .bind(a.updated_at)
    .bind(a.last_checked_at)
    .bind(&a.last_error)
    .bind(&a.id)
    .bind(&a.user_id)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    })
}

pub fn set_checked<'c>(
    ex: impl Exec<'c> + 'c,
    id: &'c str,
    at: i64,
    error: Option<&'c str>,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("UPDATE mail_accounts SET last_checked_at = $1, last_error = $2 WHERE id = $3")
            .bind(at)
            .bind(error)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
    })
}

/// Delete the account with its cached folders and drafts; false when it is not the user's.
pub fn delete<'c>(ex: impl Exec<'c> + 'c, user_id: &'c str, id: &'c str) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        // Explicit deletes: SQLite enforces the cascade only with foreign keys on, and the
        // intent reads better here than in the schema.
        sqlx::query("DELETE FROM mail_drafts WHERE account_id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "DELETE FROM mail_folders WHERE account_id IN \
         (SELECT id FROM mail_accounts WHERE id = $1 AND user_id = $2)",
        )
        .bind(id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
        let done = sqlx::query("DELETE FROM mail_accounts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        // Removing the primary account makes the oldest remaining one primary.
        sqlx::query(
            "UPDATE mail_accounts SET is_primary = 1 WHERE id = \
         (SELECT id FROM mail_accounts WHERE user_id = $1 ORDER BY created_at, id LIMIT 1) \
         AND NOT EXISTS (SELECT 1 FROM mail_accounts WHERE user_id = $1 AND is_primary = 1)",
        )
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() > 0)
    })
}

/// Replace the cached folder list of an account.
pub fn replace_folders<'c>(
    ex: impl Exec<'c> + 'c,
    account_id: &'c str,
    folders: &'c [(String, Option<&'static str>, i64, i64)],
    now: i64,
) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query("DELETE FROM mail_folders WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *conn)
            .await?;
        for (name, role, total, unread) in folders {
            sqlx::query(
                "INSERT INTO mail_folders (account_id, name, role, total, unread, refreshed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(account_id)
            .bind(name)
            .bind(*role)
            .bind(*total)
            .bind(*unread)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DraftRow {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub to_addrs: String,
    pub cc_addrs: String,
    pub bcc_addrs: String,
    pub subject: String,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const DRAFT_COLUMNS: &str = "id, account_id, user_id, to_addrs, cc_addrs, bcc_addrs, subject, \
    body_text, body_html, created_at, updated_at";

pub fn drafts<'c>(ex: impl Exec<'c> + 'c, account_id: &'c str) -> StoreFuture<'c, Vec<DraftRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DRAFT_COLUMNS} FROM mail_drafts WHERE account_id = $1 ORDER BY updated_at DESC, id DESC"
    )))
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await
    })
}

pub fn draft<'c>(
    ex: impl Exec<'c> + 'c,
    account_id: &'c str,
    id: &'c str,
) -> StoreFuture<'c, Option<DraftRow>> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAFT_COLUMNS} FROM mail_drafts WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
    })
}

/// Insert or replace a draft.
// Its own transaction (a savepoint inside the caller's), so a draft is never left deleted.
pub fn save_draft<'c>(ex: impl Exec<'c> + 'c, d: &'c DraftRow) -> StoreFuture<'c, ()> {
    Box::pin(async move {
        let mut tx = ex.begin().await?;
        sqlx::query("DELETE FROM mail_drafts WHERE id = $1 AND account_id = $2")
            .bind(&d.id)
            .bind(&d.account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO mail_drafts ({DRAFT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&d.id)
    .bind(&d.account_id)
    .bind(&d.user_id)
    .bind(&d.to_addrs)
    .bind(&d.cc_addrs)
    .bind(&d.bcc_addrs)
    .bind(&d.subject)
    .bind(&d.body_text)
    .bind(&d.body_html)
    .bind(d.created_at)
    .bind(d.updated_at)
    .execute(&mut *tx)
    .await?;
        tx.commit().await
    })
}

pub fn delete_draft<'c>(
    ex: impl Exec<'c> + 'c,
    account_id: &'c str,
    id: &'c str,
) -> StoreFuture<'c, bool> {
    Box::pin(async move {
        let mut conn = ex.acquire().await?;
        let done = sqlx::query("DELETE FROM mail_drafts WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() > 0)
    })
}
