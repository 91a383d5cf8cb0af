//! The adapter's handlers: parse BotServer's body, call the native service, answer its JSON.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{split_addresses, tls_for_port, valid_username};
use crate::accounts::service::{LoginInput, RegisterInput, Registered, SignIn};
use crate::domain::{Email, Nickname, Password};
use crate::error::ApiError;
use crate::error::FieldProblem;
use crate::http::{ApiJson, ClientInfo, Json, ReqLang, SessionUser};
use crate::mailbox::compose::SendInput;
use crate::mailbox::service::{self, AccountView, DraftView, FolderView, NewAccount, Sent};
use crate::state::AppState;

/// BotServer's routes, or none when `[botserver] enabled = false`.
pub fn router(enabled: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/api/email/accounts", get(list_accounts))
        .route("/api/email/accounts/add", post(add_account))
        .route("/api/email/accounts/{id}", delete(remove_account))
        .route("/api/email/list", post(list_messages))
        .route(
            "/api/email/send",
            post(send).layer(axum::extract::DefaultBodyLimit::max(
                crate::mailbox::MAX_SEND_BODY,
            )),
        )
        .route(
            "/api/email/draft",
            post(draft).layer(axum::extract::DefaultBodyLimit::max(
                crate::mailbox::MAX_SEND_BODY,
            )),
        )
        .route("/api/email/folders/{account_id}", get(folders))
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
}

async fn list_accounts(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    service::list(&state, &auth.user.id).await.map(Json)
}

#[derive(Deserialize)]
struct AddAccount {
    email: String,
    display_name: Option<String>,
    imap_server: String,
    imap_port: u16,
    smtp_server: String,
    smtp_port: u16,
    username: Option<String>,
    password: String,
    is_primary: Option<bool>,
}

async fn add_account(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<AddAccount>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let native = NewAccount {
        username: input
            .username
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| input.email.clone()),
        email: input.email,
        display_name: input.display_name,
        imap_tls: tls_for_port(input.imap_port),
        imap_host: input.imap_server,
        imap_port: input.imap_port,
        smtp_tls: tls_for_port(input.smtp_port),
        smtp_host: input.smtp_server,
        smtp_port: input.smtp_port,
        password: input.password,
        is_primary: input.is_primary,
        verify: None,
    };
    let account = service::create(&state, &auth.user.id, native, &client).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

async fn remove_account(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state, &auth.user.id, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ListInput {
    account_id: String,
    folder: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Serialize)]
struct MessagePage {
    items: Vec<crate::mailbox::read::MessageSummary>,
    total: usize,
    page: i64,
    per_page: i64,
    offset: i64,
    limit: i64,
}

async fn list_messages(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    ApiJson(input): ApiJson<ListInput>,
) -> Result<Json<MessagePage>, ApiError> {
    let limit = input.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", FieldProblem::Invalid));
    }
    let offset = input.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::field("offset", FieldProblem::Invalid));
    }
    let (items, total) = service::messages(
        &state,
        &auth.user.id,
        &input.account_id,
        input.folder.as_deref(),
        None,
        usize::try_from(offset).unwrap_or(0),
        usize::try_from(limit).unwrap_or(50),
    )
    .await?;
    Ok(Json(MessagePage {
        items,
        total,
        page: offset / limit + 1,
        per_page: limit,
        offset,
        limit,
    }))
}

#[derive(Deserialize)]
struct SendBody {
    account_id: String,
    to: Option<String>,
    cc: Option<String>,
    bcc: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    is_html: Option<bool>,
}

fn native_send(input: &SendBody) -> SendInput {
    let (text, html) = if input.is_html == Some(true) {
        (None, input.body.clone())
    } else {
        (input.body.clone(), None)
    };
    SendInput {
        to: split_addresses(input.to.as_deref()),
        cc: Some(split_addresses(input.cc.as_deref())),
        bcc: Some(split_addresses(input.bcc.as_deref())),
        subject: input.subject.clone().unwrap_or_default(),
        text,
        html,
        ..SendInput::default()
    }
}

async fn send(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    client: ClientInfo,
    ApiJson(input): ApiJson<SendBody>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let native = native_send(&input);
    let sent = service::send(&state, &auth.user.id, &input.account_id, native, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

async fn draft(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    ApiJson(input): ApiJson<SendBody>,
) -> Result<(StatusCode, Json<DraftView>), ApiError> {
    let native = native_send(&input);
    let draft = service::save_draft(&state, &auth.user.id, &input.account_id, None, native).await?;
    Ok((StatusCode::CREATED, Json(draft)))
}

async fn folders(
    State(state): State<AppState>,
    SessionUser(auth): SessionUser,
    Path(account_id): Path<String>,
) -> Result<Json<Vec<FolderView>>, ApiError> {
    service::folders(&state, &auth.user.id, &account_id)
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    username: String,
    email: String,
    password: String,
}

/// Register with a username (kept unique, also the nickname) and answer `{token, user_id}`.
async fn register(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    client: ClientInfo,
    ApiJson(input): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let username = input.username.trim().to_string();
    let nickname = Nickname::parse(&username)
        .filter(|_| valid_username(&username))
        .ok_or_else(|| ApiError::field("username", FieldProblem::Invalid))?;
    let email = Email::parse(&input.email)
        .ok_or_else(|| ApiError::field("email", FieldProblem::InvalidEmail))?;
    if crate::accounts::store::find_by_username(&state.db, &username.to_lowercase())
        .await?
        .is_some()
    {
        return Err(ApiError::UsernameTaken);
    }
    let native = RegisterInput {
        email,
        password: Password::new(input.password),
        nickname,
        language: None,
        timezone: None,
    };
    match crate::accounts::service::register(&state, native, lang, &client).await? {
        Registered::SignedIn(user, session) => {
            if !crate::accounts::store::set_username(&state.db, &user.id, &username).await? {
                // Taken between the check and now: the account just made goes again.
                crate::accounts::service::erase_user(&state, &user.id, &user.id, &client).await?;
                return Err(ApiError::UsernameTaken);
            }
            Ok((
                StatusCode::CREATED,
                Json(json!({"token": session.token, "user_id": user.id})),
            ))
        }
        Registered::VerificationSent => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"status": "verification_sent"})),
        )),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    username: Option<String>,
    email: Option<String>,
    password: String,
}

/// Sign in with a username or an email and answer `{token, user_id}`; the native login's
/// rules (captcha, locks, failure counts) apply to the account's email.
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<LoginBody>,
) -> Result<Json<Value>, ApiError> {
    let name = input
        .username
        .or(input.email)
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::field("username", FieldProblem::Required))?;
    let email = if name.contains('@') {
        name
    } else {
        match crate::accounts::store::find_by_username(&state.db, &name.to_lowercase()).await? {
            Some(user) => user.email,
            // Unknown usernames go through the same path (same answer, same time).
            None => format!("{name}@unknown.invalid"),
        }
    };
    let native = LoginInput {
        email,
        password: Password::new(input.password),
        captcha_id: None,
        captcha_answer: None,
    };
    // A due second step answers as the native login does (Points settled 15); the client
    // finishes it at `POST /api/v1/auth/login/mfa`.
    match crate::accounts::service::login(&state, native, &client).await? {
        SignIn::Done(user, session) => {
            Ok(Json(json!({"token": session.token, "user_id": user.id})))
        }
        SignIn::SecondStep(step) => Ok(Json(json!(step))),
    }
}
