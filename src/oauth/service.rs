//! Sign-in rules for provider channels: start a flow, finish it (sign in, link, or register),
//! and the user's list of linked identities.

use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

use super::channels::{Channel, Profile};
use super::flow::{self, Door, Failure, Pending};
use super::store::{self, Identity, NewIdentity};
use crate::accounts::User;
use crate::accounts::service::{NewAccount, insert_account, sign_in};
use crate::accounts::store as users;
use crate::audit::{self, AuditEvent};
use crate::clock::rfc3339;
use crate::db::is_unique_violation;
use crate::domain::{Email, Nickname};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::http::inputs::Avatar;
use crate::i18n::Lang;
use crate::sessions::{self, Authenticated, NewSession};
use crate::state::AppState;

/// A channel as the sign-in page lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    pub icon: Option<String>,
    /// `oidc`, `oauth2` or `github`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Every configured channel.
pub fn providers(state: &AppState) -> Vec<ProviderInfo> {
    state
        .settings
        .providers
        .keys()
        .filter_map(|id| Channel::find(state, id))
        .map(|c| ProviderInfo {
            id: c.id.to_string(),
            name: c.name(),
            icon: c.provider.icon.clone(),
            kind: c.kind.as_str(),
        })
        .collect()
}

/// Where the browser goes next (the provider), and the binding cookie's value.
pub struct Started {
    pub location: String,
    pub binding: String,
}

/// Start a sign-in at `provider_id` through `door`. `state`, PKCE verifier and nonce stay
/// server-side, bound to the browser by a cookie. A failure (an unknown channel, a provider that
/// cannot be reached) is for the door to word: each answers the browser its own way. Linking to
/// a signed-in user starts at [`start_link`] only, after the user confirmed it on a page.
pub async fn authorize(
    state: &AppState,
    provider_id: &str,
    return_to: Option<&str>,
    headers: &HeaderMap,
    door: Door,
) -> Result<Started, Failure> {
    start(state, provider_id, return_to, headers, door, None).await
}

/// Start linking `provider_id` to the signed-in `auth` user, once they confirmed it on the
/// link page's CSRF-checked form. A failure sends the browser back to the account page.
pub async fn start_link(
    state: &AppState,
    auth: &Authenticated,
    provider_id: &str,
    return_to: Option<&str>,
    headers: &HeaderMap,
) -> Result<Started, Failure> {
    let user_id = Some(auth.user.id.clone());
    start(
        state,
        provider_id,
        return_to,
        headers,
        Door::Native,
        user_id,
    )
    .await
    .map_err(|f| match f {
        Failure::UnknownChannel => f,
        other => Failure::WhileLinking(Box::new(other)),
    })
}

/// Where a native start goes first when the browser is signed in: the link confirmation page
/// (`/account/link?provider=ID`). A GET any site can trigger must not start a link by itself
/// (login CSRF: an attacker's provider account planted on the victim's). `None`: not signed in
/// by a session, or no such channel — the start goes on as a sign-in.
pub async fn link_confirmation(
    state: &AppState,
    provider_id: &str,
    return_to: Option<&str>,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    if Channel::find(state, provider_id).is_none() || !signed_in(state, headers).await? {
        return Ok(None);
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("provider", provider_id);
    if let Some(to) = return_to {
        query.append_pair("return_to", to);
    }
    Ok(Some(format!("/account/link?{}", query.finish())))
}

async fn start(
    state: &AppState,
    provider_id: &str,
    return_to: Option<&str>,
    headers: &HeaderMap,
    door: Door,
    link_user_id: Option<String>,
) -> Result<Started, Failure> {
    let channel = Channel::find(state, provider_id).ok_or(Failure::UnknownChannel)?;
    let redirect_uri = match &door {
        Door::Native => channel.native_callback(state),
        Door::Profile { callback } => callback.clone(),
    };
    let started = channel.authorization(&redirect_uri).await?;
    let binding = flow::binding_value(headers);
    let pending = Pending {
        provider: channel.id.to_string(),
        binding: crate::tokens::sha256_hex(&binding),
        pkce_verifier: started.pkce_verifier,
        nonce: started.nonce,
        return_to: crate::http::safe_return_to(return_to),
        link_user_id,
        door,
    };
    flow::save(state, &started.csrf_state, &pending).await?;
    Ok(Started {
        location: started.url,
        binding,
    })
}

/// Count and log a sign-in that did not happen; the cause is logged, never a token or code.
pub fn record_failure(state: &AppState, provider_id: &str, failure: &Failure) {
    let channel = if state.config.providers.contains_key(provider_id) {
        provider_id.to_string()
    } else {
        "unknown".to_string()
    };
    metrics::counter!("gatehouse_logins_total", "channel" => channel.clone(), "result" => "failed")
        .increment(1);
    let cause = match failure {
        Failure::WhileLinking(inner) => inner,
        other => other,
    };
    match cause {
        Failure::Internal(e) => {
            tracing::error!(provider = channel, error = %format!("{e:#}"), "provider sign-in failed")
        }
        other => tracing::info!(
            provider = channel,
            code = other.code(),
            "provider sign-in refused"
        ),
    }
}

/// True when the request carries a live session (API keys do not link identities).
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some((token, _)) = crate::http::extractors::credential(headers, &state.session_cookie())
    else {
        return Ok(false);
    };
    Ok(sessions::service::authenticate(state, &token)
        .await?
        .is_some_and(|a| a.session_id().is_some()))
}

/// The provider's answer, as it reached the callback.
#[derive(Debug, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
    pub binding: Option<String>,
}

impl Callback {
    /// The answer from the callback's query string and the browser's binding cookie.
    pub fn read(query: Option<&str>, headers: &HeaderMap) -> Self {
        let param = |name| super::routes::param(query, name);
        Self {
            state: param("state"),
            code: param("code"),
            error: param("error"),
            iss: param("iss"),
            binding: flow::binding_from(headers),
        }
    }
}

/// How a callback ended well.
pub enum Finished {
    SignedIn {
        session: NewSession,
        return_to: String,
    },
    Linked {
        return_to: String,
    },
    /// The account has a second factor: the sign-in finishes at `/login/mfa` with this token.
    SecondStep {
        mfa_token: String,
    },
}

/// Finish a sign-in: check the flow (taken once), exchange the code, verify who signed in, then
/// sign in a known identity, link a verified email, or register a new account. Only the door
/// that started a flow may finish it.
pub async fn callback(
    state: &AppState,
    provider_id: &str,
    answer: Callback,
    client: &ClientInfo,
    lang: Lang,
    door: &Door,
) -> Result<Finished, Failure> {
    let channel = Channel::find(state, provider_id).ok_or(Failure::InvalidState)?;
    let csrf_state = answer.state.as_deref().unwrap_or_default();
    let pending = flow::take(state, csrf_state)
        .await?
        .ok_or(Failure::InvalidState)?;
    if pending.provider != channel.id
        || pending.door != *door
        || !pending.bound_to(answer.binding.as_deref())
    {
        return Err(Failure::InvalidState);
    }
    let linking = pending.link_user_id.is_some();
    finish(state, &channel, answer, pending, client, lang)
        .await
        .map_err(|f| {
            if linking {
                Failure::WhileLinking(Box::new(f))
            } else {
                f
            }
        })
}

/// The rest of [`callback`] once the flow is known to be this browser's.
async fn finish(
    state: &AppState,
    channel: &Channel<'_>,
    answer: Callback,
    pending: Pending,
    client: &ClientInfo,
    lang: Lang,
) -> Result<Finished, Failure> {
    if answer.error.is_some() {
        return Err(Failure::ProviderError);
    }
    if let (Some(iss), Some(expected)) = (&answer.iss, channel.provider.issuer())
        && iss.trim_end_matches('/') != expected.trim_end_matches('/')
    {
        // RFC 9207: the answer came from another provider than the one this flow went to.
        return Err(Failure::InvalidState);
    }
    let code = answer
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(Failure::MissingCode)?;
    let redirect_uri = match &pending.door {
        Door::Native => channel.native_callback(state),
        Door::Profile { callback } => callback.clone(),
    };
    let profile = channel
        .profile(
            &redirect_uri,
            code,
            &pending.pkce_verifier,
            pending.nonce.as_deref(),
        )
        .await?;
    if profile.subject.is_empty() || profile.subject.len() > 255 {
        return Err(Failure::ProviderError);
    }
    let return_to = pending.return_to;
    if let Some(user_id) = pending.link_user_id {
        link_to_signed_in(state, channel, &user_id, &profile, client).await?;
        return Ok(Finished::Linked { return_to });
    }
    let mut user = resolve(state, channel, &profile, client, lang).await?;
    // RAGFlow's clients cannot answer a second step; their provider channel is the way the
    // profile offers to accounts with one.
    if matches!(pending.door, Door::Native)
        && let Some(step) =
            crate::mfa::login::begin_if_due(state, &user, channel.id, &["fed"], Some(&return_to))
                .await?
    {
        return Ok(Finished::SecondStep {
            mfa_token: step.mfa_token,
        });
    }
    let session = sign_in(state, &mut user, client, channel.id).await?;
    // `[mfa] required_for` sends a covered user without a second factor to enrol first.
    let return_to = if crate::mfa::service::enrolment_due(state, &user).await? {
        "/account/security?enrol=1".to_string()
    } else {
        return_to
    };
    Ok(Finished::SignedIn { session, return_to })
}

/// Attach the identity to the user who started the flow signed in.
async fn link_to_signed_in(
    state: &AppState,
    channel: &Channel<'_>,
    user_id: &str,
    profile: &Profile,
    client: &ClientInfo,
) -> Result<(), Failure> {
    let user = users::find_by_id(&state.db, user_id)
        .await?
        .ok_or(Failure::InvalidState)?;
    if !user.is_active {
        return Err(Failure::AccountDisabled);
    }
    match store::find(&state.db, channel.id, &profile.subject).await? {
        Some(i) if i.user_id == user.id => Ok(()),
        Some(_) => Err(Failure::IdentityTaken),
        None => {
            let mut tx = state.db.begin().await?;
            match link(
                &mut tx,
                state,
                channel,
                &user.id,
                Some(&user),
                profile,
                client,
                "signed_in",
            )
            .await
            {
                Err(Failure::Internal(e)) if is_unique(&e) => Err(Failure::IdentityTaken),
                other => other,
            }?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// The account this profile signs in to: its identity's owner, the owner of its verified email
/// (linked now), or a new account. Retries once when a concurrent callback won a unique index.
async fn resolve(
    state: &AppState,
    channel: &Channel<'_>,
    profile: &Profile,
    client: &ClientInfo,
    lang: Lang,
) -> Result<User, Failure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_resolve(state, channel, profile, client, lang).await {
            Err(Failure::Internal(e)) if attempt < 2 && is_unique(&e) => continue,
            Err(Failure::Internal(e)) if attempt < 2 && e.downcast_ref::<EmailRace>().is_some() => {
                continue;
            }
            other => return other,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the email was registered concurrently")]
struct EmailRace;

fn is_unique(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sqlx::Error>()
        .is_some_and(is_unique_violation)
}

async fn try_resolve(
    state: &AppState,
    channel: &Channel<'_>,
    profile: &Profile,
    client: &ClientInfo,
    lang: Lang,
) -> Result<User, Failure> {
    let verification_required = state.config.email_verification_required;
    if let Some(identity) = store::find(&state.db, channel.id, &profile.subject).await? {
        let user = users::find_by_id(&state.db, &identity.user_id)
            .await?
            .ok_or(Failure::InvalidState)?;
        if !user.is_active {
            return Err(Failure::AccountDisabled);
        }
        if verification_required && !user.email_verified {
            return Err(Failure::EmailUnverified);
        }
        if identity.email != profile.email {
            store::set_email(&state.db, &identity.id, profile.email.as_deref()).await?;
        }
        return Ok(user);
    }
    let email = profile
        .email
        .as_deref()
        .and_then(Email::parse)
        .ok_or(Failure::EmailMissing)?;
    if let Some(user) = users::find_by_email(&state.db, &email.normalized).await? {
        // Only an address the provider vouches for may take over an existing account.
        if !profile.email_verified {
            return Err(Failure::EmailUnverified);
        }
        if !user.is_active {
            return Err(Failure::AccountDisabled);
        }
        let mut tx = state.db.begin().await?;
        if !user.email_verified {
            claim_unverified(&mut tx, state, &user, channel, client).await?;
        }
        let owner = Some(&user);
        link(
            &mut tx, state, channel, &user.id, owner, profile, client, "email",
        )
        .await?;
        tx.commit().await?;
        return users::find_by_id(&state.db, &user.id)
            .await?
            .ok_or(Failure::InvalidState);
    }
    if !state.config.registration_enabled || !channel.provider.allow_registration {
        return Err(Failure::RegistrationDisabled);
    }
    if verification_required && !profile.email_verified {
        return Err(Failure::EmailUnverified);
    }
    let nickname = nickname_for(profile, &email);
    let account = NewAccount {
        email: &email,
        nickname: &nickname,
        password_hash: None,
        language: lang,
        timezone: "UTC",
        email_verified: profile.email_verified,
        is_superuser: false,
        channel: channel.id,
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let id = match insert_account(&mut tx, &account, Some(client), now).await {
        Err(ApiError::EmailTaken) => return Err(Failure::Internal(EmailRace.into())),
        other => other?,
    };
    link(
        &mut tx,
        state,
        channel,
        &id,
        None,
        profile,
        client,
        "registration",
    )
    .await?;
    if let Some(avatar) = profile.picture.as_deref().and_then(Avatar::parse) {
        store::set_avatar(&mut tx, &id, &avatar.0).await?;
    }
    tx.commit().await?;
    users::find_by_id(&state.db, &id)
        .await?
        .ok_or(Failure::InvalidState)
}

/// Insert the identity with its `identity.linked` event, in the caller's transaction. The owner
/// of an existing account (`notify`) is mailed: a new way into their account is news to them.
#[allow(clippy::too_many_arguments)] // the flow's pieces, each needed once
async fn link(
    conn: &mut crate::db::Conn,
    state: &AppState,
    channel: &Channel<'_>,
    user_id: &str,
    notify: Option<&User>,
    profile: &Profile,
    client: &ClientInfo,
    via: &str,
) -> Result<(), Failure> {
    let now = state.clock.now();
    let identity = NewIdentity {
        user_id,
        provider: channel.id,
        subject: &profile.subject,
        email: profile.email.as_deref(),
        now,
    };
    let id = store::insert(&mut *conn, &identity).await?;
    let event = AuditEvent::by_user(audit::Event::IdentityLinked, user_id, client)
        .detail(serde_json::json!({"provider": channel.id, "identity_id": id, "via": via}));
    audit::record(&mut *conn, now, event).await?;
    if let Some(owner) = notify {
        let link = crate::mail::link(state, "/account");
        let notice = crate::mail::Template::SignInChanged {
            change: crate::mail::SignInChange::IdentityLinked,
            detail: &channel.name(),
            link: &link,
        };
        crate::mail::enqueue(conn, state, &owner.email, &notice, owner.lang())
            .await
            .map_err(Failure::Internal)?;
    }
    Ok(())
}

/// The provider proved an address that the account never verified: whoever set the account's
/// password never proved it, so the password goes with everything made before the proof
/// (pre-hijacking).
async fn claim_unverified(
    conn: &mut crate::db::Conn,
    state: &AppState,
    user: &User,
    channel: &Channel<'_>,
    client: &ClientInfo,
) -> Result<(), Failure> {
    let now = state.clock.now();
    store::claim_unverified_account(&mut *conn, &user.id, now).await?;
    let event = AuditEvent::by_user(audit::Event::UserEmailVerified, &user.id, client)
        .detail(serde_json::json!({"provider": channel.id, "password_removed": user.password_hash.is_some()}));
    audit::record(&mut *conn, now, event).await?;
    crate::accounts::service::end_access_before_proof(conn, state, &user.id, client, true).await?;
    Ok(())
}

/// A valid nickname from what the provider tells: the name, the username, the address's local
/// part, or "user"; characters a nickname may not hold are dropped.
fn nickname_for(profile: &Profile, email: &Email) -> Nickname {
    let local = email.display.split('@').next().map(str::to_string);
    [profile.name.clone(), profile.username.clone(), local]
        .into_iter()
        .flatten()
        .find_map(|raw| {
            let cleaned: String = raw
                .chars()
                .map(|c| if c == '_' || c == '+' { ' ' } else { c })
                .filter(|c| c.is_alphanumeric() || " ._'-".contains(*c))
                .take(100)
                .collect();
            Nickname::parse(&cleaned.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| Nickname("user".into()))
}

/// A linked identity as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub id: String,
    /// The channel id from `[providers.<id>]`.
    pub provider: String,
    /// The user's id at the provider.
    pub subject: String,
    /// The address the provider last reported.
    pub email: Option<String>,
    pub created_at: String,
}

impl From<Identity> for IdentityView {
    fn from(i: Identity) -> Self {
        Self {
            id: i.id,
            provider: i.provider,
            subject: i.subject,
            email: i.email,
            created_at: rfc3339(i.created_at),
        }
    }
}

pub async fn identities(state: &AppState, user: &User) -> Result<Vec<IdentityView>, ApiError> {
    Ok(store::list_for_user(&state.db, &user.id)
        .await?
        .into_iter()
        .map(IdentityView::from)
        .collect())
}

/// Remove every identity of the user, in the caller's transaction; how many went.
pub async fn unlink_all(conn: &mut crate::db::Conn, user_id: &str) -> Result<u64, ApiError> {
    Ok(store::delete_all_for_user(&mut *conn, user_id).await?)
}

/// Unlink one of the caller's identities, unless the account would be left with no way to sign
/// in: no usable password and no other identity at a configured channel (409 `last_login_method`).
pub async fn unlink(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let user_id = auth.user.id.as_str();
    let mut tx = state.db.begin().await?;
    let password = store::lock_user_password(&mut tx, state.db.backend(), user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let all = store::list_for_user(&mut tx, user_id).await?;
    let target = all.iter().find(|i| i.id == id).ok_or(ApiError::NotFound)?;
    let has_password = password.is_some() && state.config.password_login_enabled;
    let others = all
        .iter()
        .filter(|i| i.id != id && state.config.providers.contains_key(&i.provider))
        .count();
    if !has_password && others == 0 {
        return Err(ApiError::LastLoginMethod);
    }
    store::delete(&mut tx, user_id, id).await?;
    let event = AuditEvent::by_user(audit::Event::IdentityUnlinked, user_id, client)
        .detail(serde_json::json!({"provider": target.provider, "identity_id": target.id}));
    audit::record(&mut tx, state.clock.now(), event).await?;
    tx.commit().await?;
    Ok(())
}
