//! Sign-in, registration, sign-out and the profile (§2 `/auth/login`, `/users`, `/users/me`),
//! over the native account and session rules. Passwords are decrypted here, once.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::Profile;
use super::auth::{Body, Client, RagUser, token_for};
use super::wire::{self, WireError, WireResult, code, http_date, rag_id};
use crate::accounts::User;
use crate::accounts::service::{self as accounts, PasswordChange, ProfilePatch};
use crate::domain::{Email, Nickname, Password};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::i18n::Lang;

/// RAGFlow's "safe user dict" (§5.1): the user row without password and token, email included.
pub fn user_dict(u: &User) -> Value {
    json!({
        "avatar": u.avatar,
        "color_schema": if u.color_schema == "dark" { "Dark" } else { "Bright" },
        "create_date": http_date(u.created_at.unix()),
        "create_time": u.created_at.unix().saturating_mul(1000),
        "email": u.email,
        "id": rag_id(&u.id),
        "is_active": if u.is_active { "1" } else { "0" },
        "is_anonymous": "0",
        "is_authenticated": "1",
        "is_superuser": u.role.is_superuser(),
        "language": if u.lang() == Lang::ZhCn { "Chinese" } else { "English" },
        "last_login_time": u.last_login_at.map(|t| http_date(t.unix())),
        "login_channel": u.login_channel,
        "nickname": u.nickname,
        "status": "1",
        "timezone": u.timezone,
        "update_date": http_date(u.updated_at.unix()),
        "update_time": u.updated_at.unix().saturating_mul(1000),
    })
}

/// Decrypt a transported password (`None`: answer with [`crypt_failed`]).
pub fn password(p: &Profile, wire: Option<String>) -> Option<Password> {
    wire.and_then(|w| p.keys.transport.decrypt(&w))
}

/// RAGFlow's answer when a password does not decrypt.
pub fn crypt_failed() -> Response {
    wire::fail(code::SERVER_ERROR, "Fail to crypt password")
}

/// The rules new passwords set through the profile meet (`[ragflow] password_policy`).
pub fn policy(p: &Profile) -> crate::passwords::PasswordPolicy {
    p.app.config.ragflow.password_policy
}

/// `POST /auth/login`: a new gatehouse session per login; unknown email and wrong password
/// answer alike.
pub async fn login(State(p): State<Profile>, Client(client): Client, body: Body) -> WireResult {
    if body.0.is_empty() {
        return Ok(wire::fail_with(
            code::AUTHENTICATION_ERROR,
            "Unauthorized!",
            Value::Bool(false),
        ));
    }
    let email = body.text("email").unwrap_or_default();
    let wire_password = body.text("password");
    // No captcha can be shown here: when one is due the client is sent to the page.
    let captcha = Some((None, None));
    // Decrypting is RSA work: done only once the attempt is counted and allowed.
    let reveal = || password(&p, wire_password);
    let signed_in = accounts::login_revealing(&p.app, &email, captcha, &client, reveal)
        .await
        .map_err(login_fault)?;
    // RAGFlow's clients cannot answer a second step: the token is not even issued.
    let accounts::SignIn::Done(user, session) = signed_in else {
        return Err(WireError::fail(
            code::AUTHENTICATION_ERROR,
            "Two-factor authentication is on for this account: sign in on the web page.",
        ));
    };
    let token = token_for(&p, &session).await.map_err(login_fault)?;
    Ok(wire::with_token(
        wire::ok_with("Welcome back!", user_dict(&user)),
        &token,
    ))
}

fn login_fault(e: ApiError) -> WireError {
    match e {
        ApiError::InvalidCredentials => WireError::fail(
            code::AUTHENTICATION_ERROR,
            "Email and password do not match!",
        ),
        ApiError::AccountDisabled => WireError::fail(
            code::FORBIDDEN,
            "This account has been disabled, please contact the administrator!",
        ),
        ApiError::CaptchaRequired | ApiError::InvalidCaptcha => WireError::fail(
            code::AUTHENTICATION_ERROR,
            "Too many failed attempts: sign in on the gatehouse page, which asks for a captcha.",
        ),
        ApiError::EmailUnverified => {
            WireError::fail(code::AUTHENTICATION_ERROR, "email not verified")
        }
        ApiError::Validation(_) => WireError::Answer(crypt_failed()),
        other => WireError::Fault(other),
    }
}

/// `POST /users`: register and sign in (one transaction, as the native registration).
pub async fn register(State(p): State<Profile>, Client(client): Client, body: Body) -> Response {
    let missing = body.missing(&["nickname", "email", "password"]);
    if !missing.is_empty() {
        return wire::missing(&missing);
    }
    if !p.app.config.ragflow.register_enabled || !p.app.config.registration_enabled {
        return wire::fail(code::OPERATING_ERROR, "User registration is disabled!");
    }
    let raw_email = body.text("email").unwrap_or_default();
    let Some(email) = Email::parse(&raw_email) else {
        return wire::fail(
            code::OPERATING_ERROR,
            &format!("Invalid email address: {raw_email}!"),
        );
    };
    let Some(nickname) = Nickname::parse(&body.text("nickname").unwrap_or_default()) else {
        return wire::fail(
            code::ARGUMENT_ERROR,
            "Nickname contains invalid characters.",
        );
    };
    let Some(pw) = password(&p, body.text("password")) else {
        return crypt_failed();
    };
    match create_account(&p, &email, &nickname, &pw, &client).await {
        Ok(Some((user, token))) => wire::with_token(
            wire::ok_with(
                &format!("{}, welcome aboard!", user.nickname),
                user_dict(&user),
            ),
            &token,
        ),
        Ok(None) => wire::ok_with(
            "Check your mailbox to verify your address.",
            Value::Bool(true),
        ),
        Err(ApiError::EmailTaken) => wire::fail(
            code::OPERATING_ERROR,
            &format!("Email: {} has already registered!", email.display),
        ),
        Err(e @ (ApiError::Validation(_) | ApiError::WeakPassword(_))) => {
            wire::fail(code::ARGUMENT_ERROR, &wire::describe(&e))
        }
        Err(e) => wire::fault(e),
    }
}

/// The native registration; then a token for its session, or `None` when the deployment
/// requires email verification first.
async fn create_account(
    p: &Profile,
    email: &Email,
    nickname: &Nickname,
    password: &Password,
    client: &ClientInfo,
) -> Result<Option<(User, String)>, ApiError> {
    let input = accounts::RegisterInput {
        email: email.clone(),
        password: password.clone(),
        nickname: nickname.clone(),
        language: None,
        timezone: None,
    };
    match accounts::register_with(&p.app, input, Lang::En, client, policy(p)).await? {
        accounts::Registered::SignedIn(user, session) => {
            Ok(Some((*user, token_for(p, &session).await?)))
        }
        accounts::Registered::VerificationSent => Ok(None),
    }
}

/// `POST /auth/logout`: the session behind the token ends (other sessions live on).
pub async fn logout(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Client(client): Client,
) -> Response {
    match crate::sessions::service::logout(&p.app, &auth, &client).await {
        Ok(()) => wire::ok(Value::Bool(true)),
        Err(e) => wire::fault(e),
    }
}

/// `GET /users/me`.
pub async fn me(RagUser(auth): RagUser) -> Response {
    wire::ok(user_dict(&auth.user))
}

/// `PATCH /users/me`: profile fields (translated to the native ones), then a password check or
/// change when `password` / `new_password` are given.
pub async fn update_me(
    State(p): State<Profile>,
    RagUser(auth): RagUser,
    Client(client): Client,
    body: Body,
) -> Response {
    if let Err(r) = update_profile(&p, &auth.user, &body).await {
        return r;
    }
    let wire_current = body.text("password");
    if wire_current.is_none() {
        if body.text("new_password").is_some() {
            return wire::fail(code::AUTHENTICATION_ERROR, "Password error!");
        }
        return wire::ok(Value::Bool(true));
    }
    let Some(current) = password(&p, wire_current) else {
        return crypt_failed();
    };
    let result = match body.text("new_password") {
        None => accounts::confirm_password(&p.app, &auth.user, current.expose(), &client).await,
        Some(wire_new) => match password(&p, Some(wire_new)) {
            Some(new_password) => {
                let change = PasswordChange {
                    current_password: current,
                    new_password,
                };
                accounts::change_password_with(&p.app, &auth, change, &client, policy(&p)).await
            }
            None => return crypt_failed(),
        },
    };
    match result {
        Ok(()) => wire::ok(Value::Bool(true)),
        Err(ApiError::WrongPassword) => wire::fail(code::AUTHENTICATION_ERROR, "Password error!"),
        Err(ApiError::SessionRequired) => wire::fail(
            code::AUTHENTICATION_ERROR,
            "API tokens cannot change the password",
        ),
        Err(e @ (ApiError::Validation(_) | ApiError::WeakPassword(_))) => {
            wire::fail(code::ARGUMENT_ERROR, &wire::describe(&e))
        }
        Err(e) => wire::fault(e),
    }
}

/// RAGFlow's profile keys in native form; unknown keys are ignored, not written.
async fn update_profile(p: &Profile, user: &User, body: &Body) -> Result<(), Response> {
    let mut patch = serde_json::Map::new();
    if let Some(n) = body.text("nickname") {
        patch.insert("nickname".into(), n.into());
    }
    if let Some(v) = body.0.get("avatar") {
        let v = if v.as_str() == Some("") {
            Value::Null
        } else {
            v.clone()
        };
        patch.insert("avatar".into(), v);
    }
    if let Some(l) = body.text("language") {
        let lang = match l.as_str() {
            "Chinese" => "zh-CN",
            "English" => "en",
            other => other,
        };
        patch.insert("language".into(), lang.into());
    }
    if let Some(c) = body.text("color_schema") {
        let c = match c.as_str() {
            "Dark" => "dark".to_string(),
            "Bright" => "light".to_string(),
            _ => c,
        };
        patch.insert("color_schema".into(), c.into());
    }
    if let Some(t) = body.text("timezone") {
        let zone = t.rsplit('\t').next().unwrap_or_default().to_string();
        patch.insert("timezone".into(), zone.into());
    }
    if patch.is_empty() {
        return Ok(());
    }
    let patch: ProfilePatch = serde_json::from_value(Value::Object(patch)).map_err(|e| {
        let text = e.to_string();
        let message = if text.contains("field:nickname") {
            "Nickname contains invalid characters.".to_string()
        } else {
            let field = text
                .split("field:")
                .nth(1)
                .and_then(|r| r.split_whitespace().next());
            format!("Invalid value for {}.", field.unwrap_or("a field"))
        };
        wire::fail(code::ARGUMENT_ERROR, &message)
    })?;
    accounts::update_profile(&p.app, user, patch)
        .await
        .map(|_| ())
        .map_err(wire::fault)
}
