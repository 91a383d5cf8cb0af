//! Tokens of the OpenID Provider: authorization codes (single use, in the short-lived store),
//! signed ID tokens and RFC 9068 access tokens, and refresh tokens rotated on every use with
//! reuse detection that revokes the whole family. Every token dies with the gatehouse session
//! it came from and with its user's account.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::OAuthError;
use super::keys::{self, SigningAlg};
use super::store::{self, ClientRow, NewRefresh};
use crate::accounts::User;
use crate::state::AppState;
use crate::tokens::{new_token, sha256_hex};

const REFRESH_PREFIX: &str = "ghr_";
const CODE_PREFIX: &str = "ghac_";
const ACCESS_TYP: &str = "at+jwt";

/// `amr` and `acr` of tokens from the session's record of how it was proven (`pwd`, `otp`,
/// `hwk`, `fed`): `acr` is "2" when a second factor or a passkey was part of it, else "1".
pub fn authentication_context(session_amr: &str) -> (Vec<String>, String) {
    let amr = crate::sessions::service::parse_amr(session_amr);
    let strong = amr.iter().any(|m| m == "otp" || m == "hwk");
    (amr, if strong { "2" } else { "1" }.to_string())
}

/// What a user (or a client on its own) was granted: carried by a code, a refresh token and
/// the access tokens made from them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// The client's row id.
    pub client: String,
    pub user_id: String,
    pub session_id: String,
    pub scope: Vec<String>,
    pub auth_time: i64,
    pub nonce: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CodeRecord {
    grant: Grant,
    redirect_uri: String,
    code_challenge: Option<String>,
    expires_at: i64,
}

fn code_key(code: &str) -> String {
    format!("oidc:code:{}", sha256_hex(code))
}

/// A single-use authorization code for `grant` (stored as its digest).
pub async fn new_code(
    state: &AppState,
    grant: Grant,
    redirect_uri: &str,
    code_challenge: Option<String>,
) -> Result<String, OAuthError> {
    let code = new_token(CODE_PREFIX);
    let ttl = state.config.oidc_provider.code_ttl;
    let record = CodeRecord {
        grant,
        redirect_uri: redirect_uri.to_string(),
        code_challenge,
        expires_at: state.clock.now() + ttl.secs(),
    };
    let value = serde_json::to_string(&record).map_err(OAuthError::internal)?;
    state
        .kv
        .set_ex(&code_key(&code), &value, ttl.0)
        .await
        .map_err(OAuthError::internal)?;
    Ok(code)
}

/// The token endpoint's answer (`Cache-Control: no-store`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Claims of an access token (RFC 9068).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

fn issuer(state: &AppState) -> String {
    state.public_base_url.trim_end_matches('/').to_string()
}

async fn sign(
    state: &AppState,
    alg: SigningAlg,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, OAuthError> {
    let key = keys::current(state, alg)
        .await
        .map_err(OAuthError::internal)?;
    let mut header = Header::new(alg.algorithm());
    header.kid = Some(key.kid.clone());
    header.typ = Some(typ.to_string());
    jsonwebtoken::encode(&header, claims, &key.key).map_err(OAuthError::internal)
}

/// The claims the granted scopes release about `user` (userinfo and the ID token).
pub async fn user_claims(
    state: &AppState,
    user: &User,
    scope: &[String],
) -> Result<Map<String, Value>, OAuthError> {
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    let has = |s: &str| scope.iter().any(|x| x == s);
    if has("email") {
        out.insert("email".into(), json!(user.email));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    if has("profile") {
        out.insert("name".into(), json!(user.nickname));
        // A data: URI is no URL an app can fetch; only web addresses are offered as `picture`.
        if let Some(avatar) = user.avatar.as_deref().filter(|a| a.starts_with("https://")) {
            out.insert("picture".into(), json!(avatar));
        }
        out.insert("locale".into(), json!(user.language));
        out.insert("zoneinfo".into(), json!(user.timezone));
        out.insert("updated_at".into(), json!(user.updated_at.unix()));
    }
    if has("groups") {
        let groups = store::groups(&state.db, &user.id)
            .await
            .map_err(OAuthError::internal)?;
        out.insert("groups".into(), json!(groups));
    }
    Ok(out)
}

async fn load_user(state: &AppState, id: &str) -> Result<Option<User>, OAuthError> {
    crate::accounts::store::find_by_id(&state.db, id)
        .await
        .map_err(OAuthError::internal)
}

/// Access token, ID token (with `openid`) and a refresh token (with `offline_access`) for a
/// user's grant. `family` continues a refresh token family.
async fn issue_for_user(
    state: &AppState,
    client: &ClientRow,
    grant: &Grant,
    family: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.clock.now();
    let live = store::live_session_amr(&state.db, &grant.session_id, &grant.user_id, now)
        .await
        .map_err(OAuthError::internal)?;
    let (user, session_amr) = match (live, load_user(state, &grant.user_id).await?) {
        (Some(amr), Some(u)) if u.is_active => (u, amr),
        _ => {
            return Err(OAuthError::invalid_grant(
                "the sign-in behind this grant has ended",
            ));
        }
    };
    let (amr, acr) = authentication_context(&session_amr);
    let ttl = state.config.oidc_provider.access_token_ttl.secs();
    let scope = grant.scope.join(" ");
    let claims = AccessClaims {
        iss: issuer(state),
        sub: user.id.clone(),
        aud: client.client_id.clone(),
        client_id: client.client_id.clone(),
        exp: now + ttl,
        iat: now,
        jti: uuid::Uuid::now_v7().to_string(),
        scope: scope.clone(),
        sid: Some(grant.session_id.clone()),
        auth_time: Some(grant.auth_time),
        acr: Some(acr.clone()),
        amr: Some(amr.clone()),
    };
    let alg = SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::EdDsa);
    let access_token = sign(state, alg, ACCESS_TYP, &claims).await?;
    let id_token = if grant.scope.iter().any(|s| s == "openid") {
        let mut id = user_claims(state, &user, &grant.scope).await?;
        id.insert("iss".into(), json!(claims.iss));
        id.insert("aud".into(), json!(client.client_id));
        id.insert("azp".into(), json!(client.client_id));
        id.insert("exp".into(), json!(now + ttl));
        id.insert("iat".into(), json!(now));
        id.insert("auth_time".into(), json!(grant.auth_time));
        id.insert("sid".into(), json!(grant.session_id));
        id.insert("amr".into(), json!(amr));
        id.insert("acr".into(), json!(acr));
        id.insert("at_hash".into(), json!(at_hash(&access_token, alg)));
        if let Some(nonce) = &grant.nonce {
            id.insert("nonce".into(), json!(nonce));
        }
        Some(sign(state, alg, "JWT", &id).await?)
    } else {
        None
    };
    let refresh_token = if grant.scope.iter().any(|s| s == "offline_access") {
        let token = new_token(REFRESH_PREFIX);
        let family = family.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
        store::insert_refresh(
            &state.db,
            NewRefresh {
                token_hash: &sha256_hex(&token),
                family_id: &family,
                client_id: &client.id,
                user_id: &user.id,
                session_id: &grant.session_id,
                scope: &scope,
                auth_time: grant.auth_time,
                now,
                expires_at: now + state.config.oidc_provider.refresh_token_ttl.secs(),
            },
        )
        .await
        .map_err(OAuthError::internal)?;
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token,
        id_token,
        scope,
    })
}

/// OpenID Connect `at_hash`: the left half of the access token's hash. SHA-256 for RS256; for
/// Ed25519 the OpenID Foundation's EdDSA registration names SHA-512.
fn at_hash(token: &str, alg: SigningAlg) -> String {
    match alg {
        SigningAlg::Rs256 => {
            let digest = Sha256::digest(token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..16])
        }
        SigningAlg::EdDsa => {
            let digest = sha2::Sha512::digest(token.as_bytes());
            URL_SAFE_NO_PAD.encode(&digest[..32])
        }
    }
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)) equals the challenge; the verifier is 43–128
/// unreserved characters.
fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed
        && crate::tokens::constant_time_eq(
            &URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            challenge,
        )
}

/// `grant_type=authorization_code`.
pub async fn exchange_code(
    state: &AppState,
    client: &ClientRow,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if code.is_empty() || code.len() > 128 {
        return Err(OAuthError::invalid_grant("unknown, used or expired code"));
    }
    let taken = state
        .kv
        .take(&code_key(code))
        .await
        .map_err(OAuthError::internal)?;
    let Some(record) = taken.and_then(|v| serde_json::from_str::<CodeRecord>(&v).ok()) else {
        return Err(OAuthError::invalid_grant("unknown, used or expired code"));
    };
    if record.grant.client != client.id || record.expires_at <= state.clock.now() {
        return Err(OAuthError::invalid_grant("unknown, used or expired code"));
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&record.code_challenge, verifier) {
        (Some(challenge), Some(v)) if pkce_ok(v, challenge) => {}
        (Some(_), _) => return Err(OAuthError::invalid_grant("wrong or missing code_verifier")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent for a request without code_challenge",
            ));
        }
        (None, None) => {}
    }
    issue_for_user(state, client, &record.grant, None).await
}

/// `grant_type=refresh_token`: the token is used up and a new one of the same family issued. A
/// used or revoked token presented again means it leaked: the whole family is revoked.
pub async fn refresh(
    state: &AppState,
    client: &ClientRow,
    token: &str,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let invalid = || OAuthError::invalid_grant("unknown, expired or revoked refresh token");
    if !token.starts_with(REFRESH_PREFIX) || token.len() > 128 {
        return Err(invalid());
    }
    let row = store::refresh_by_hash(&state.db, &sha256_hex(token))
        .await
        .map_err(OAuthError::internal)?
        .ok_or_else(invalid)?;
    if row.client_id != client.id {
        return Err(invalid());
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await.map_err(OAuthError::internal)?;
    let claimed = row.revoked_at.is_none()
        && row.used_at.is_none()
        && store::claim_refresh(&mut tx, &row.id, now)
            .await
            .map_err(OAuthError::internal)?;
    if !claimed {
        if row.revoked_at.is_none() {
            tracing::warn!(family = %row.family_id, "refresh token reused; revoking its family");
        }
        store::revoke_family(&mut tx, &row.family_id, now)
            .await
            .map_err(OAuthError::internal)?;
        tx.commit().await.map_err(OAuthError::internal)?;
        return Err(invalid());
    }
    tx.commit().await.map_err(OAuthError::internal)?;
    if row.expires_at <= now {
        return Err(invalid());
    }
    let granted: Vec<String> = row.scope.split(' ').map(str::to_string).collect();
    let scope = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => granted,
        Some(asked) => {
            let asked: Vec<String> = asked.split(' ').map(str::to_string).collect();
            if !asked.iter().all(|s| granted.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "a scope beyond the original grant",
                ));
            }
            asked
        }
    };
    let grant = Grant {
        client: client.id.clone(),
        user_id: row.user_id.clone(),
        session_id: row.session_id.clone(),
        scope,
        auth_time: row.auth_time,
        nonce: None,
    };
    match issue_for_user(state, client, &grant, Some(&row.family_id)).await {
        Err(e) if e.error == "invalid_grant" => {
            // The session ended or the user was disabled: nothing of this family stays usable.
            store::revoke_family(&state.db, &row.family_id, now)
                .await
                .map_err(OAuthError::internal)?;
            Err(invalid())
        }
        other => other,
    }
}

/// `grant_type=client_credentials`: an access token about the client itself.
pub async fn client_credentials(
    state: &AppState,
    client: &ClientRow,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            "unauthorized_client",
            "public clients cannot use client_credentials",
        ));
    }
    let asked: Vec<String> = scope
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // The user scopes make no sense without a user.
    if asked
        .iter()
        .any(|s| !client.allowed_scopes.contains(s) || s == "openid" || s == "offline_access")
    {
        return Err(OAuthError::new(
            "invalid_scope",
            "a scope this client may not ask for",
        ));
    }
    let now = state.clock.now();
    let ttl = state.config.oidc_provider.access_token_ttl.secs();
    let scope = asked.join(" ");
    let claims = AccessClaims {
        iss: issuer(state),
        sub: client.client_id.clone(),
        aud: client.client_id.clone(),
        client_id: client.client_id.clone(),
        exp: now + ttl,
        iat: now,
        jti: uuid::Uuid::now_v7().to_string(),
        scope: scope.clone(),
        sid: None,
        auth_time: None,
        acr: None,
        amr: None,
    };
    let alg = SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::EdDsa);
    Ok(TokenResponse {
        access_token: sign(state, alg, ACCESS_TYP, &claims).await?,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: None,
        id_token: None,
        scope,
    })
}

/// The claims of a JWT gatehouse signed, when its signature checks out with a published key
/// and it has the given `typ`; expiry is checked against gatehouse's clock by the caller.
async fn verified<T: serde::de::DeserializeOwned>(
    state: &AppState,
    token: &str,
    typ: &str,
) -> Option<T> {
    if token.len() > 8192 {
        return None;
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !header.typ.as_deref()?.eq_ignore_ascii_case(typ) {
        return None;
    }
    let (alg, key) = keys::verifying(state, header.kid.as_deref()?)
        .await
        .ok()??;
    if header.alg != alg {
        return None;
    }
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer(state)]);
    jsonwebtoken::decode::<T>(token, &key, &validation)
        .ok()
        .map(|d| d.claims)
}

fn revoked_key(jti: &str) -> String {
    format!("oidc:revoked:{jti}")
}

/// A live access token: signed by gatehouse, unexpired, not revoked, its session still open and
/// its user enabled (or, for a client's own token, its client still registered).
pub async fn check_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<AccessClaims>, OAuthError> {
    let Some(claims) = verified::<AccessClaims>(state, token, ACCESS_TYP).await else {
        return Ok(None);
    };
    let now = state.clock.now();
    if claims.exp <= now {
        return Ok(None);
    }
    let revoked = state
        .kv
        .get(&revoked_key(&claims.jti))
        .await
        .map_err(OAuthError::internal)?;
    if revoked.is_some() {
        return Ok(None);
    }
    let alive = match &claims.sid {
        Some(sid) => store::session_alive(&state.db, sid, &claims.sub, now)
            .await
            .map_err(OAuthError::internal)?,
        None => store::client_by_client_id(&state.db, &claims.client_id)
            .await
            .map_err(OAuthError::internal)?
            .is_some(),
    };
    Ok(alive.then_some(claims))
}

/// The userinfo answer for a live access token with `openid`; `None` for anything else.
pub async fn userinfo(
    state: &AppState,
    token: &str,
) -> Result<Option<Map<String, Value>>, OAuthError> {
    let Some(claims) = check_access_token(state, token).await? else {
        return Ok(None);
    };
    let scope: Vec<String> = claims.scope.split(' ').map(str::to_string).collect();
    if claims.sid.is_none() || !scope.iter().any(|s| s == "openid") {
        return Ok(None);
    }
    match load_user(state, &claims.sub).await? {
        Some(user) if user.is_active => Ok(Some(user_claims(state, &user, &scope).await?)),
        _ => Ok(None),
    }
}

/// RFC 7662: what the token is, or `{"active": false}`.
pub async fn introspect(state: &AppState, token: &str) -> Result<Value, OAuthError> {
    let inactive = json!({"active": false});
    if token.starts_with(REFRESH_PREFIX) {
        if token.len() > 128 {
            return Ok(inactive);
        }
        let Some(row) = store::refresh_by_hash(&state.db, &sha256_hex(token))
            .await
            .map_err(OAuthError::internal)?
        else {
            return Ok(inactive);
        };
        let now = state.clock.now();
        let alive = row.used_at.is_none()
            && row.revoked_at.is_none()
            && row.expires_at > now
            && store::session_alive(&state.db, &row.session_id, &row.user_id, now)
                .await
                .map_err(OAuthError::internal)?;
        let client = store::client_by_id(&state.db, &row.client_id)
            .await
            .map_err(OAuthError::internal)?;
        return Ok(match (alive, client) {
            (true, Some(c)) => json!({
                "active": true, "token_type": "refresh_token", "scope": row.scope,
                "client_id": c.client_id, "sub": row.user_id, "exp": row.expires_at,
                "iat": row.created_at, "iss": issuer(state),
            }),
            _ => inactive,
        });
    }
    Ok(match check_access_token(state, token).await? {
        Some(c) => json!({
            "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
            "sub": c.sub, "aud": c.aud, "exp": c.exp, "iat": c.iat, "iss": c.iss, "jti": c.jti,
        }),
        None => inactive,
    })
}

/// RFC 7009: revoke a refresh token (its whole family) or an access token of `client`; anything
/// else, including another client's token, is quietly ignored.
pub async fn revoke(state: &AppState, client: &ClientRow, token: &str) -> Result<(), OAuthError> {
    let now = state.clock.now();
    if token.starts_with(REFRESH_PREFIX) && token.len() <= 128 {
        if let Some(row) = store::refresh_by_hash(&state.db, &sha256_hex(token))
            .await
            .map_err(OAuthError::internal)?
            && row.client_id == client.id
        {
            store::revoke_family(&state.db, &row.family_id, now)
                .await
                .map_err(OAuthError::internal)?;
        }
        return Ok(());
    }
    if let Some(claims) = verified::<AccessClaims>(state, token, ACCESS_TYP).await
        && claims.client_id == client.client_id
        && claims.exp > now
    {
        let ttl = u64::try_from(claims.exp - now).unwrap_or(1).max(1);
        state
            .kv
            .set_ex(&revoked_key(&claims.jti), "1", Duration::from_secs(ttl))
            .await
            .map_err(OAuthError::internal)?;
    }
    Ok(())
}

/// The claims of an ID token gatehouse signed, expired or not (RP-initiated logout's
/// `id_token_hint` may be old).
pub async fn id_token_hint(state: &AppState, token: &str) -> Option<Map<String, Value>> {
    verified::<Map<String, Value>>(state, token, "JWT").await
}
