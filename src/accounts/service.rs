//! Account rules: register, sign in, profile, password change, email change, deletion.

use serde::Deserialize;
use utoipa::ToSchema;

use super::store::{self, NewEmailChange, NewUser, ProfileUpdate, User};
use super::throttle;
use crate::audit::{self, AuditEvent};
use crate::db::is_unique_violation;
use crate::domain::{Email, Nickname, Password};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::http::inputs::{Avatar, ColorSchema, Language, Patch, Preferences, Timezone};
use crate::i18n::Lang;
use crate::mail::{self, Template};
use crate::passwords::{PasswordPolicy, check_new_password};
use crate::sessions::{self, Authenticated, NewSession};
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};
use crate::verification::service::CHANGE_CODE_PURPOSE;

/// Login passwords longer than this are refused before any hashing (a cheap denial of service otherwise).
const MAX_LOGIN_PASSWORD: usize = 4096;
/// Pending email changes expire with verification codes.
const EMAIL_CHANGE_TTL: i64 = crate::verification::service::TTL;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterInput {
    #[schema(value_type = String, format = Email)]
    pub email: Email,
    #[schema(value_type = String, min_length = 8, max_length = 256)]
    pub password: Password,
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub nickname: Nickname,
    #[schema(value_type = Option<String>, example = "zh-CN")]
    pub language: Option<Language>,
    #[schema(value_type = Option<String>, example = "Asia/Shanghai")]
    pub timezone: Option<Timezone>,
}

pub enum Registered {
    SignedIn(Box<User>, NewSession),
    /// Verification is required: the same answer for new and existing addresses.
    VerificationSent,
}

/// Create the user, their personal tenant (as owner) and a session in one transaction.
pub async fn register(
    state: &AppState,
    input: RegisterInput,
    lang: Lang,
    client: &ClientInfo,
) -> Result<Registered, ApiError> {
    register_with(state, input, lang, client, PasswordPolicy::Native).await
}

/// [`register`] under a password `policy` (the RAGFlow profile's `password_policy`).
pub async fn register_with(
    state: &AppState,
    input: RegisterInput,
    lang: Lang,
    client: &ClientInfo,
    policy: PasswordPolicy,
) -> Result<Registered, ApiError> {
    if !state.config.registration_enabled {
        return Err(ApiError::RegistrationDisabled);
    }
    if !state.config.password_login_enabled {
        // A password would be made that nothing accepts; providers register accounts instead.
        return Err(ApiError::PasswordLoginDisabled);
    }
    policy.check(&input.password, &input.email.display, "password")?;
    let verification = state.config.email_verification_required;
    if verification {
        // Each such registration mails the address it names (a code, or a notice to an owner).
        crate::verification::service::limit_requests(state, client).await?;
    }
    let hash = state.hasher.hash(&input.password).await?;
    let now = state.clock.now();
    let language = input.language.map(|l| l.0).unwrap_or(lang);
    let timezone = input.timezone.map(|t| t.0).unwrap_or_else(|| "UTC".into());
    let account = NewAccount {
        email: &input.email,
        nickname: &input.nickname,
        password_hash: Some(&hash),
        language,
        timezone: &timezone,
        email_verified: false,
        is_superuser: false,
        channel: "password",
    };
    let mut tx = state.db.begin().await?;
    let id = match insert_account(&mut tx, &account, Some(client), now).await {
        Err(ApiError::EmailTaken) if verification => {
            drop(tx);
            crate::verification::service::notify_signup_attempt(state, &input.email.normalized)
                .await?;
            return Ok(Registered::VerificationSent);
        }
        other => other?,
    };
    if verification {
        crate::verification::service::queue_verification(
            &mut tx,
            state,
            &id,
            &input.email.display,
            language,
        )
        .await?;
        tx.commit().await?;
        return Ok(Registered::VerificationSent);
    }
    let session = sessions::service::issue(&mut tx, state, &id, client, "password").await?;
    store::set_last_login(&mut tx, &id, "password", now).await?;
    tx.commit().await?;
    let user = store::find_by_id(&state.db, &id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Registered::SignedIn(Box::new(user), session))
}

/// A user about to be created, by any channel.
pub struct NewAccount<'a> {
    pub email: &'a Email,
    pub nickname: &'a Nickname,
    pub password_hash: Option<&'a str>,
    pub language: Lang,
    pub timezone: &'a str,
    pub email_verified: bool,
    pub is_superuser: bool,
    pub channel: &'a str,
}

/// Insert the user and their personal tenant, with the `user.registered` event, in the caller's
/// transaction. A taken email is `email_taken`, decided by the unique index (no racy pre-check).
pub async fn insert_account(
    tx: &mut crate::db::Conn,
    account: &NewAccount<'_>,
    client: Option<&ClientInfo>,
    now: i64,
) -> Result<String, ApiError> {
    let id = uuid::Uuid::now_v7().to_string();
    let inserted = store::insert(
        &mut *tx,
        NewUser {
            id: &id,
            email: &account.email.display,
            email_normalized: &account.email.normalized,
            password_hash: account.password_hash,
            nickname: &account.nickname.0,
            language: account.language.as_str(),
            timezone: account.timezone,
            email_verified: account.email_verified,
            is_superuser: account.is_superuser,
            login_channel: account.channel,
            now,
        },
    )
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(ApiError::EmailTaken),
        other => other?,
    }
    crate::tenants::store::create_with_owner(&mut *tx, &account.nickname.0, &id, true, now).await?;
    let event = AuditEvent {
        event: audit::Event::UserRegistered,
        actor_user_id: Some(&id),
        subject_user_id: Some(&id),
        tenant_id: None,
        client,
        detail: serde_json::json!({"channel": account.channel}),
    };
    audit::record(&mut *tx, now, event).await?;
    Ok(id)
}

/// Create a user directly (operators' CLI and the admin API): no session, email taken as verified.
pub async fn create_user(
    state: &AppState,
    email: &Email,
    nickname: &Nickname,
    password: &Password,
    is_superuser: bool,
) -> Result<User, ApiError> {
    check_new_password(password, &email.display, "password")?;
    let hash = state.hasher.hash(password).await?;
    let account = NewAccount {
        email,
        nickname,
        password_hash: Some(&hash),
        language: Lang::En,
        timezone: "UTC",
        email_verified: true,
        is_superuser,
        channel: "password",
    };
    let mut tx = state.db.begin().await?;
    let id = insert_account(&mut tx, &account, None, state.clock.now()).await?;
    tx.commit().await?;
    store::find_by_id(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub email: String,
    #[schema(value_type = String)]
    pub password: Password,
    pub captcha_id: Option<String>,
    pub captcha_answer: Option<String>,
}

/// Sign in with email and password. Unknown email and wrong password answer alike, in alike time.
pub async fn login(
    state: &AppState,
    input: LoginInput,
    client: &ClientInfo,
) -> Result<SignIn, ApiError> {
    let LoginInput {
        email,
        password,
        captcha_id,
        captcha_answer,
    } = input;
    let captcha = Some((captcha_id.as_deref(), captcha_answer.as_deref()));
    login_revealing(state, &email, captcha, client, || Some(password)).await
}

/// The end of a password sign-in: a session, or the second step the account owes first.
pub enum SignIn {
    Done(Box<User>, NewSession),
    SecondStep(crate::mfa::SecondStep),
}

/// [`login`] for a password that is opened only once the attempt is counted (the RAGFlow
/// profile's RSA transport: decrypting is work a flood must not get for free). `reveal`
/// answering `None` is a `validation_failed` on `password`.
pub async fn login_revealing(
    state: &AppState,
    email: &str,
    captcha: throttle::CaptchaAnswer<'_>,
    client: &ClientInfo,
    reveal: impl FnOnce() -> Option<Password>,
) -> Result<SignIn, ApiError> {
    if !state.config.password_login_enabled {
        return Err(ApiError::PasswordLoginDisabled);
    }
    if email.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let normalized = crate::domain::normalize_email(email);
    let attempt = throttle::reserve(state, &normalized, client.ip, captcha).await?;
    let Some(password) = reveal() else {
        attempt.release(state).await?;
        return Err(ApiError::field(
            "password",
            crate::error::FieldProblem::Invalid,
        ));
    };
    let user = store::find_by_email(&state.db, &normalized).await?;
    let verified = check_password(state, user.as_ref(), password.expose()).await?;
    let mut user = match user {
        Some(user) if verified.ok => user,
        other => {
            let failed = attempt.failed(state).await?;
            return Err(login_failed(state, &normalized, client, other.as_ref(), failed).await);
        }
    };
    if !user.is_active || (state.config.email_verification_required && !user.email_verified) {
        // The password was right, so nothing was guessed; but nobody signed in either.
        attempt.release(state).await?;
        return Err(if user.is_active {
            ApiError::EmailUnverified
        } else {
            ApiError::AccountDisabled
        });
    }
    if verified.needs_rehash
        && let Some(old) = user.password_hash.as_deref()
    {
        let fresh = state.hasher.hash(&password).await?;
        store::upgrade_password_hash(&state.db, &user.id, old, &fresh).await?;
        user.password_hash = Some(fresh);
    }
    if let Some(step) =
        crate::mfa::login::begin_if_due(state, &user, "password", &["pwd"], None).await?
    {
        // The right password is no failure, but the count resets only once the sign-in is
        // complete (after the second step).
        attempt.release(state).await?;
        return Ok(SignIn::SecondStep(step));
    }
    attempt.succeeded(state).await?;
    let session = sign_in(state, &mut user, client, "password").await?;
    Ok(SignIn::Done(Box::new(user), session))
}

/// Check `password` against the user's hash; without a user (or a password) a dummy check
/// keeps the time alike. Absurdly long passwords are wrong without hashing.
async fn check_password(
    state: &AppState,
    user: Option<&User>,
    password: &str,
) -> Result<crate::passwords::Verified, ApiError> {
    let wrong = crate::passwords::Verified {
        ok: false,
        needs_rehash: false,
    };
    if password.chars().count() > MAX_LOGIN_PASSWORD {
        return Ok(wrong);
    }
    match user.and_then(|u| u.password_hash.as_deref()) {
        Some(hash) => Ok(state.hasher.verify(password, hash).await?),
        None => {
            state.hasher.dummy_verify(password).await?;
            Ok(wrong)
        }
    }
}

/// Issue a session after a successful sign-in by any channel, with its audit event. `user`
/// comes back as stored after it (its last sign-in time and channel), without a second read.
pub async fn sign_in(
    state: &AppState,
    user: &mut User,
    client: &ClientInfo,
    channel: &str,
) -> Result<NewSession, ApiError> {
    let amr = sessions::service::default_amr(channel);
    sign_in_with_amr(state, user, client, channel, amr).await
}

/// [`sign_in`] recording the methods `amr` that proved it (in the session and the event).
pub async fn sign_in_with_amr(
    state: &AppState,
    user: &mut User,
    client: &ClientInfo,
    channel: &str,
    amr: &[&str],
) -> Result<NewSession, ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let session =
        sessions::service::issue_with_amr(&mut tx, state, &user.id, client, channel, amr).await?;
    store::set_last_login(&mut tx, &user.id, channel, now).await?;
    let event = AuditEvent::by_user(audit::Event::UserLogin, &user.id, client)
        .detail(serde_json::json!({"channel": channel, "methods": amr}));
    audit::record(&mut tx, now, event).await?;
    tx.commit().await?;
    user.last_login_at = Some(crate::domain::Timestamp::from_unix(now));
    user.login_channel = channel.to_string();
    metrics::counter!("gatehouse_logins_total", "channel" => channel.to_string(), "result" => "ok")
        .increment(1);
    Ok(session)
}

/// Record a failed password check and what it set off (a lock; the owner's mail when the
/// address reached `max_consecutive_failures`). The email is recorded only as its keyed tag:
/// a mistyped address or password can be someone's secret elsewhere.
async fn login_failed(
    state: &AppState,
    normalized: &str,
    client: &ClientInfo,
    user: Option<&User>,
    failed: throttle::Failed,
) -> ApiError {
    metrics::counter!("gatehouse_logins_total", "channel" => "password", "result" => "failed")
        .increment(1);
    match record_failure(state, normalized, client, user, failed, "password").await {
        Ok(()) if failed.locked_for_good => ApiError::AccountLocked,
        Ok(()) => ApiError::InvalidCredentials,
        Err(e) => e,
    }
}

/// Record a wrong second-step answer like a failed password: the same counts, events, lock
/// and mail.
pub async fn second_step_failed(
    state: &AppState,
    user: &User,
    client: &ClientInfo,
    failed: throttle::Failed,
) -> Result<(), ApiError> {
    metrics::counter!("gatehouse_logins_total", "channel" => "mfa", "result" => "failed")
        .increment(1);
    record_failure(
        state,
        &user.email_normalized,
        client,
        Some(user),
        failed,
        "mfa",
    )
    .await
}

async fn record_failure(
    state: &AppState,
    normalized: &str,
    client: &ClientInfo,
    user: Option<&User>,
    failed: throttle::Failed,
    channel: &str,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let tag = state.key.address_tag(normalized);
    let event = |name: audit::Event, detail: serde_json::Value| AuditEvent {
        event: name,
        actor_user_id: None,
        subject_user_id: user.map(|u| u.id.as_str()),
        tenant_id: None,
        client: Some(client),
        detail,
    };
    let mut tx = state.db.begin().await?;
    let detail = serde_json::json!({"email_tag": tag, "channel": channel});
    audit::record(&mut tx, now, event(audit::Event::UserLoginFailed, detail)).await?;
    if failed.locked || failed.locked_for_good {
        let detail = serde_json::json!({"email_tag": tag, "until_reset": failed.locked_for_good});
        audit::record(&mut tx, now, event(audit::Event::UserLocked, detail)).await?;
    }
    if failed.locked_for_good
        && let Some(user) = user
    {
        let link = mail::link(state, "/forgot-password");
        mail::enqueue(
            &mut tx,
            state,
            &user.email,
            &Template::AccountLocked { link: &link },
            user.lang(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Check the signed-in user's password for a sensitive change. A wrong one counts like a
/// failed login (403 `invalid_credentials`), and a locked account is refused (429).
pub async fn confirm_password(
    state: &AppState,
    user: &User,
    password: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    if !state.config.password_login_enabled {
        return Err(ApiError::PasswordLoginDisabled);
    }
    let attempt = throttle::reserve(state, &user.email_normalized, client.ip, None).await?;
    if check_password(state, Some(user), password).await?.ok {
        return attempt.succeeded(state).await;
    }
    let failed = attempt.failed(state).await?;
    match login_failed(state, &user.email_normalized, client, Some(user), failed).await {
        ApiError::InvalidCredentials => Err(ApiError::WrongPassword),
        other => Err(other),
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub nickname: Patch<Nickname>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub avatar: Patch<Avatar>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub language: Patch<Language>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub color_schema: Patch<ColorSchema>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub timezone: Patch<Timezone>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub preferences: Patch<Preferences>,
}

/// Apply a profile patch; `null` clears the avatar and empties the preferences, and is refused
/// for fields that must always hold a value.
pub async fn update_profile(
    state: &AppState,
    user: &User,
    patch: ProfilePatch,
) -> Result<User, ApiError> {
    use crate::error::FieldProblem;
    fn required<T>(
        patch: Patch<T>,
        field: &str,
        current: String,
        get: impl FnOnce(T) -> String,
    ) -> Result<String, ApiError> {
        match patch {
            Patch::Absent => Ok(current),
            Patch::Null => Err(ApiError::field(field, FieldProblem::Required)),
            Patch::Value(v) => Ok(get(v)),
        }
    }
    let update = ProfileUpdate {
        nickname: required(patch.nickname, "nickname", user.nickname.clone(), |n| n.0)?,
        language: required(patch.language, "language", user.language.clone(), |l| {
            l.0.as_str().to_string()
        })?,
        color_schema: required(
            patch.color_schema,
            "color_schema",
            user.color_schema.clone(),
            |c| c.0,
        )?,
        timezone: required(patch.timezone, "timezone", user.timezone.clone(), |t| t.0)?,
        avatar: match patch.avatar {
            Patch::Absent => user.avatar.clone(),
            Patch::Null => None,
            Patch::Value(a) => Some(a.0),
        },
        preferences: match patch.preferences {
            Patch::Absent => user.preferences.clone(),
            Patch::Null => "{}".into(),
            Patch::Value(p) => serde_json::Value::Object(p.0).to_string(),
        },
    };
    store::update_profile(&state.db, &user.id, &update, state.clock.now())
        .await?
        .ok_or(ApiError::Unauthenticated)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String)]
    pub current_password: Password,
    #[schema(value_type = String)]
    pub new_password: Password,
}

/// Change the password; every other session of the user ends.
pub async fn change_password(
    state: &AppState,
    auth: &Authenticated,
    input: PasswordChange,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    change_password_with(state, auth, input, client, PasswordPolicy::Native).await
}

/// [`change_password`] under a password `policy` (the RAGFlow profile's `password_policy`).
pub async fn change_password_with(
    state: &AppState,
    auth: &Authenticated,
    input: PasswordChange,
    client: &ClientInfo,
    policy: PasswordPolicy,
) -> Result<(), ApiError> {
    if auth.api_key().is_some() {
        // A key (or a RAGFlow API token) must not be able to take the account over.
        return Err(ApiError::SessionRequired);
    }
    let user = &auth.user;
    confirm_password(state, user, input.current_password.expose(), client).await?;
    policy.check(&input.new_password, &user.email, "new_password")?;
    let hash = state.hasher.hash(&input.new_password).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    store::set_password_hash(&mut tx, &user.id, &hash, now).await?;
    audit::record(
        &mut tx,
        now,
        AuditEvent::by_user(audit::Event::UserPasswordChanged, &user.id, client),
    )
    .await?;
    let revoked = AuditEvent::by_user(audit::Event::SessionRevoked, &user.id, client);
    sessions::service::revoke_all_but(&mut tx, state, &user.id, auth.session_id(), revoked).await?;
    let link = mail::link(state, "/forgot-password");
    let notice = Template::PasswordChanged { link: &link };
    mail::enqueue(&mut tx, state, &user.email, &notice, user.lang()).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    #[schema(value_type = String, format = Email)]
    pub new_email: Email,
    #[schema(value_type = String)]
    pub password: Password,
}

/// Record a pending email change (applied when the new address confirms it).
pub async fn request_email_change(
    state: &AppState,
    auth: &Authenticated,
    input: EmailChangeRequest,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let user = &auth.user;
    confirm_password(state, user, input.password.expose(), client).await?;
    crate::codes::mail_limits(state, &crate::codes::EMAIL_CHANGES, &user.id, client.ip).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if input.new_email.normalized == user.email_normalized
        || store::email_in_use(&mut tx, &input.new_email.normalized).await?
    {
        return Err(ApiError::EmailTaken);
    }
    let token = new_token("");
    let code = crate::codes::new_code();
    store::insert_email_change(
        &mut tx,
        NewEmailChange {
            user_id: &user.id,
            new_email: &input.new_email.display,
            new_email_normalized: &input.new_email.normalized,
            token_hash: &sha256_hex(&token),
            code_hash: &crate::codes::mac(state, CHANGE_CODE_PURPOSE, &code),
            now,
            expires_at: now + EMAIL_CHANGE_TTL,
        },
    )
    .await?;
    let link = mail::link(state, &format!("/verify-email?token={token}"));
    let confirm = Template::EmailChangeConfirm {
        code: &code,
        link: &link,
        new_email: &input.new_email.display,
        minutes: EMAIL_CHANGE_TTL / 60,
    };
    mail::enqueue(
        &mut tx,
        state,
        &input.new_email.display,
        &confirm,
        user.lang(),
    )
    .await?;
    let account_link = mail::link(state, "/account");
    let notice = Template::EmailChangeNotice {
        new_email: &input.new_email.display,
        link: &account_link,
    };
    mail::enqueue(&mut tx, state, &user.email, &notice, user.lang()).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// Required unless the session comes from a provider sign-in of the last 10 minutes.
    #[schema(value_type = Option<String>)]
    pub password: Option<Password>,
}

/// How recent a provider sign-in must be to stand in for the password.
const RECENT_PROVIDER_LOGIN: i64 = 10 * 60;

/// Delete the account with its sessions, memberships and sole-member tenants; the password (or a
/// provider sign-in of the last minutes, for accounts without one) confirms it.
pub async fn delete_account(
    state: &AppState,
    auth: &Authenticated,
    input: DeleteAccount,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let user = &auth.user;
    match &input.password {
        Some(password) => confirm_password(state, user, password.expose(), client).await?,
        None if deletion_needs_password(state, auth).await? => {
            return Err(ApiError::WrongPassword);
        }
        None => {}
    }
    erase_user(state, &user.id, &user.id, client).await
}

/// Whether deleting the account needs the password, or a provider sign-in of the last minutes
/// stands in for it (the page asks, to know whether to show the field).
pub async fn deletion_needs_password(
    state: &AppState,
    auth: &Authenticated,
) -> Result<bool, ApiError> {
    let session = auth.session_id().unwrap_or_default();
    let since = state.clock.now() - RECENT_PROVIDER_LOGIN;
    Ok(!sessions::service::is_recent_provider_login(state, session, since).await?)
}

/// Delete a user with their sessions, keys, memberships and sole-member tenants; refused while
/// they own a team with other members. `actor_id` is who asked (the user, or an administrator).
pub async fn erase_user(
    state: &AppState,
    user_id: &str,
    actor_id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    if crate::tenants::store::count_owned_with_others(&mut tx, user_id).await? > 0 {
        return Err(ApiError::TenantHasMembers);
    }
    crate::tenants::store::delete_sole_member_tenants(&mut tx, user_id).await?;
    store::delete(&mut tx, user_id).await?;
    let mut event = AuditEvent::by_user(audit::Event::UserDeleted, user_id, client);
    event.actor_user_id = Some(actor_id);
    audit::record(&mut tx, state.clock.now(), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Someone just proved control of the account's address (a password reset by mail, or a
/// provider vouching for it). What was made before the proof may be an attacker's, planted
/// while the account was theirs to use (account pre-hijacking): sessions, API keys (with the
/// RAGFlow tokens made of them) and pending email changes go; at the *first* proof of an address
/// never verified before, linked identities go too. Runs in the caller's transaction.
pub async fn end_access_before_proof(
    conn: &mut crate::db::Conn,
    state: &AppState,
    user_id: &str,
    client: &ClientInfo,
    first_proof: bool,
) -> Result<(), ApiError> {
    let revoked = AuditEvent::by_user(audit::Event::SessionRevoked, user_id, client);
    sessions::service::revoke_all_but(conn, state, user_id, None, revoked).await?;
    let now = state.clock.now();
    let keys = crate::api_keys::service::revoke_all(conn, user_id).await?;
    let changes = store::cancel_email_changes(&mut *conn, user_id).await?;
    let identities = if first_proof {
        crate::oauth::service::unlink_all(conn, user_id).await?
    } else {
        0
    };
    let record = |event: audit::Event, count: u64| {
        (count > 0).then(|| {
            AuditEvent::by_user(event, user_id, client)
                .detail(serde_json::json!({"count": count, "reason": "address_proved"}))
        })
    };
    let events = [
        record(audit::Event::ApiKeyRevoked, keys),
        record(audit::Event::IdentityUnlinked, identities),
        record(audit::Event::UserEmailChangeCancelled, changes),
    ];
    for event in events.into_iter().flatten() {
        audit::record(&mut *conn, now, event).await?;
    }
    Ok(())
}

/// A recovered (or unlocked) account starts with a clean failure count.
pub async fn forget_login_failures(
    state: &AppState,
    email_normalized: &str,
) -> Result<(), ApiError> {
    throttle::clear(state, email_normalized).await
}
