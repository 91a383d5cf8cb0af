//! OpenID Connect: discovery (cached in memory for a while: it is the provider's public
//! configuration, not state that could make instances answer differently), id_token
//! verification (signature by the provider's JWKS, `iss`, `aud`, `exp`, `nonce`, `at_hash`), and
//! the userinfo merge.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use oauth2::{AuthType, ClientId, TokenResponse};
use openidconnect::core::{
    CoreClientAuthMethod, CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, ClaimsVerificationError, IssuerUrl, Nonce, SignatureVerificationError,
};

use super::channels::{Channel, Endpoints, Profile, Tokens, get_json, http, observe};
use super::flow::Failure;

/// How long a provider's discovery document and keys are reused.
const CACHE_TTL: Duration = Duration::from_secs(15 * 60);

type Cache = HashMap<String, (Instant, Arc<CoreProviderMetadata>)>;
static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

/// The provider's metadata and keys, from the cache unless stale or `force_refresh`.
pub async fn metadata(
    provider: &str,
    issuer: &str,
    force_refresh: bool,
) -> Result<Arc<CoreProviderMetadata>, Failure> {
    if !force_refresh
        && let Ok(cache) = CACHE.lock()
        && let Some((at, meta)) = cache.get(issuer)
        && at.elapsed() < CACHE_TTL
    {
        return Ok(meta.clone());
    }
    let issuer_url = IssuerUrl::new(issuer.to_string()).map_err(|e| {
        Failure::Internal(anyhow::anyhow!(
            "`providers.{provider}.issuer` is not a URL: {e}"
        ))
    })?;
    let started = Instant::now();
    let found = CoreProviderMetadata::discover_async(issuer_url, http()?).await;
    observe(provider, "discovery", started);
    let meta = Arc::new(found.map_err(|e| {
        tracing::warn!(provider, error = %e, "OpenID discovery failed");
        Failure::ProviderError
    })?);
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(issuer.to_string(), (Instant::now(), meta.clone()));
    }
    Ok(meta)
}

/// `client_secret_basic` unless the provider only takes `client_secret_post`.
pub fn auth_type(meta: &CoreProviderMetadata) -> AuthType {
    match meta.token_endpoint_auth_methods_supported() {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

/// The provider's advertised id_token algorithms that are asymmetric: never `none`, never HS*
/// (a MAC keyed with the client secret proves nothing about the provider). RS256 when the
/// provider names none of them (the OpenID default).
fn allowed_algs(meta: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    let algs: Vec<_> = meta
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| {
            matches!(
                alg,
                A::RsaSsaPkcs1V15Sha256
                    | A::RsaSsaPkcs1V15Sha384
                    | A::RsaSsaPkcs1V15Sha512
                    | A::RsaSsaPssSha256
                    | A::RsaSsaPssSha384
                    | A::RsaSsaPssSha512
                    | A::EcdsaP256Sha256
                    | A::EcdsaP384Sha384
                    | A::EcdsaP521Sha512
                    | A::EdDsa
            )
        })
        .cloned()
        .collect();
    if algs.is_empty() {
        vec![A::RsaSsaPkcs1V15Sha256]
    } else {
        algs
    }
}

/// A public-client verifier: symmetric algorithms are refused outright, whatever the list says.
fn verifier(meta: &CoreProviderMetadata, client_id: &str) -> CoreIdTokenVerifier<'static> {
    CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_string()),
        meta.issuer().clone(),
        meta.jwks().clone(),
    )
    .set_allowed_algs(allowed_algs(meta))
}

/// Verify the id_token and merge userinfo over its claims.
pub async fn profile(
    channel: &Channel<'_>,
    endpoints: Endpoints,
    tokens: &Tokens,
    nonce: Option<&str>,
) -> Result<Profile, Failure> {
    let mut meta = endpoints.oidc.ok_or(Failure::ProviderError)?;
    let raw = tokens
        .extra_fields()
        .id_token
        .as_deref()
        .ok_or(Failure::InvalidIdToken)?;
    let id_token = CoreIdToken::from_str(raw).map_err(|_| Failure::InvalidIdToken)?;
    let nonce = Nonce::new(nonce.ok_or(Failure::InvalidState)?.to_string());
    let client_id = channel.provider.client_id.as_str();
    let mut verified = verify(&meta, client_id, &id_token, &nonce, tokens);
    if matches!(
        verified,
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey
        ))
    ) {
        // The provider may have rotated its keys since discovery was cached.
        meta = metadata(channel.id, meta.issuer().as_str(), true).await?;
        verified = verify(&meta, client_id, &id_token, &nonce, tokens);
    }
    let from_token = verified.map_err(|e| {
        tracing::warn!(provider = channel.id, error = %e, "id_token refused");
        Failure::InvalidIdToken
    })?;
    let trust = channel.provider.trust_email;
    let from_token = Profile {
        email_verified: from_token.email.is_some() && from_token.email_verified.unwrap_or(trust),
        ..from_token.profile
    };
    let Some(url) = endpoints.userinfo.as_deref() else {
        return Ok(from_token);
    };
    let claims = get_json(channel.id, "userinfo", url, tokens.access_token(), &[]).await?;
    let from_userinfo = Profile::from_claims(&claims, trust);
    if from_userinfo.subject != from_token.subject {
        tracing::warn!(
            provider = channel.id,
            "userinfo `sub` differs from the id_token's"
        );
        return Err(Failure::ProviderError);
    }
    Ok(from_userinfo.or(from_token))
}

struct TokenClaims {
    profile: Profile,
    email: Option<String>,
    email_verified: Option<bool>,
}

fn verify(
    meta: &CoreProviderMetadata,
    client_id: &str,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    tokens: &Tokens,
) -> Result<TokenClaims, ClaimsVerificationError> {
    let verifier = verifier(meta, client_id);
    let claims = id_token.claims(&verifier, nonce)?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(ClaimsVerificationError::SignatureVerification)?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(ClaimsVerificationError::SignatureVerification)?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
            .map_err(|e| ClaimsVerificationError::Unsupported(e.to_string()))?;
        if actual != *expected {
            return Err(ClaimsVerificationError::Other(
                "at_hash does not match the access token".into(),
            ));
        }
    }
    let email = claims.email().map(|e| e.as_str().to_string());
    Ok(TokenClaims {
        profile: Profile {
            subject: claims.subject().as_str().to_string(),
            email: email.clone(),
            email_verified: false,
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
            username: claims.preferred_username().map(|u| u.as_str().to_string()),
            picture: claims
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.as_str().to_string()),
        },
        email,
        email_verified: claims.email_verified(),
    })
}
