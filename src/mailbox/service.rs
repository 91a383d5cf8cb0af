//! Mail account and mail client rules. Every function takes the signed-in user and finds the
//! account among theirs only (another user's account is `NotFound`). Passwords are sealed at
//! rest and never leave this module except towards the user's own mail server.

use std::future::Future;
use std::pin::Pin;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::client::{self, OpError, OpResult};
use super::compose::{self, Extra, SendInput};
use super::imap::{self, Login, Session};
use super::net::{self, Failure};
use super::read::{self, MessageSummary, MessageView};
use super::smtp::{self, Relay};
use super::store::{self, AccountRow, DraftRow};
use super::{SEALING_PURPOSE, TlsMode};
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::error::{FieldErrors, FieldProblem};
use crate::http::ClientInfo;
use crate::sealing::Sealer;
use crate::state::AppState;

/// A new account. `Debug` leaves the password out.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub email: String,
    pub display_name: Option<String>,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_tls: TlsMode,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: TlsMode,
    pub username: String,
    pub password: String,
    pub is_primary: Option<bool>,
    /// Log in to IMAP and SMTP before saving (default true).
    pub verify: Option<bool>,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("email", &self.email)
            .field("imap_host", &self.imap_host)
            .field("smtp_host", &self.smtp_host)
            .finish_non_exhaustive()
    }
}

/// Changes to an account; a new `password` replaces the old one.
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub imap_host: Option<String>,
    pub imap_port: Option<u16>,
    pub imap_tls: Option<TlsMode>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<TlsMode>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub is_primary: Option<bool>,
    pub verify: Option<bool>,
}

impl std::fmt::Debug for AccountPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountPatch").finish_non_exhaustive()
    }
}

/// An account as the API shows it (never the password).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_tls: TlsMode,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: TlsMode,
    pub username: String,
    pub is_primary: bool,
    pub created_at: String,
    pub last_checked_at: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckResult {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestResult {
    pub imap: CheckResult,
    pub smtp: CheckResult,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FolderView {
    pub name: String,
    /// `inbox`, `sent`, `drafts`, `trash`, `junk`, `archive` or null.
    pub role: Option<String>,
    pub total: u32,
    pub unread: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sent {
    pub message_id: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DraftView {
    pub id: String,
    pub account_id: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn tls_of(s: &str) -> TlsMode {
    TlsMode::parse(s).unwrap_or(TlsMode::Implicit)
}

fn port_of(p: i64) -> u16 {
    u16::try_from(p).unwrap_or(0)
}

pub fn view(row: &AccountRow) -> AccountView {
    AccountView {
        id: row.id.clone(),
        email: row.email.clone(),
        display_name: row.display_name.clone(),
        imap_host: row.imap_host.clone(),
        imap_port: port_of(row.imap_port),
        imap_tls: tls_of(&row.imap_tls),
        smtp_host: row.smtp_host.clone(),
        smtp_port: port_of(row.smtp_port),
        smtp_tls: tls_of(&row.smtp_tls),
        username: row.username.clone(),
        is_primary: row.is_primary != 0,
        created_at: rfc3339(row.created_at),
        last_checked_at: row.last_checked_at.map(rfc3339),
        last_error: row.last_error.clone(),
    }
}

fn sealer(state: &AppState) -> Sealer {
    Sealer::derive(&state.key, SEALING_PURPOSE)
}

fn password_of(state: &AppState, row: &AccountRow) -> Result<String, ApiError> {
    sealer(state)
        .open_str(&row.password_sealed)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("mailbox password does not open")))
}

fn login_of(row: &AccountRow, password: &str) -> Login {
    Login {
        host: row.imap_host.clone(),
        port: port_of(row.imap_port),
        tls: tls_of(&row.imap_tls),
        username: row.username.clone(),
        password: password.to_string(),
    }
}

fn relay_of(row: &AccountRow, password: &str) -> Relay {
    Relay {
        host: row.smtp_host.clone(),
        port: port_of(row.smtp_port),
        tls: tls_of(&row.smtp_tls),
        username: row.username.clone(),
        password: password.to_string(),
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Field checks that need no network.
fn check_fields(row: &AccountRow, password: &str) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    if crate::domain::Email::parse(&row.email).is_none() {
        errors.insert("email".into(), FieldProblem::InvalidEmail);
    }
    if row
        .display_name
        .as_deref()
        .is_some_and(|n| n.chars().count() > 100 || has_control(n))
    {
        errors.insert("display_name".into(), FieldProblem::Invalid);
    }
    for (field, host) in [("imap_host", &row.imap_host), ("smtp_host", &row.smtp_host)] {
        if !net::valid_host(host) {
            errors.insert(field.into(), FieldProblem::Invalid);
        }
    }
    for (field, port) in [("imap_port", row.imap_port), ("smtp_port", row.smtp_port)] {
        if !(1..=65535).contains(&port) {
            errors.insert(field.into(), FieldProblem::Invalid);
        }
    }
    if row.username.is_empty() || row.username.len() > 320 || has_control(&row.username) {
        errors.insert("username".into(), FieldProblem::Invalid);
    }
    if password.is_empty() || password.len() > 1024 || has_control(password) {
        errors.insert("password".into(), FieldProblem::Invalid);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The private-host rule and `tls = none` rule for one server.
async fn check_host(
    state: &AppState,
    host: &str,
    port: u16,
    tls: TlsMode,
    prefix: &str,
) -> Result<(), ApiError> {
    let config = &state.config.mail_accounts;
    let field = |name: &str| format!("{prefix}_{name}");
    match net::resolve(host, port, config.timeout.0).await {
        Ok(found) => {
            if found.any_internal && !config.allow_private_hosts {
                return Err(ApiError::field(&field("host"), FieldProblem::Invalid));
            }
            if tls == TlsMode::None && !(config.allow_private_hosts && found.all_internal) {
                return Err(ApiError::field(&field("tls"), FieldProblem::Invalid));
            }
            Ok(())
        }
        // An unknown name: the connection test reports it (`dns`); without TLS it cannot be
        // shown to be a private host.
        Err(_) if tls == TlsMode::None => {
            Err(ApiError::field(&field("tls"), FieldProblem::Invalid))
        }
        Err(_) => Ok(()),
    }
}

async fn check_hosts(state: &AppState, row: &AccountRow) -> Result<(), ApiError> {
    check_host(
        state,
        &row.imap_host,
        port_of(row.imap_port),
        tls_of(&row.imap_tls),
        "imap",
    )
    .await?;
    check_host(
        state,
        &row.smtp_host,
        port_of(row.smtp_port),
        tls_of(&row.smtp_tls),
        "smtp",
    )
    .await
}

fn result_of(r: Result<(), Failure>) -> CheckResult {
    match r {
        Ok(()) => CheckResult {
            ok: true,
            error: None,
        },
        Err(f) => CheckResult {
            ok: false,
            error: Some(f.as_str().to_string()),
        },
    }
}

/// IMAP login and SMTP login, side by side.
async fn test_row(state: &AppState, row: &AccountRow, password: &str) -> TestResult {
    let config = &state.config.mail_accounts;
    let login = login_of(row, password);
    let relay = relay_of(row, password);
    let (imap, smtp) = tokio::join!(imap::check(&login, config), smtp::check(&relay, config));
    TestResult {
        imap: result_of(imap),
        smtp: result_of(smtp),
    }
}

fn connection_failed(result: &TestResult) -> ApiError {
    ApiError::MailConnectionFailed(json!({ "imap": result.imap, "smtp": result.smtp }))
}

fn summary_error(result: &TestResult) -> Option<String> {
    let parts: Vec<String> = [("imap", &result.imap), ("smtp", &result.smtp)]
        .iter()
        .filter_map(|(name, r)| r.error.as_ref().map(|e| format!("{name}: {e}")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Add an account after logging in to both servers (unless `verify: false`); the first
/// account is primary.
pub async fn create(
    state: &AppState,
    user_id: &str,
    input: NewAccount,
    client_info: &ClientInfo,
) -> Result<AccountView, ApiError> {
    let now = state.clock.now();
    let mut row = AccountRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        email: input.email.trim().to_string(),
        display_name: input
            .display_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        imap_host: input.imap_host.trim().to_ascii_lowercase(),
        imap_port: i64::from(input.imap_port),
        imap_tls: input.imap_tls.as_str().into(),
        smtp_host: input.smtp_host.trim().to_ascii_lowercase(),
        smtp_port: i64::from(input.smtp_port),
        smtp_tls: input.smtp_tls.as_str().into(),
        username: input.username.trim().to_string(),
        password_sealed: String::new(),
        is_primary: 0,
        credential_version: 0,
        created_at: now,
        updated_at: now,
        last_checked_at: None,
        last_error: None,
    };
    check_fields(&row, &input.password)?;
    check_hosts(state, &row).await?;
    if input.verify.unwrap_or(true) {
        let result = test_row(state, &row, &input.password).await;
        if !(result.imap.ok && result.smtp.ok) {
            return Err(connection_failed(&result));
        }
        row.last_checked_at = Some(now);
    }
    row.password_sealed = sealer(state).seal_str(&input.password);
    let mut tx = state.db.begin().await?;
    let first = store::count_for_user(&mut tx, user_id).await? == 0;
    if first || input.is_primary == Some(true) {
        store::clear_primary(&mut tx, user_id).await?;
        row.is_primary = 1;
    }
    store::insert(&mut tx, &row).await?;
    let event = AuditEvent::by_user(audit::Event::MailAccountAdded, user_id, client_info)
        .detail(json!({"account_id": row.id, "email": row.email}));
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    Ok(view(&row))
}

pub async fn list(state: &AppState, user_id: &str) -> Result<Vec<AccountView>, ApiError> {
    Ok(store::list(&state.db, user_id)
        .await?
        .iter()
        .map(view)
        .collect())
}

/// The user's account `id`, or `NotFound`.
pub async fn owned(state: &AppState, user_id: &str, id: &str) -> Result<AccountRow, ApiError> {
    let id = crate::http::parse_id(id)?;
    store::get(&state.db, user_id, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Change an account; new connection settings or password are verified like a new account's.
pub async fn update(
    state: &AppState,
    user_id: &str,
    id: &str,
    patch: AccountPatch,
) -> Result<AccountView, ApiError> {
    let old = owned(state, user_id, id).await?;
    let mut row = old.clone();
    let password = match &patch.password {
        Some(p) => p.clone(),
        None => password_of(state, &old)?,
    };
    if let Some(v) = patch.email {
        row.email = v.trim().to_string();
    }
    if let Some(v) = patch.display_name {
        row.display_name = Some(v.trim().to_string()).filter(|n| !n.is_empty());
    }
    if let Some(v) = patch.imap_host {
        row.imap_host = v.trim().to_ascii_lowercase();
    }
    if let Some(v) = patch.imap_port {
        row.imap_port = i64::from(v);
    }
    if let Some(v) = patch.imap_tls {
        row.imap_tls = v.as_str().into();
    }
    if let Some(v) = patch.smtp_host {
        row.smtp_host = v.trim().to_ascii_lowercase();
    }
    if let Some(v) = patch.smtp_port {
        row.smtp_port = i64::from(v);
    }
    if let Some(v) = patch.smtp_tls {
        row.smtp_tls = v.as_str().into();
    }
    if let Some(v) = patch.username {
        row.username = v.trim().to_string();
    }
    check_fields(&row, &password)?;
    let connection_changed = patch.password.is_some()
        || (
            &row.imap_host,
            row.imap_port,
            &row.imap_tls,
            &row.smtp_host,
            row.smtp_port,
            &row.smtp_tls,
            &row.username,
        ) != (
            &old.imap_host,
            old.imap_port,
            &old.imap_tls,
            &old.smtp_host,
            old.smtp_port,
            &old.smtp_tls,
            &old.username,
        );
    let now = state.clock.now();
    if connection_changed {
        check_hosts(state, &row).await?;
        if patch.verify.unwrap_or(true) {
            let result = test_row(state, &row, &password).await;
            if !(result.imap.ok && result.smtp.ok) {
                return Err(connection_failed(&result));
            }
            row.last_checked_at = Some(now);
            row.last_error = None;
        }
        row.password_sealed = sealer(state).seal_str(&password);
        row.credential_version += 1;
    }
    row.updated_at = now;
    let mut tx = state.db.begin().await?;
    match patch.is_primary {
        Some(true) => {
            store::clear_primary(&mut tx, user_id).await?;
            row.is_primary = 1;
        }
        Some(false) => row.is_primary = 0,
        None => {}
    }
    store::update(&mut tx, &row).await?;
    tx.commit().await?;
    if connection_changed {
        imap::forget(&row.id);
    }
    Ok(view(&row))
}

/// Remove an account with its cached folders and drafts.
pub async fn delete(
    state: &AppState,
    user_id: &str,
    id: &str,
    client_info: &ClientInfo,
) -> Result<(), ApiError> {
    let id = crate::http::parse_id(id)?;
    let mut tx = state.db.begin().await?;
    if !store::delete(&mut tx, user_id, &id).await? {
        return Err(ApiError::NotFound);
    }
    let event = AuditEvent::by_user(audit::Event::MailAccountRemoved, user_id, client_info)
        .detail(json!({"account_id": id}));
    audit::record(&mut tx, state.clock.now(), event).await?;
    tx.commit().await?;
    imap::forget(&id);
    Ok(())
}

/// Log in to both servers now and remember the outcome on the account.
pub async fn test(state: &AppState, user_id: &str, id: &str) -> Result<TestResult, ApiError> {
    let row = owned(state, user_id, id).await?;
    let password = password_of(state, &row)?;
    let result = test_row(state, &row, &password).await;
    store::set_checked(
        &state.db,
        &row.id,
        state.clock.now(),
        summary_error(&result).as_deref(),
    )
    .await?;
    Ok(result)
}

type Op<'s, T> = Pin<Box<dyn Future<Output = OpResult<T>> + Send + 's>>;

/// Run `op` on a (pooled) session of the account, session and operation together bounded by
/// `[mail_accounts] timeout`: a slow or dead server answers 502 `mail_server_error` in time
/// and holds nothing other users need.
async fn with_session<T: Send>(
    state: &AppState,
    row: &AccountRow,
    op: impl for<'s> FnOnce(&'s mut Session) -> Op<'s, T> + Send,
) -> Result<T, ApiError> {
    let config = &state.config.mail_accounts;
    let password = password_of(state, row)?;
    let login = login_of(row, &password);
    let work = async {
        let mut pooled = imap::session(&row.id, row.credential_version, &login, config)
            .await
            .map_err(|f| OpError::Server(format!("login: {}", f.as_str())))?;
        let result = op(&mut pooled.session).await;
        match &result {
            Ok(_) | Err(OpError::NotFound) => pooled.release(),
            Err(OpError::Server(_)) => {}
        }
        result
    };
    match tokio::time::timeout(config.timeout.0, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(OpError::NotFound)) => Err(ApiError::NotFound),
        Ok(Err(OpError::Server(detail))) => {
            tracing::warn!(account_id = %row.id, host = %row.imap_host, detail = %detail, "IMAP operation failed");
            Err(ApiError::MailServerError)
        }
        Err(_) => {
            tracing::warn!(account_id = %row.id, host = %row.imap_host, "IMAP operation timed out");
            Err(ApiError::MailServerError)
        }
    }
}

/// Folders with roles and counts, refreshed from the server (the cache follows).
pub async fn folders(
    state: &AppState,
    user_id: &str,
    id: &str,
) -> Result<Vec<FolderView>, ApiError> {
    let row = owned(state, user_id, id).await?;
    let counts = with_session(state, &row, |s| Box::pin(client::folders_with_counts(s))).await?;
    let cached: Vec<_> = counts
        .iter()
        .map(|c| {
            (
                c.folder.name.clone(),
                c.folder.role,
                i64::from(c.total),
                i64::from(c.unread),
            )
        })
        .collect();
    let mut tx = state.db.begin().await?;
    store::replace_folders(&mut tx, &row.id, &cached, state.clock.now()).await?;
    tx.commit().await?;
    Ok(counts
        .into_iter()
        .map(|c| FolderView {
            name: c.folder.name,
            role: c.folder.role.map(str::to_string),
            total: c.total,
            unread: c.unread,
        })
        .collect())
}

fn folder_name(folder: Option<&str>) -> Result<String, ApiError> {
    let folder = folder
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("INBOX");
    if folder.len() > 512 || folder.chars().any(char::is_control) {
        return Err(ApiError::NotFound);
    }
    Ok(folder.to_string())
}

/// A window of the folder (newest first) and the number of messages matching `q`.
pub async fn messages(
    state: &AppState,
    user_id: &str,
    id: &str,
    folder: Option<&str>,
    q: Option<&str>,
    offset: usize,
    limit: usize,
) -> Result<(Vec<MessageSummary>, usize), ApiError> {
    let row = owned(state, user_id, id).await?;
    let folder = folder_name(folder)?;
    if q.is_some_and(|q| q.len() > 256 || q.chars().any(char::is_control)) {
        return Err(ApiError::field("q", FieldProblem::Invalid));
    }
    let q = q.map(str::to_string);
    let (items, total) = with_session(state, &row, move |s| {
        Box::pin(async move { client::list(s, &folder, q.as_deref(), offset, limit).await })
    })
    .await?;
    let items = items
        .into_iter()
        .map(|(uid, seen, flagged, bytes)| read::summary(uid, seen, flagged, &bytes))
        .collect();
    Ok((items, total))
}

/// One message, read (which marks it seen).
pub async fn message(
    state: &AppState,
    user_id: &str,
    id: &str,
    uid: u32,
    folder: Option<&str>,
    remote_images: bool,
) -> Result<MessageView, ApiError> {
    let row = owned(state, user_id, id).await?;
    let folder = folder_name(folder)?;
    let (seen, flagged, bytes) = with_session(state, &row, move |s| {
        Box::pin(async move { client::fetch(s, &folder, uid, true).await })
    })
    .await?;
    read::view(uid, seen, flagged, &bytes, remote_images).ok_or(ApiError::NotFound)
}

/// One attachment's bytes.
pub async fn attachment(
    state: &AppState,
    user_id: &str,
    id: &str,
    uid: u32,
    attachment_id: &str,
    folder: Option<&str>,
) -> Result<read::AttachmentData, ApiError> {
    let index: usize = attachment_id.parse().map_err(|_| ApiError::NotFound)?;
    let row = owned(state, user_id, id).await?;
    let folder = folder_name(folder)?;
    let (_, _, bytes) = with_session(state, &row, move |s| {
        Box::pin(async move { client::fetch(s, &folder, uid, false).await })
    })
    .await?;
    read::attachment(&bytes, index).ok_or(ApiError::NotFound)
}

pub async fn set_flags(
    state: &AppState,
    user_id: &str,
    id: &str,
    uid: u32,
    folder: Option<&str>,
    seen: Option<bool>,
    flagged: Option<bool>,
) -> Result<(), ApiError> {
    let row = owned(state, user_id, id).await?;
    let folder = folder_name(folder)?;
    with_session(state, &row, move |s| {
        Box::pin(async move { client::set_flags(s, &folder, uid, seen, flagged).await })
    })
    .await
}

/// Move to Trash (delete for good in Trash).
pub async fn delete_message(
    state: &AppState,
    user_id: &str,
    id: &str,
    uid: u32,
    folder: Option<&str>,
) -> Result<(), ApiError> {
    let row = owned(state, user_id, id).await?;
    let folder = folder_name(folder)?;
    with_session(state, &row, move |s| {
        Box::pin(async move { client::delete(s, &folder, uid).await })
    })
    .await
}

fn sender(row: &AccountRow) -> Result<Mailbox, ApiError> {
    let address = row
        .email
        .parse()
        .map_err(|_| ApiError::field("email", FieldProblem::InvalidEmail))?;
    Ok(Mailbox::new(row.display_name.clone(), address))
}

fn new_message_id(row: &AccountRow) -> String {
    let domain = row.email.rsplit_once('@').map_or("localhost", |(_, d)| d);
    format!("<{}@{domain}>", uuid::Uuid::now_v7().simple())
}

/// Count a send against the user's hourly limit; over it is 429 with the wait.
async fn count_send(state: &AppState, user_id: &str) -> Result<(), ApiError> {
    let limit = i64::from(state.config.mail_accounts.send_per_hour);
    let now = state.clock.now();
    let window = now / 3600;
    let key = format!("mail_send:{user_id}:{window}");
    let count = state
        .kv
        .incr(&key, std::time::Duration::from_secs(3600))
        .await?;
    if count > limit {
        return Err(ApiError::RateLimited {
            retry_after: u64::try_from((window + 1) * 3600 - now).unwrap_or(1),
        });
    }
    Ok(())
}

/// Send through the account's SMTP server and keep a copy in its Sent folder.
pub async fn send(
    state: &AppState,
    user_id: &str,
    id: &str,
    input: SendInput,
    client_info: &ClientInfo,
) -> Result<Sent, ApiError> {
    let row = owned(state, user_id, id).await?;
    let checked = compose::check(&input, true)?;
    let from = sender(&row)?;
    let origin = folder_name(input.folder.as_deref())?;
    let (reply_uid, forward_uid) = (input.reply_to_uid, input.forward_uid);
    // Fetch what a reply or forward needs before anything is counted or sent.
    let (reply, forwarded) = if reply_uid.is_some() || forward_uid.is_some() {
        with_session(state, &row, move |s| {
            Box::pin(async move {
                let reply = match reply_uid {
                    Some(uid) => Some(read::reply_context(
                        &client::fetch(s, &origin, uid, false).await?.2,
                    )),
                    None => None,
                };
                let forwarded = match forward_uid {
                    Some(uid) => Some(client::fetch(s, &origin, uid, false).await?.2),
                    None => None,
                };
                Ok((reply, forwarded))
            })
        })
        .await?
    } else {
        (None, None)
    };
    if forwarded
        .as_ref()
        .is_some_and(|f| f.len() > super::MAX_MESSAGE_BYTES)
    {
        return Err(ApiError::MessageTooLarge);
    }
    let message_id = new_message_id(&row);
    let (in_reply_to, references) = match reply {
        Some(ctx) => (ctx.message_id, ctx.references),
        None => (None, vec![]),
    };
    let message = compose::build(
        &checked,
        Extra {
            from,
            message_id: message_id.clone(),
            in_reply_to,
            references,
            forwarded,
            draft_id: None,
            keep_bcc: false,
        },
    )?;
    count_send(state, user_id).await?;
    let password = password_of(state, &row)?;
    let bytes = message.formatted();
    if let Err(detail) = smtp::send(
        &relay_of(&row, &password),
        &state.config.mail_accounts,
        message.envelope(),
        &bytes,
    )
    .await
    {
        tracing::warn!(account_id = %row.id, host = %row.smtp_host, detail = %detail, "SMTP send failed");
        return Err(ApiError::MailServerError);
    }
    let recipients = checked.to.len() + checked.cc.len() + checked.bcc.len();
    let mut tx = state.db.begin().await?;
    let event = AuditEvent::by_user(audit::Event::MailSent, user_id, client_info)
        .detail(json!({"account_id": row.id, "recipients": recipients}));
    audit::record(&mut tx, state.clock.now(), event).await?;
    tx.commit().await?;
    // The message is out; a failing Sent copy is logged, not reported as a failed send.
    let copy = with_session(state, &row, move |s| {
        Box::pin(async move {
            let sent = client::folder_for_role(s, "sent", "Sent").await?;
            client::append(s, &sent, "(\\Seen)", &bytes).await
        })
    })
    .await;
    if copy.is_err() {
        tracing::warn!(account_id = %row.id, "sent, but the copy to the Sent folder failed");
    }
    Ok(Sent { message_id })
}

fn draft_view(d: &DraftRow) -> DraftView {
    let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
    DraftView {
        id: d.id.clone(),
        account_id: d.account_id.clone(),
        to: list(&d.to_addrs),
        cc: list(&d.cc_addrs),
        bcc: list(&d.bcc_addrs),
        subject: d.subject.clone(),
        text: d.body_text.clone(),
        html: d.body_html.clone(),
        created_at: rfc3339(d.created_at),
        updated_at: rfc3339(d.updated_at),
    }
}

pub async fn drafts(state: &AppState, user_id: &str, id: &str) -> Result<Vec<DraftView>, ApiError> {
    let row = owned(state, user_id, id).await?;
    Ok(store::drafts(&state.db, &row.id)
        .await?
        .iter()
        .map(draft_view)
        .collect())
}

pub async fn draft(
    state: &AppState,
    user_id: &str,
    id: &str,
    draft_id: &str,
) -> Result<DraftView, ApiError> {
    let row = owned(state, user_id, id).await?;
    let draft_id = crate::http::parse_id(draft_id)?;
    store::draft(&state.db, &row.id, &draft_id)
        .await?
        .map(|d| draft_view(&d))
        .ok_or(ApiError::NotFound)
}

/// Create (`draft_id` None) or replace a draft: its copy in the Drafts folder is replaced
/// first, then gatehouse's record.
pub async fn save_draft(
    state: &AppState,
    user_id: &str,
    id: &str,
    draft_id: Option<&str>,
    input: SendInput,
) -> Result<DraftView, ApiError> {
    let row = owned(state, user_id, id).await?;
    let now = state.clock.now();
    let (draft_id, created_at) = match draft_id {
        Some(raw) => {
            let did = crate::http::parse_id(raw)?;
            let existing = store::draft(&state.db, &row.id, &did)
                .await?
                .ok_or(ApiError::NotFound)?;
            (did, existing.created_at)
        }
        None => (uuid::Uuid::now_v7().to_string(), now),
    };
    let checked = compose::check(&input, false)?;
    let message = compose::build(
        &checked,
        Extra {
            from: sender(&row)?,
            message_id: new_message_id(&row),
            in_reply_to: None,
            references: vec![],
            forwarded: None,
            draft_id: Some(draft_id.clone()),
            keep_bcc: true,
        },
    )?;
    let bytes = message.formatted();
    let header_value = draft_id.clone();
    with_session(state, &row, move |s| {
        Box::pin(async move {
            let folder = client::folder_for_role(s, "drafts", "Drafts").await?;
            client::remove_by_header(s, &folder, compose::DRAFT_HEADER, &header_value).await?;
            client::append(s, &folder, "(\\Draft \\Seen)", &bytes).await
        })
    })
    .await?;
    let list = |v: &[Mailbox]| {
        serde_json::to_string(&v.iter().map(ToString::to_string).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into())
    };
    let record = DraftRow {
        id: draft_id,
        account_id: row.id.clone(),
        user_id: user_id.to_string(),
        to_addrs: list(&checked.to),
        cc_addrs: list(&checked.cc),
        bcc_addrs: list(&checked.bcc),
        subject: checked.subject.clone(),
        body_text: checked.text.clone(),
        body_html: checked.html.clone(),
        created_at,
        updated_at: now,
    };
    store::save_draft(&state.db, &record).await?;
    Ok(draft_view(&record))
}

/// Delete a draft; its copy in the Drafts folder goes too when the server answers.
pub async fn delete_draft(
    state: &AppState,
    user_id: &str,
    id: &str,
    draft_id: &str,
) -> Result<(), ApiError> {
    let row = owned(state, user_id, id).await?;
    let draft_id = crate::http::parse_id(draft_id)?;
    if store::draft(&state.db, &row.id, &draft_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let header_value = draft_id.clone();
    let removed = with_session(state, &row, move |s| {
        Box::pin(async move {
            let folder = client::folder_for_role(s, "drafts", "Drafts").await?;
            client::remove_by_header(s, &folder, compose::DRAFT_HEADER, &header_value).await
        })
    })
    .await;
    if removed.is_err() {
        tracing::warn!(account_id = %row.id, "draft deleted here; its copy in Drafts could not be removed");
    }
    store::delete_draft(&state.db, &row.id, &draft_id).await?;
    Ok(())
}
