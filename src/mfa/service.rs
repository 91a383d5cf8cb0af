//! Second-factor rules: TOTP enrolment and removal, recovery codes, passkey management, the
//! administrator's reset, and which accounts owe a second step or an enrolment.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::config::RequiredFor;
use super::{passkeys, recovery_codes, store, totp};
use crate::accounts::User;
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use crate::db::Conn;
use crate::domain::Password;
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::mail::templates::SignInChange;
use crate::mail::{self, Template};
use crate::sealing::Sealer;
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A pending TOTP secret must be confirmed within 10 minutes.
const PENDING_TTL: i64 = 10 * 60;
/// How recent a provider sign-in must be to stand in for the password.
const RECENT_PROVIDER_LOGIN: i64 = 10 * 60;
/// Passkey names are short labels.
const MAX_PASSKEY_NAME: usize = 100;

fn sealer(state: &AppState) -> Sealer {
    Sealer::derive(&state.key, "totp-secrets")
}

/// What second factors an account has.
#[derive(Debug, Clone, Copy, Default)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: i64,
}

impl Factors {
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// The `methods` a second step offers.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.totp {
            methods.extend(["totp", "recovery_code"]);
        }
        if self.passkeys > 0 {
            methods.push("passkey");
        }
        methods
    }
}

pub async fn factors(state: &AppState, user_id: &str) -> Result<Factors, ApiError> {
    let (totp, passkeys) = store::count_factors(&state.db, user_id).await?;
    Ok(Factors {
        totp: totp > 0,
        passkeys,
    })
}

/// Whether `[mfa] required_for` covers the user.
pub fn required_for(state: &AppState, user: &User) -> bool {
    match state.config.mfa.required_for {
        RequiredFor::None => false,
        RequiredFor::Superusers => user.role.is_superuser(),
        RequiredFor::All => true,
    }
}

/// A caller `[mfa] required_for` covers who has no second factor yet: such a caller may only
/// enrol (and sign out, and read themself).
pub async fn enrolment_due(state: &AppState, user: &User) -> Result<bool, ApiError> {
    if !required_for(state, user) {
        return Ok(false);
    }
    Ok(!factors(state, &user.id).await?.any())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&store::PasskeyRow> for PasskeyView {
    fn from(row: &store::PasskeyRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    pub totp_enabled: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<PasskeyView>,
}

/// The caller's second factors.
pub async fn status(state: &AppState, user: &User) -> Result<MfaStatus, ApiError> {
    let totp_enabled = store::totp(&state.db, &user.id)
        .await?
        .is_some_and(|t| t.enabled_at.is_some());
    let recovery_codes_left = if totp_enabled {
        store::recovery_codes_left(&state.db, &user.id).await?
    } else {
        0
    };
    let passkeys = store::passkeys(&state.db, &user.id)
        .await?
        .iter()
        .map(PasskeyView::from)
        .collect();
    Ok(MfaStatus {
        totp_enabled,
        recovery_codes_left,
        passkeys,
    })
}

/// The password (or, without one, a provider sign-in of the last 10 minutes on this session)
/// confirms a change of second factors. A wrong password counts like a failed login.
pub async fn confirm_identity(
    state: &AppState,
    auth: &Authenticated,
    password: Option<&Password>,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    if let Some(password) = password {
        return crate::accounts::service::confirm_password(
            state,
            &auth.user,
            password.expose(),
            client,
        )
        .await;
    }
    let session = auth.session_id().unwrap_or_default();
    let since = state.clock.now() - RECENT_PROVIDER_LOGIN;
    if crate::sessions::service::is_recent_provider_login(state, session, since).await? {
        Ok(())
    } else {
        Err(ApiError::WrongPassword)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirmation {
    /// Required unless the session comes from a provider sign-in of the last 10 minutes.
    #[schema(value_type = Option<String>)]
    pub password: Option<Password>,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32 (no padding), for typing into an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
    /// The `otpauth_uri` as an SVG QR code.
    pub qr_svg: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(********)")
    }
}

/// Start a TOTP enrolment: a fresh secret, pending until a code confirms it.
pub async fn start_totp(
    state: &AppState,
    auth: &Authenticated,
    input: PasswordConfirmation,
    client: &ClientInfo,
) -> Result<TotpEnrolment, ApiError> {
    confirm_identity(state, auth, input.password.as_ref(), client).await?;
    let user = &auth.user;
    let secret = totp::new_secret();
    let generator = totp::generator(&secret, &state.config.product_name, &user.email)
        .ok_or_else(|| anyhow::anyhow!("TOTP generator refused its parameters"))?;
    let sealed = sealer(state).seal(&secret);
    if !store::put_pending_totp(&state.db, &user.id, &sealed, state.clock.now()).await? {
        return Err(ApiError::MfaAlreadyEnabled);
    }
    let otpauth_uri = totp::otpauth_uri(&generator);
    Ok(TotpEnrolment {
        secret: totp::base32(&generator),
        qr_svg: totp::qr_svg(&otpauth_uri),
        otpauth_uri,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    pub code: String,
}

impl std::fmt::Debug for CodeInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeInput(********)")
    }
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown only here.
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodes(********)")
    }
}

/// Check `code` against the user's TOTP secret (pending or in force) and claim its time step.
async fn check_totp(
    conn: &mut Conn,
    state: &AppState,
    user: &User,
    row: &store::TotpRow,
    code: &str,
) -> Result<bool, ApiError> {
    let Some(secret) = sealer(state).open(&row.secret_sealed) else {
        return Err(anyhow::anyhow!("a TOTP secret does not open under this server key").into());
    };
    let Some(generator) = totp::generator(&secret, &state.config.product_name, &user.email) else {
        return Ok(false);
    };
    let Some(step) = totp::matching_step(&generator, code, state.clock.now()) else {
        return Ok(false);
    };
    Ok(store::claim_step(&mut *conn, &user.id, step, row.enabled_at.is_none()).await?)
}

/// Confirm the pending secret with a code: TOTP is in force, every other session ends, and
/// the first set of recovery codes is shown.
pub async fn confirm_totp(
    state: &AppState,
    auth: &Authenticated,
    input: CodeInput,
    client: &ClientInfo,
) -> Result<RecoveryCodes, ApiError> {
    let user = &auth.user;
    let now = state.clock.now();
    let row = store::totp(&state.db, &user.id)
        .await?
        .filter(|t| t.enabled_at.is_none() && now < t.created_at + PENDING_TTL)
        .ok_or(ApiError::InvalidToken)?;
    let mut tx = state.db.begin().await?;
    if !check_totp(&mut tx, state, user, &row, &input.code).await? {
        return Err(ApiError::InvalidCode);
    }
    if !store::enable_totp(&mut tx, &user.id, now).await? {
        return Err(ApiError::InvalidToken);
    }
    let codes = new_recovery_codes(&mut tx, state, &user.id).await?;
    audit::record(
        &mut tx,
        now,
        AuditEvent::by_user(audit::Event::MfaEnabled, &user.id, client),
    )
    .await?;
    let revoked = AuditEvent::by_user(audit::Event::SessionRevoked, &user.id, client);
    crate::sessions::service::revoke_all_but(&mut tx, state, &user.id, auth.session_id(), revoked)
        .await?;
    notify(&mut tx, state, user, SignInChange::TotpEnabled, "").await?;
    tx.commit().await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

async fn new_recovery_codes(
    conn: &mut Conn,
    state: &AppState,
    user_id: &str,
) -> Result<Vec<String>, ApiError> {
    let codes = recovery_codes::new_set();
    let hashes = codes
        .iter()
        .filter_map(|c| recovery_codes::normalize(c))
        .map(|c| recovery_codes::hash(state, &c))
        .collect::<Vec<_>>();
    store::replace_recovery_codes(&mut *conn, user_id, &hashes).await?;
    Ok(codes)
}

async fn notify(
    conn: &mut Conn,
    state: &AppState,
    user: &User,
    change: SignInChange,
    detail: &str,
) -> Result<(), ApiError> {
    let link = mail::link(state, "/account/security");
    let notice = Template::SignInChanged {
        change,
        detail,
        link: &link,
    };
    mail::enqueue(conn, state, &user.email, &notice, user.lang()).await?;
    Ok(())
}

/// Check a second-step code: a TOTP code (its step claimed) or an unused recovery code (used
/// up). Runs in the caller's transaction; false for anything else.
pub async fn check_code(
    conn: &mut Conn,
    state: &AppState,
    user: &User,
    code: &str,
) -> Result<bool, ApiError> {
    let Some(row) = store::totp(&state.db, &user.id)
        .await?
        .filter(|t| t.enabled_at.is_some())
    else {
        return Ok(false);
    };
    if code.len() > 64 {
        return Ok(false);
    }
    if let Some(recovery) = recovery_codes::normalize(code) {
        let hash = recovery_codes::hash(state, &recovery);
        return Ok(store::use_recovery_code(&mut *conn, &user.id, &hash, state.clock.now()).await?);
    }
    check_totp(conn, state, user, &row, code).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotp {
    /// Required unless the session comes from a provider sign-in of the last 10 minutes.
    #[schema(value_type = Option<String>)]
    pub password: Option<Password>,
    /// A TOTP code or a recovery code.
    pub code: String,
}

impl std::fmt::Debug for DisableTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DisableTotp(********)")
    }
}

/// Turn TOTP off (with its recovery codes): the password and a current code confirm it.
pub async fn disable_totp(
    state: &AppState,
    auth: &Authenticated,
    input: DisableTotp,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    confirm_identity(state, auth, input.password.as_ref(), client).await?;
    let user = &auth.user;
    let mut tx = state.db.begin().await?;
    if !check_code(&mut tx, state, user, &input.code).await? {
        return Err(ApiError::InvalidCode);
    }
    store::delete_totp(&mut tx, &user.id).await?;
    let now = state.clock.now();
    audit::record(
        &mut tx,
        now,
        AuditEvent::by_user(audit::Event::MfaDisabled, &user.id, client),
    )
    .await?;
    notify(&mut tx, state, user, SignInChange::TotpDisabled, "").await?;
    tx.commit().await?;
    Ok(())
}

/// A new set of recovery codes; the previous set stops working.
pub async fn renew_recovery_codes(
    state: &AppState,
    auth: &Authenticated,
    input: PasswordConfirmation,
    client: &ClientInfo,
) -> Result<RecoveryCodes, ApiError> {
    confirm_identity(state, auth, input.password.as_ref(), client).await?;
    let user = &auth.user;
    let enabled = store::totp(&state.db, &user.id)
        .await?
        .is_some_and(|t| t.enabled_at.is_some());
    if !enabled {
        return Err(ApiError::MfaNotEnabled);
    }
    let mut tx = state.db.begin().await?;
    let codes = new_recovery_codes(&mut tx, state, &user.id).await?;
    let event = AuditEvent::by_user(audit::Event::MfaRecoveryCodesRenewed, &user.id, client);
    audit::record(&mut tx, state.clock.now(), event).await?;
    notify(&mut tx, state, user, SignInChange::RecoveryCodesRenewed, "").await?;
    tx.commit().await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyOptions {
    /// Single use, 5 minutes.
    pub challenge_id: String,
    /// What `navigator.credentials.create()` / `.get()` take: `{"publicKey": {…}}`, binary
    /// fields base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// Options to add a passkey; the password (or a recent provider sign-in) confirms it.
pub async fn passkey_options(
    state: &AppState,
    auth: &Authenticated,
    input: PasswordConfirmation,
    client: &ClientInfo,
) -> Result<CeremonyOptions, ApiError> {
    passkeys::relying_party(state)?;
    confirm_identity(state, auth, input.password.as_ref(), client).await?;
    let (challenge_id, options) = passkeys::start_registration(state, &auth.user).await?;
    Ok(CeremonyOptions {
        challenge_id,
        options,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasskeyInput {
    pub challenge_id: String,
    #[schema(max_length = 100)]
    pub name: String,
    /// The browser's `PublicKeyCredential` as JSON (its `toJSON()` form).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

fn passkey_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_PASSKEY_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::field("name", crate::error::FieldProblem::Invalid));
    }
    Ok(name.to_string())
}

/// Register the passkey the browser made for [`passkey_options`].
pub async fn add_passkey(
    state: &AppState,
    auth: &Authenticated,
    input: NewPasskeyInput,
    client: &ClientInfo,
) -> Result<PasskeyView, ApiError> {
    let name = passkey_name(&input.name)?;
    let user = &auth.user;
    let (passkey, credential_id) =
        passkeys::finish_registration(state, user, &input.challenge_id, input.credential).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = state.clock.now();
    let credential = serde_json::to_string(&passkey).map_err(anyhow::Error::from)?;
    let mut tx = state.db.begin().await?;
    let inserted = store::insert_passkey(
        &mut tx,
        store::NewPasskey {
            id: &id,
            user_id: &user.id,
            credential_id: &credential_id,
            name: &name,
            credential: &credential,
            sign_count: 0,
            now,
        },
    )
    .await;
    match inserted {
        // The credential is someone's already (or this user's): never registered twice.
        Err(e) if crate::db::is_unique_violation(&e) => return Err(ApiError::InvalidCredential),
        other => other?,
    }
    let event = AuditEvent::by_user(audit::Event::PasskeyAdded, &user.id, client)
        .detail(serde_json::json!({"passkey_id": id}));
    audit::record(&mut tx, now, event).await?;
    notify(&mut tx, state, user, SignInChange::PasskeyAdded, &name).await?;
    tx.commit().await?;
    Ok(PasskeyView {
        id,
        name,
        created_at: rfc3339(now),
        last_used_at: None,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenamePasskey {
    #[schema(max_length = 100)]
    pub name: String,
}

pub async fn rename_passkey(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    input: RenamePasskey,
) -> Result<PasskeyView, ApiError> {
    let name = passkey_name(&input.name)?;
    if !store::rename_passkey(&state.db, &auth.user.id, id, &name).await? {
        return Err(ApiError::NotFound);
    }
    store::passkeys(&state.db, &auth.user.id)
        .await?
        .iter()
        .find(|p| p.id == id)
        .map(PasskeyView::from)
        .ok_or(ApiError::NotFound)
}

/// Remove one of the caller's passkeys; another user's is simply not found.
pub async fn remove_passkey(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let user = &auth.user;
    let mut tx = state.db.begin().await?;
    let Some(name) = store::delete_passkey(&mut tx, &user.id, id).await? else {
        return Err(ApiError::NotFound);
    };
    let event = AuditEvent::by_user(audit::Event::PasskeyRemoved, &user.id, client)
        .detail(serde_json::json!({"passkey_id": id}));
    audit::record(&mut tx, state.clock.now(), event).await?;
    notify(&mut tx, state, user, SignInChange::PasskeyRemoved, &name).await?;
    tx.commit().await?;
    Ok(())
}

/// An administrator (or the operator's CLI) removes every second factor of user `id` (a lost
/// device); audited and mailed.
pub async fn admin_reset(
    state: &AppState,
    admin: &crate::admin::Admin,
    id: &str,
    client: Option<&ClientInfo>,
) -> Result<(), ApiError> {
    let user = crate::accounts::store::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let totp = store::delete_totp(&mut tx, &user.id).await?;
    let passkeys = store::delete_passkeys(&mut tx, &user.id).await?;
    let event = AuditEvent {
        event: audit::Event::AdminMfaReset,
        actor_user_id: admin.user_id(),
        subject_user_id: Some(&user.id),
        tenant_id: None,
        client,
        detail: serde_json::json!({"totp": totp > 0, "passkeys": passkeys}),
    };
    audit::record(&mut tx, state.clock.now(), event).await?;
    notify(&mut tx, state, &user, SignInChange::MfaReset, "").await?;
    tx.commit().await?;
    Ok(())
}

/// Passkey sign-in options are free to ask for, so each IP may ask this many per window.
const OPTIONS_PER_IP: i64 = 100;
const OPTIONS_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Options for a usernameless passkey sign-in (per-IP limited: each keeps state for 5 minutes).
pub async fn sign_in_options(
    state: &AppState,
    client: &ClientInfo,
) -> Result<CeremonyOptions, ApiError> {
    passkeys::relying_party(state)?;
    crate::codes::ip_limit(
        state,
        "passkey-options",
        client.ip,
        OPTIONS_PER_IP,
        OPTIONS_WINDOW,
    )
    .await?;
    let (challenge_id, options) = passkeys::start_sign_in(state).await?;
    Ok(CeremonyOptions {
        challenge_id,
        options,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignIn {
    pub challenge_id: String,
    /// The browser's `PublicKeyCredential` as JSON (its `toJSON()` form).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Sign in with a passkey alone: user verification makes it a complete sign-in, which also
/// resets the account's count of failed sign-ins.
pub async fn sign_in_with_passkey(
    state: &AppState,
    input: PasskeySignIn,
    client: &ClientInfo,
) -> Result<(User, crate::sessions::NewSession), ApiError> {
    let row = passkeys::finish_sign_in(state, &input.challenge_id, input.credential).await?;
    let mut user = crate::accounts::store::find_by_id(&state.db, &row.user_id)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    if !user.is_active {
        return Err(ApiError::AccountDisabled);
    }
    crate::accounts::service::forget_login_failures(state, &user.email_normalized).await?;
    let session = crate::accounts::service::sign_in(state, &mut user, client, "passkey").await?;
    Ok((user, session))
}

/// `[mfa] required_for`: a covered caller without a second factor may only enrol, sign out and
/// read themself (403 `mfa_enrolment_required` elsewhere, for sessions and API keys alike).
pub async fn gate(
    state: &AppState,
    auth: &Authenticated,
    method: &axum::http::Method,
    path: &str,
) -> Result<(), ApiError> {
    if !required_for(state, &auth.user) {
        return Ok(());
    }
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let open = path == "/auth/logout"
        || (path == "/users/me" && method == axum::http::Method::GET)
        || path == "/users/me/mfa"
        || path.starts_with("/users/me/mfa/")
        || path == "/users/me/passkeys"
        || path.starts_with("/users/me/passkeys/");
    if open || !enrolment_due(state, &auth.user).await? {
        return Ok(());
    }
    Err(ApiError::MfaEnrolmentRequired)
}
