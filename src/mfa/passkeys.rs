//! WebAuthn ceremonies through `webauthn-rs`'s passkey API: registration (a discoverable
//! credential with user verification), usernameless sign-in, and a passkey as the second step.
//! Each ceremony's state waits in the shared short-lived store under a single-use challenge id,
//! so any instance can finish what another began.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnBuilder,
};

use super::store::{self, PasskeyRow};
use crate::accounts::User;
use crate::error::ApiError;
use crate::state::AppState;

/// A challenge lives 5 minutes.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);

/// The relying party of this deployment; `passkeys_unavailable` when it would be an IP address.
pub fn relying_party(state: &AppState) -> Result<Webauthn, ApiError> {
    let config = &state.config.webauthn;
    let rp_id = config
        .rp_id(&state.public_base_url)
        .ok_or(ApiError::PasskeysUnavailable)?;
    let origins = config.origins(&state.public_base_url);
    let Some((first, rest)) = origins.split_first() else {
        return Err(ApiError::PasskeysUnavailable);
    };
    let rp_name = config
        .rp_name
        .clone()
        .unwrap_or_else(|| state.config.product_name.clone());
    let mut builder = WebauthnBuilder::new(&rp_id, first)
        .map_err(|_| ApiError::PasskeysUnavailable)?
        .rp_name(&rp_name)
        .timeout(CHALLENGE_TTL);
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(|_| ApiError::PasskeysUnavailable)
}

/// Whether passkeys can work here (the pages hide them otherwise).
pub fn available(state: &AppState) -> bool {
    relying_party(state).is_ok()
}

/// Where a ceremony waits. The key names the only party that may finish it (the user, or the
/// second step's token), so a challenge id alone cannot take another's ceremony.
fn ceremony_key(scope: &str, challenge_id: &str) -> Option<String> {
    let ok = !challenge_id.is_empty()
        && challenge_id.len() <= 64
        && challenge_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| format!("passkey:{scope}:{challenge_id}"))
}

async fn keep<T: Serialize>(
    state: &AppState,
    scope: &str,
    ceremony: &T,
) -> Result<String, ApiError> {
    let challenge_id = crate::tokens::new_token("");
    let key = ceremony_key(scope, &challenge_id).ok_or(ApiError::InvalidCredential)?;
    let value = serde_json::to_string(ceremony).map_err(anyhow::Error::from)?;
    state.kv.set_ex(&key, &value, CHALLENGE_TTL).await?;
    Ok(challenge_id)
}

/// Take (once) the ceremony kept under `challenge_id`; unknown, used or expired ids are
/// `invalid_credential`.
async fn take<T: for<'de> Deserialize<'de>>(
    state: &AppState,
    scope: &str,
    challenge_id: &str,
) -> Result<T, ApiError> {
    let key = ceremony_key(scope, challenge_id).ok_or(ApiError::InvalidCredential)?;
    let value = state
        .kv
        .take(&key)
        .await?
        .ok_or(ApiError::InvalidCredential)?;
    serde_json::from_str(&value).map_err(|_| ApiError::InvalidCredential)
}

fn options_json<T: Serialize>(options: &T) -> Result<Value, ApiError> {
    let mut value = serde_json::to_value(options).map_err(anyhow::Error::from)?;
    if let Some(map) = value.as_object_mut() {
        // The page chooses the mediation (a button or autofill); the options are the same.
        map.remove("mediation");
    }
    Ok(value)
}

pub fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn user_handle(user: &User) -> Result<Uuid, ApiError> {
    Uuid::parse_str(&user.id).map_err(|_| ApiError::PasskeysUnavailable)
}

fn parse<T: for<'de> Deserialize<'de>>(credential: Value) -> Result<T, ApiError> {
    serde_json::from_value(credential).map_err(|_| ApiError::InvalidCredential)
}

/// Options for `navigator.credentials.create()`: a discoverable credential with user
/// verification, none of the user's existing passkeys again.
pub async fn start_registration(
    state: &AppState,
    user: &User,
) -> Result<(String, Value), ApiError> {
    let rp = relying_party(state)?;
    let existing = store::passkeys(&state.db, &user.id).await?;
    let exclude = existing
        .iter()
        .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
        .collect::<Vec<_>>();
    let (options, registration) = rp
        .start_passkey_registration(
            user_handle(user)?,
            &user.email,
            &user.nickname,
            Some(exclude),
        )
        .map_err(|e| anyhow::anyhow!("passkey registration options: {e}"))?;
    let mut options = options_json(&options)?;
    // A passkey must be discoverable (usernameless sign-in); webauthn-rs only prefers it.
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
        selection.insert("userVerification".into(), "required".into());
    }
    let challenge_id = keep(state, &format!("reg:{}", user.id), &registration).await?;
    Ok((challenge_id, options))
}

/// Check the browser's answer to [`start_registration`]; the new passkey and its id text.
pub async fn finish_registration(
    state: &AppState,
    user: &User,
    challenge_id: &str,
    credential: Value,
) -> Result<(Passkey, String), ApiError> {
    let rp = relying_party(state)?;
    let registration: PasskeyRegistration =
        take(state, &format!("reg:{}", user.id), challenge_id).await?;
    let credential: RegisterPublicKeyCredential = parse(credential)?;
    let passkey = rp
        .finish_passkey_registration(&credential, &registration)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            ApiError::InvalidCredential
        })?;
    let id = credential_id_text(passkey.cred_id());
    Ok((passkey, id))
}

/// Options for a usernameless `navigator.credentials.get()`.
pub async fn start_sign_in(state: &AppState) -> Result<(String, Value), ApiError> {
    let rp = relying_party(state)?;
    let (options, auth) = rp
        .start_discoverable_authentication()
        .map_err(|e| anyhow::anyhow!("passkey sign-in options: {e}"))?;
    let challenge_id = keep(state, "login", &auth).await?;
    Ok((challenge_id, options_json(&options)?))
}

/// Check a usernameless answer: the passkey must be registered, to the user its handle names.
/// Every refusal is `invalid_credentials` (nothing tells which part was wrong).
pub async fn finish_sign_in(
    state: &AppState,
    challenge_id: &str,
    credential: Value,
) -> Result<PasskeyRow, ApiError> {
    let rp = relying_party(state)?;
    let refused = |_| ApiError::InvalidCredentials;
    let auth: DiscoverableAuthentication =
        take(state, "login", challenge_id).await.map_err(refused)?;
    let credential: PublicKeyCredential = parse(credential).map_err(refused)?;
    let (user_id, credential_id) = rp
        .identify_discoverable_authentication(&credential)
        .map_err(|_| ApiError::InvalidCredentials)?;
    let row = store::passkey_by_credential_id(&state.db, &credential_id_text(credential_id))
        .await?
        .filter(|row| Uuid::parse_str(&row.user_id).ok() == Some(user_id))
        .ok_or(ApiError::InvalidCredentials)?;
    let passkey: Passkey = serde_json::from_str(&row.credential).map_err(anyhow::Error::from)?;
    let result = rp
        .finish_discoverable_authentication_v2(&credential, auth, &passkey)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey sign-in refused");
            ApiError::InvalidCredentials
        })?;
    record_use(state, row, passkey, &result, ApiError::InvalidCredentials).await
}

/// Options to answer the second step with one of `user_id`'s passkeys; the ceremony belongs to
/// the second step's token (`scope`).
pub async fn start_second_step(
    state: &AppState,
    user_id: &str,
    scope: &str,
) -> Result<(String, Value), ApiError> {
    let rp = relying_party(state)?;
    let passkeys = store::passkeys(&state.db, user_id)
        .await?
        .iter()
        .filter_map(|row| serde_json::from_str::<Passkey>(&row.credential).ok())
        .collect::<Vec<_>>();
    if passkeys.is_empty() {
        return Err(ApiError::InvalidToken);
    }
    let (options, auth) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(|e| anyhow::anyhow!("passkey options: {e}"))?;
    let challenge_id = keep(state, &format!("mfa:{scope}"), &auth).await?;
    Ok((challenge_id, options_json(&options)?))
}

/// Check a second-step answer; `invalid_credential` when it does not verify.
pub async fn finish_second_step(
    state: &AppState,
    user_id: &str,
    scope: &str,
    challenge_id: &str,
    credential: Value,
) -> Result<PasskeyRow, ApiError> {
    let rp = relying_party(state)?;
    let auth: PasskeyAuthentication = take(state, &format!("mfa:{scope}"), challenge_id).await?;
    let credential: PublicKeyCredential = parse(credential)?;
    let result = rp
        .finish_passkey_authentication(&credential, &auth)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey second step refused");
            ApiError::InvalidCredential
        })?;
    let row = store::passkey_by_credential_id(&state.db, &credential_id_text(result.cred_id()))
        .await?
        .filter(|row| row.user_id == user_id)
        .ok_or(ApiError::InvalidCredential)?;
    let passkey: Passkey = serde_json::from_str(&row.credential).map_err(anyhow::Error::from)?;
    record_use(state, row, passkey, &result, ApiError::InvalidCredential).await
}

/// Store the passkey's new counter; a concurrent use of the same counter value loses.
async fn record_use(
    state: &AppState,
    row: PasskeyRow,
    mut passkey: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    refused: ApiError,
) -> Result<PasskeyRow, ApiError> {
    passkey.update_credential(result);
    let credential = serde_json::to_string(&passkey).map_err(anyhow::Error::from)?;
    let stored = store::record_passkey_use(
        &state.db,
        &row.id,
        row.sign_count,
        &credential,
        i64::from(result.counter()),
        state.clock.now(),
    )
    .await?;
    if !stored {
        return Err(refused);
    }
    Ok(row)
}
