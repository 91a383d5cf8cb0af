//! The configured channels (`[providers.<id>]`) and what they share: the outbound HTTP client,
//! the authorization URL, the code exchange with PKCE, and the profile each channel yields.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};
use openidconnect::reqwest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::flow::Failure;
use super::{github, oidc};
use crate::config::{Provider, ProviderEndpoints, ProviderKind};
use crate::state::AppState;

/// Outbound calls to a provider give up after this long.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Provider answers larger than this are refused.
const MAX_BODY: usize = 1024 * 1024;

/// One client for every provider call: no redirects followed (a provider cannot bounce us to an
/// internal address), a bounded time, no cookies.
static HTTP: LazyLock<Result<reqwest::Client, String>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
});

pub fn http() -> Result<&'static reqwest::Client, Failure> {
    HTTP.as_ref()
        .map_err(|e| Failure::Internal(anyhow::anyhow!("cannot build the HTTP client: {e}")))
}

/// Record how long a provider call took (`gatehouse_oauth_provider_seconds`).
pub fn observe(provider: &str, call: &'static str, started: Instant) {
    metrics::histogram!("gatehouse_oauth_provider_seconds", "provider" => provider.to_string(), "call" => call)
        .record(started.elapsed().as_secs_f64());
}

/// A configured sign-in channel.
pub struct Channel<'a> {
    pub id: &'a str,
    pub kind: ProviderKind,
    pub provider: &'a Provider,
}

impl<'a> Channel<'a> {
    pub fn find(state: &'a AppState, id: &str) -> Option<Self> {
        let (id, provider) = state.settings.providers.get_key_value(id)?;
        Some(Self {
            id,
            kind: provider.kind(),
            provider,
        })
    }

    pub fn name(&self) -> String {
        self.provider.name.clone()
    }

    /// gatehouse's own callback for this channel, the redirect URI registered at the provider.
    pub fn native_callback(&self, state: &AppState) -> String {
        format!(
            "{}/api/v1/auth/providers/{}/callback",
            state.public_base_url, self.id
        )
    }

    fn scopes(&self) -> Vec<String> {
        let mut scopes = self.provider.scopes.clone();
        let required: &[&str] = match self.kind {
            ProviderKind::Oidc => &["openid"],
            ProviderKind::Github => &["user:email"],
            ProviderKind::Oauth2 => &[],
        };
        if scopes.is_empty() {
            scopes = match self.kind {
                ProviderKind::Oidc => vec!["openid".into(), "email".into(), "profile".into()],
                ProviderKind::Github => vec!["read:user".into(), "user:email".into()],
                ProviderKind::Oauth2 => vec!["email".into(), "profile".into()],
            };
        }
        for r in required {
            if !scopes.iter().any(|s| s == r) {
                scopes.insert(0, (*r).to_string());
            }
        }
        scopes
    }

    /// Where to send the browser, where to exchange the code, where to ask who the user is.
    pub async fn endpoints(&self, force_refresh: bool) -> Result<Endpoints, Failure> {
        match &self.provider.endpoints {
            ProviderEndpoints::Oidc { issuer } => {
                let meta = oidc::metadata(self.id, issuer, force_refresh).await?;
                Ok(Endpoints {
                    authorize: meta.authorization_endpoint().to_string(),
                    token: meta
                        .token_endpoint()
                        .map(|u| u.to_string())
                        .ok_or(Failure::ProviderError)?,
                    userinfo: meta.userinfo_endpoint().map(|u| u.to_string()),
                    auth_type: oidc::auth_type(&meta),
                    oidc: Some(meta),
                })
            }
            ProviderEndpoints::OAuth2 {
                authorization_url,
                token_url,
                userinfo_url,
            } => Ok(Endpoints {
                authorize: authorization_url.to_string(),
                token: token_url.to_string(),
                userinfo: Some(userinfo_url.to_string()),
                auth_type: AuthType::BasicAuth,
                oidc: None,
            }),
            ProviderEndpoints::Github { web_base_url, .. } => {
                let web = github::base(web_base_url);
                Ok(Endpoints {
                    authorize: format!("{web}/login/oauth/authorize"),
                    token: format!("{web}/login/oauth/access_token"),
                    userinfo: None,
                    // GitHub documents the client credentials as form parameters.
                    auth_type: AuthType::RequestBody,
                    oidc: None,
                })
            }
        }
    }

    fn oauth_client(&self, e: &Endpoints, redirect_uri: &str) -> Result<OAuthClient, Failure> {
        let mut client: OAuthClient =
            oauth2::Client::new(ClientId::new(self.provider.client_id.clone()))
                .set_auth_uri(
                    AuthUrl::new(e.authorize.clone()).map_err(|_| Failure::ProviderError)?,
                )
                .set_token_uri(TokenUrl::new(e.token.clone()).map_err(|_| Failure::ProviderError)?)
                .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).map_err(|_| {
                    Failure::Internal(anyhow::anyhow!(
                        "`providers.{}.id` is missing or invalid",
                        self.id
                    ))
                })?)
                .set_auth_type(e.auth_type.clone());
        if let Some(secret) = &self.provider.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        Ok(client)
    }

    /// The provider's authorization URL with a fresh `state`, PKCE S256 challenge and (OIDC)
    /// nonce; returns the URL and the secrets the callback at `redirect_uri` will need.
    pub async fn authorization(&self, redirect_uri: &str) -> Result<Authorization, Failure> {
        let endpoints = self.endpoints(false).await?;
        let client = self.oauth_client(&endpoints, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes().into_iter().map(Scope::new))
            .set_pkce_challenge(challenge);
        let nonce = endpoints
            .oidc
            .is_some()
            .then(|| openidconnect::Nonce::new_random().secret().clone());
        if let Some(nonce) = &nonce {
            request = request.add_extra_param("nonce", nonce.clone());
        }
        let (url, csrf) = request.url();
        Ok(Authorization {
            url: url.to_string(),
            csrf_state: csrf.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce,
        })
    }

    /// Exchange the code (with the PKCE verifier and the flow's `redirect_uri`) and find out
    /// who signed in.
    pub async fn profile(
        &self,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: Option<&str>,
    ) -> Result<Profile, Failure> {
        let endpoints = self.endpoints(false).await?;
        let client = self.oauth_client(&endpoints, redirect_uri)?;
        let started = Instant::now();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(http()?)
            .await;
        observe(self.id, "token", started);
        let tokens = tokens.map_err(|e| {
            let failure = match e {
                RequestTokenError::Request(_) => Failure::ProviderError,
                _ => Failure::TokenFailed,
            };
            // The error's text may quote the provider's body; only its kind is logged.
            tracing::warn!(
                provider = self.id,
                code = failure.code(),
                "token exchange failed"
            );
            failure
        })?;
        match &self.provider.endpoints {
            ProviderEndpoints::Oidc { .. } => oidc::profile(self, endpoints, &tokens, nonce).await,
            ProviderEndpoints::OAuth2 { .. } => {
                let url = endpoints
                    .userinfo
                    .as_deref()
                    .ok_or(Failure::ProviderError)?;
                let claims = get_json(self.id, "userinfo", url, tokens.access_token(), &[]).await?;
                let profile = Profile::from_claims(&claims, self.provider.trust_email);
                if profile.subject.is_empty() {
                    tracing::warn!(provider = self.id, "userinfo has no `sub` or `id`");
                    return Err(Failure::ProviderError);
                }
                Ok(profile)
            }
            ProviderEndpoints::Github { api_base_url, .. } => {
                github::profile(self, api_base_url, tokens.access_token()).await
            }
        }
    }
}

/// The token response, keeping a raw `id_token` (parsed and verified by [`oidc`], so a malformed
/// one is `invalid_id_token`, not a failed exchange).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct RawIdToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for RawIdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawIdToken(********)")
    }
}

impl ExtraTokenFields for RawIdToken {}

pub type Tokens = StandardTokenResponse<RawIdToken, BasicTokenType>;

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub auth_type: AuthType,
    pub oidc: Option<std::sync::Arc<openidconnect::core::CoreProviderMetadata>>,
}

pub struct Authorization {
    pub url: String,
    pub csrf_state: String,
    pub pkce_verifier: String,
    pub nonce: Option<String>,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub subject: String,
    pub email: Option<String>,
    /// True only when the provider vouches for the address.
    pub email_verified: bool,
    pub name: Option<String>,
    pub username: Option<String>,
    pub picture: Option<String>,
}

impl Profile {
    /// Map a userinfo object: `sub` (or `id`), `email`, `email_verified` (a boolean or
    /// "true"/"false"; when absent the address counts as verified only if the channel has
    /// `trust_email`), `name`, `preferred_username`/`login`/`nickname`/`username`, and
    /// `picture`/`avatar_url`.
    pub fn from_claims(claims: &Value, trust_email: bool) -> Self {
        let text = |keys: &[&str]| {
            keys.iter().find_map(|k| match claims.get(*k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        };
        let email = text(&["email"]);
        Self {
            subject: text(&["sub", "id"]).unwrap_or_default(),
            email_verified: email.is_some()
                && claim_bool(claims.get("email_verified")).unwrap_or(trust_email),
            email,
            name: text(&["name"]),
            username: text(&["preferred_username", "login", "nickname", "username"]),
            picture: text(&["picture", "avatar_url"]),
        }
    }

    /// Fill what this profile lacks from `other` (the id_token's claims under userinfo's).
    pub fn or(self, other: Profile) -> Self {
        let (email, email_verified) = match self.email {
            Some(e) => (Some(e), self.email_verified),
            None => (other.email, other.email_verified),
        };
        Self {
            subject: other.subject,
            email,
            email_verified,
            name: self.name.or(other.name),
            username: self.username.or(other.username),
            picture: self.picture.or(other.picture),
        }
    }
}

/// `true`/`false`, also as the strings some providers send.
pub fn claim_bool(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// GET a provider's JSON with the access token. `None` for 401/403/404 (the token may not
/// cover this resource); other failures are `provider_error`.
pub async fn get_json_opt(
    provider: &str,
    call: &'static str,
    url: &str,
    token: &AccessToken,
    headers: &[(&str, &str)],
) -> Result<Option<Value>, Failure> {
    let started = Instant::now();
    let result = async {
        let mut request = http()?
            .get(url)
            .bearer_auth(token.secret())
            .header("accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send().await.map_err(|_| Failure::ProviderError)?;
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403 | 404) {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Failure::ProviderError);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| Failure::ProviderError)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(Failure::ProviderError);
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|_| Failure::ProviderError)
    }
    .await;
    observe(provider, call, started);
    if let Err(f) = &result {
        tracing::warn!(provider, call, code = f.code(), "provider call failed");
    }
    result
}

/// Like [`get_json_opt`], where an answer is required.
pub async fn get_json(
    provider: &str,
    call: &'static str,
    url: &str,
    token: &AccessToken,
    headers: &[(&str, &str)],
) -> Result<Value, Failure> {
    get_json_opt(provider, call, url, token, headers)
        .await?
        .filter(Value::is_object)
        .ok_or(Failure::ProviderError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_map_with_defaults() {
        let p = Profile::from_claims(
            &json!({"id": 42, "email": "a@b.example", "login": "ann", "avatar_url": "https://x.example/a.png"}),
            false,
        );
        assert_eq!(p.subject, "42");
        assert!(
            !p.email_verified,
            "no email_verified: unverified by default"
        );
        assert_eq!(p.username.as_deref(), Some("ann"));
        assert_eq!(p.picture.as_deref(), Some("https://x.example/a.png"));
        let trusted = Profile::from_claims(&json!({"sub": "s", "email": "a@b.example"}), true);
        assert!(trusted.email_verified);
        let said_no = Profile::from_claims(
            &json!({"sub": "s", "email": "a@b.example", "email_verified": "false"}),
            true,
        );
        assert!(!said_no.email_verified, "an explicit false always wins");
        let no_email = Profile::from_claims(&json!({"sub": "s", "email_verified": true}), true);
        assert!(!no_email.email_verified);
    }
}
