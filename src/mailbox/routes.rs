//! `/mail/*` routes: presets, accounts, folders, messages, sending and drafts (session only).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::compose::SendInput;
use super::presets::{self, Preset};
use super::read::{MessageSummary, MessageView};
use super::service::{
    self, AccountPatch, AccountView, DraftView, FolderView, NewAccount, Sent, TestResult,
};
use crate::error::ApiError;
use crate::error::FieldProblem;
use crate::http::paging::{Page, Paging};
use crate::http::{ApiJson, ClientInfo, Json, SessionUser};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    let large = OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(list_drafts, create_draft))
        .routes(routes!(get_draft, put_draft, delete_draft))
        .layer(DefaultBodyLimit::max(super::MAX_SEND_BODY));
    OpenApiRouter::new()
        .routes(routes!(list_presets))
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(update_account, delete_account))
        .routes(routes!(test_account))
        .routes(routes!(list_folders))
        .routes(routes!(list_messages))
        .routes(routes!(get_message, patch_message, delete_message))
        .routes(routes!(get_attachment))
        .merge(large)
}

/// Provider presets (Gmail, Outlook/Office 365, Yahoo, custom).
#[utoipa::path(get, path = "/api/v1/mail/presets", tag = "mail", responses((status = 200, body = [Preset])))]
async fn list_presets() -> Json<Vec<Preset>> {
    Json(presets::all())
}

/// The caller's mail accounts (never their passwords).
#[utoipa::path(get, path = "/api/v1/mail/accounts", tag = "mail", security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = [AccountView])))]
async fn list_accounts(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    service::list(&state, &auth.user.id).await.map(Json)
}

/// Add a mail account after logging in to its IMAP and SMTP servers (unless `verify` is
/// false). The first account is primary. Hosts on internal addresses are refused unless
/// `[mail_accounts] allow_private_hosts`; `tls: none` only for those.
#[utoipa::path(post, path = "/api/v1/mail/accounts", tag = "mail", request_body = NewAccount,
    security(("session" = []), ("cookie" = [])),
    responses((status = 201, body = AccountView),
        (status = 400, description = "mail_connection_failed: `error.detail` = {imap: {ok, error}, smtp: {ok, error}}, error ∈ dns, connect, tls, authentication, timeout"),
        (status = 422, description = "validation_failed")))]
async fn create_account(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let account = service::create(&state, &auth.user.id, input, &client).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Change an account; new connection settings or a new password are verified first.
#[utoipa::path(patch, path = "/api/v1/mail/accounts/{id}", tag = "mail", request_body = AccountPatch,
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = AccountView), (status = 404, description = "not_found"),
        (status = 400, description = "mail_connection_failed")))]
async fn update_account(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AccountPatch>,
) -> Result<Json<AccountView>, ApiError> {
    service::update(&state, &auth.user.id, &id, patch)
        .await
        .map(Json)
}

/// Remove an account with its cached folders and drafts.
#[utoipa::path(delete, path = "/api/v1/mail/accounts/{id}", tag = "mail", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, description = "not_found")))]
async fn delete_account(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state, &auth.user.id, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log in to the account's IMAP and SMTP servers now.
#[utoipa::path(post, path = "/api/v1/mail/accounts/{id}/test", tag = "mail", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = TestResult), (status = 404, description = "not_found")))]
async fn test_account(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(id): Path<String>,
) -> Result<Json<TestResult>, ApiError> {
    service::test(&state, &auth.user.id, &id).await.map(Json)
}

/// Folders with roles (SPECIAL-USE, else common names) and counts, read from the server.
#[utoipa::path(get, path = "/api/v1/mail/accounts/{id}/folders", tag = "mail", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = [FolderView]), (status = 404, description = "not_found"),
        (status = 502, description = "mail_server_error")))]
async fn list_folders(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<FolderView>>, ApiError> {
    service::folders(&state, &auth.user.id, &id).await.map(Json)
}

fn uid_of(raw: &str) -> Result<u32, ApiError> {
    raw.parse::<u32>()
        .ok()
        .filter(|u| *u > 0)
        .ok_or(ApiError::NotFound)
}

fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match query.get(name).map(String::as_str) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::field(name, FieldProblem::Invalid)),
    }
}

/// A page of the folder (`folder`, default INBOX), newest first; `q` searches subject, from
/// and body on the server.
#[utoipa::path(get, path = "/api/v1/mail/accounts/{id}/messages", tag = "mail",
    params(("id" = String, Path), ("folder" = Option<String>, Query), ("page" = Option<i64>, Query),
        ("per_page" = Option<i64>, Query), ("q" = Option<String>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = Page<MessageSummary>), (status = 404, description = "not_found"),
        (status = 502, description = "mail_server_error")))]
async fn list_messages(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<MessageSummary>>, ApiError> {
    let paging = Paging::from_query(&query)?;
    let (items, total) = service::messages(
        &state,
        &auth.user.id,
        &id,
        query.get("folder").map(String::as_str),
        query.get("q").map(String::as_str),
        usize::try_from(paging.offset()).unwrap_or(0),
        usize::try_from(paging.limit()).unwrap_or(50),
    )
    .await?;
    Ok(Json(paging.wrap(items, i64::try_from(total).unwrap_or(0))))
}

/// One message: text, sanitised HTML (remote images only with `remote_images=true`) and
/// attachments. Reading marks it seen.
#[utoipa::path(get, path = "/api/v1/mail/accounts/{id}/messages/{uid}", tag = "mail",
    params(("id" = String, Path), ("uid" = u32, Path), ("folder" = Option<String>, Query),
        ("remote_images" = Option<bool>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = MessageView), (status = 404, description = "not_found")))]
async fn get_message(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path((id, uid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<MessageView>, ApiError> {
    let uid = uid_of(&uid)?;
    let remote = flag(&query, "remote_images")?;
    service::message(
        &state,
        &auth.user.id,
        &id,
        uid,
        query.get("folder").map(String::as_str),
        remote,
    )
    .await
    .map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagsInput {
    pub seen: Option<bool>,
    pub flagged: Option<bool>,
}

/// Mark read/unread and flagged/unflagged.
#[utoipa::path(patch, path = "/api/v1/mail/accounts/{id}/messages/{uid}", tag = "mail", request_body = FlagsInput,
    params(("id" = String, Path), ("uid" = u32, Path), ("folder" = Option<String>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, description = "not_found")))]
async fn patch_message(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path((id, uid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    ApiJson(input): ApiJson<FlagsInput>,
) -> Result<StatusCode, ApiError> {
    let uid = uid_of(&uid)?;
    service::set_flags(
        &state,
        &auth.user.id,
        &id,
        uid,
        query.get("folder").map(String::as_str),
        input.seen,
        input.flagged,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move to Trash; in Trash, delete for good.
#[utoipa::path(delete, path = "/api/v1/mail/accounts/{id}/messages/{uid}", tag = "mail",
    params(("id" = String, Path), ("uid" = u32, Path), ("folder" = Option<String>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, description = "not_found")))]
async fn delete_message(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path((id, uid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let uid = uid_of(&uid)?;
    service::delete_message(
        &state,
        &auth.user.id,
        &id,
        uid,
        query.get("folder").map(String::as_str),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An attachment's bytes (`Content-Disposition: attachment`).
#[utoipa::path(get, path = "/api/v1/mail/accounts/{id}/messages/{uid}/attachments/{attachment_id}", tag = "mail",
    params(("id" = String, Path), ("uid" = u32, Path), ("attachment_id" = String, Path),
        ("folder" = Option<String>, Query)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, description = "the attachment's bytes"), (status = 404, description = "not_found")))]
async fn get_attachment(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path((id, uid, attachment_id)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let uid = uid_of(&uid)?;
    let data = service::attachment(
        &state,
        &auth.user.id,
        &id,
        uid,
        &attachment_id,
        query.get("folder").map(String::as_str),
    )
    .await?;
    let ascii: String = data
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = url::form_urlencoded::byte_serialize(data.filename.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let content_type = if data.content_type.parse::<axum::http::HeaderValue>().is_ok() {
        data.content_type
    } else {
        "application/octet-stream".into()
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        Body::from(data.bytes),
    )
        .into_response())
}

/// Send through the account's SMTP server; a copy goes to its Sent folder. A reply
/// (`reply_to_uid`) sets `In-Reply-To`/`References`; a forward (`forward_uid`) attaches the
/// original. Bodies up to 36 MiB; a message over 25 MiB is 422 `message_too_large`.
#[utoipa::path(post, path = "/api/v1/mail/accounts/{id}/send", tag = "mail", request_body = SendInput,
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 202, body = Sent), (status = 404, description = "not_found"),
        (status = 422, description = "validation_failed or message_too_large"),
        (status = 429, description = "rate_limited ([mail_accounts] send_per_hour)"),
        (status = 502, description = "mail_server_error")))]
async fn send(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SendInput>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let sent = service::send(&state, &auth.user.id, &id, input, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// The account's drafts kept by gatehouse, newest first.
#[utoipa::path(get, path = "/api/v1/mail/accounts/{id}/drafts", tag = "mail", params(("id" = String, Path)),
    security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = [DraftView]), (status = 404, description = "not_found")))]
async fn list_drafts(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<DraftView>>, ApiError> {
    service::drafts(&state, &auth.user.id, &id).await.map(Json)
}

/// Save a draft (the send body; nothing is required) and append it to the Drafts folder.
#[utoipa::path(post, path = "/api/v1/mail/accounts/{id}/drafts", tag = "mail", request_body = SendInput,
    params(("id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 201, body = DraftView), (status = 404, description = "not_found"),
        (status = 422, description = "validation_failed")))]
async fn create_draft(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SendInput>,
) -> Result<(StatusCode, Json<DraftView>), ApiError> {
    let draft = service::save_draft(&state, &auth.user.id, &id, None, input).await?;
    Ok((StatusCode::CREATED, Json(draft)))
}

/// One draft.
#[utoipa::path(get, path = "/api/v1/mail/accounts/{id}/drafts/{draft_id}", tag = "mail",
    params(("id" = String, Path), ("draft_id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = DraftView), (status = 404, description = "not_found")))]
async fn get_draft(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path((id, draft_id)): Path<(String, String)>,
) -> Result<Json<DraftView>, ApiError> {
    service::draft(&state, &auth.user.id, &id, &draft_id)
        .await
        .map(Json)
}

/// Replace a draft (and its copy in the Drafts folder).
#[utoipa::path(put, path = "/api/v1/mail/accounts/{id}/drafts/{draft_id}", tag = "mail", request_body = SendInput,
    params(("id" = String, Path), ("draft_id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 200, body = DraftView), (status = 404, description = "not_found")))]
async fn put_draft(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path((id, draft_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<SendInput>,
) -> Result<Json<DraftView>, ApiError> {
    service::save_draft(&state, &auth.user.id, &id, Some(&draft_id), input)
        .await
        .map(Json)
}

/// Delete a draft (and its copy in the Drafts folder).
#[utoipa::path(delete, path = "/api/v1/mail/accounts/{id}/drafts/{draft_id}", tag = "mail",
    params(("id" = String, Path), ("draft_id" = String, Path)), security(("session" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, description = "not_found")))]
async fn delete_draft(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path((id, draft_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service::delete_draft(&state, &auth.user.id, &id, &draft_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
