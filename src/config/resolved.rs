//! The checks a configuration passes before anything uses it, and the values derived from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use url::Url;

use super::*;

impl SmtpConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError(format!(
                "invalid value for `smtp.{key}`: {why}"
            )))
        };
        if self.username.is_some() && self.password.is_none() && self.password_file.is_none() {
            return bad(
                "password",
                "`smtp.username` is set, so `smtp.password` or `smtp.password_file` is needed",
            );
        }
        if self.password.is_some() && self.password_file.is_some() {
            return bad(
                "password_file",
                "set `smtp.password` or `smtp.password_file`, not both",
            );
        }
        if self.tls == SmtpTls::None && self.username.is_some() && !self.allow_insecure_auth {
            return bad(
                "allow_insecure_auth",
                "`smtp.tls = \"none\"` would send the SMTP password in clear text; use \"starttls\" or \"implicit\", or set `smtp.allow_insecure_auth = true` for a trusted local relay",
            );
        }
        if self.give_up_after.0.is_zero() {
            return bad("give_up_after", "must be positive");
        }
        if self.timeout.0.is_zero() {
            return bad("timeout", "must be positive");
        }
        Ok(())
    }
}

impl WebConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let c = &self.accent_color;
        if c.len() != 7 || !c.starts_with('#') || !c[1..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError(
                "invalid value for `web.accent_color`: expected #rrggbb".into(),
            ));
        }
        Ok(())
    }
}

impl MailAccountsConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.timeout.0.is_zero() {
            return Err(ConfigError(
                "invalid value for `mail_accounts.timeout`: must be positive".into(),
            ));
        }
        Ok(())
    }
}

impl RagflowConfig {
    /// `public_base_url` without a trailing slash, else `http://{listen}`.
    pub fn public_base_url(&self) -> String {
        match (&self.public_base_url, self.listen) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => "http://127.0.0.1:9380".into(),
        }
    }
}

impl Config {
    /// A base URL left to default to a wildcard listen address (`http://0.0.0.0:8080`) names no
    /// reachable host: the provider redirect URIs built from it cannot work.
    pub(super) fn base_url_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.providers.is_empty() {
            return out;
        }
        if self.public_base_url.is_none() && self.listen.ip().is_unspecified() {
            out.push(format!(
                "`public_base_url` is not set and `listen` is {}: sign-in providers would be sent to {}; set `public_base_url` to the address users reach",
                self.listen,
                self.public_base_url()
            ));
        }
        if let Some(addr) = self.ragflow.listen
            && self.ragflow.public_base_url.is_none()
            && addr.ip().is_unspecified()
        {
            out.push(format!(
                "`ragflow.public_base_url` is not set and `ragflow.listen` is {addr}: sign-in providers would be sent to {}; set `ragflow.public_base_url` to the address RAGFlow's clients reach",
                self.ragflow.public_base_url()
            ));
        }
        out
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |key: &str, why: &str| Err(ConfigError(format!("invalid value for `{key}`: {why}")));
        let base_urls = [
            ("public_base_url", &self.public_base_url),
            ("ragflow.public_base_url", &self.ragflow.public_base_url),
        ];
        for (key, url) in base_urls {
            if let Some(url) = url {
                http_url(key, url)?;
            }
        }
        if let Some(url) = &self.database_url {
            let scheme = url.expose().split(':').next().unwrap_or_default();
            if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
                return bad("database_url", "expected a sqlite:// or postgres:// URL");
            }
        }
        if let Some(url) = &self.redis_url {
            let scheme = url.expose().split(':').next().unwrap_or_default();
            if !matches!(scheme, "redis" | "rediss") {
                return bad("redis_url", "expected a redis:// or rediss:// URL");
            }
        }
        if self.lockout_threshold == 0 || self.lockout_threshold > 100 {
            return bad(
                "lockout_threshold",
                "must be between 1 and 100 (NIST SP 800-63B allows at most 100)",
            );
        }
        if self.max_consecutive_failures == 0 || self.max_consecutive_failures > 100 {
            return bad(
                "max_consecutive_failures",
                "must be between 1 and 100 (NIST SP 800-63B allows at most 100)",
            );
        }
        if self.captcha_after_failures == 0 {
            return bad("captcha_after_failures", "must be at least 1");
        }
        if self.ip_captcha_after_failures == 0 {
            return bad("ip_captcha_after_failures", "must be at least 1");
        }
        if !(4..=8).contains(&self.captcha.length) {
            return bad("captcha.length", "must be between 4 and 8");
        }
        if self.session_idle_timeout.0.is_zero() || self.session_lifetime.0.is_zero() {
            return bad("session_lifetime", "session durations must be positive");
        }
        if let Some(secret) = &self.secret_key
            && secret.expose().len() < 32
        {
            return bad("secret_key", "must be at least 32 characters");
        }
        self.smtp.check()?;
        self.web.check()?;
        self.mail_accounts.check()?;
        self.webauthn
            .check(&self.public_base_url())
            .map_err(ConfigError)?;
        if let Some(domain) = &self.forward_auth.cookie_domain {
            let base = self.public_base_url();
            let host = url::Url::parse(&base)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .unwrap_or_default();
            let domain = domain.to_ascii_lowercase();
            let covers = !domain.is_empty()
                && !domain.starts_with('.')
                && domain.contains('.')
                && (host == domain || host.ends_with(&format!(".{domain}")));
            if !covers {
                return bad(
                    "forward_auth.cookie_domain",
                    &format!(
                        "must be the host of public_base_url ({base}) or a parent domain of it"
                    ),
                );
            }
        }
        Ok(())
    }

    /// What sending real mail needs beyond [`Config::load`]'s checks: links in mail must point at
    /// the address users reach, which gatehouse cannot guess behind a proxy. Checked where mail is
    /// delivered (`serve`, `mail test`), so `check-config` still prints a half-finished file.
    pub fn validate_mail_delivery(&self) -> Result<(), ConfigError> {
        self.smtp.check()?;
        if (self.smtp.password.is_some() || self.smtp.password_file.is_some())
            && self.smtp.username.is_none()
        {
            return Err(ConfigError(
                "invalid value for `smtp.username`: a password is set, so the user name is needed too".into(),
            ));
        }
        if self.smtp.host.is_some() && self.public_base_url.is_none() {
            return Err(ConfigError(
                "`public_base_url` must be set when `smtp.host` is set: links in mail must point at the address users reach (e.g. https://auth.example.com)".into(),
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_string(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("gatehouse.db").display()
            ),
        }
    }

    pub fn public_base_url(&self) -> String {
        match &self.public_base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// The shortest signing key the RAGFlow profile accepts.
pub(super) const MIN_RAGFLOW_SECRET: usize = 32;

/// The configuration once checked: each provider as the variant of its type with every field
/// that type needs, and every `*_file` secret read. What the running program uses.
/// (`secret_key_file` is not among them: the server key's file is state that `serve` generates and
/// `restore` puts back, read by [`crate::tokens::load_server_key`]; see decision 0010.)
#[derive(Debug, Clone)]
pub struct Settings {
    pub public_base_url: Url,
    pub providers: BTreeMap<String, Provider>,
    /// `smtp.password`, or the content of `smtp.password_file`.
    pub smtp_password: Option<Secret>,
    pub ragflow: RagflowSecrets,
}

/// The RAGFlow profile's keys as configured; absent ones fall back to derived or published keys.
#[derive(Debug, Clone, Default)]
pub struct RagflowSecrets {
    /// `ragflow.secret_key` (also from `RAGFLOW_SECRET_KEY`), or `ragflow.secret_key_file`.
    pub secret_key: Option<Secret>,
    /// The PEM text of `ragflow.rsa_private_key_file`.
    pub rsa_private_key: Option<Secret>,
    pub rsa_passphrase: Option<Secret>,
}

/// A sign-in channel of `[providers.<id>]`.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Shown on the sign-in page: `name`, else the provider id.
    pub name: String,
    pub icon: Option<String>,
    pub client_id: String,
    /// `client_secret`, or the content of `client_secret_file`.
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    pub allow_registration: bool,
    pub trust_email: bool,
    pub endpoints: ProviderEndpoints,
}

/// Where a provider is reached, by its `type`.
#[derive(Debug, Clone)]
pub enum ProviderEndpoints {
    /// The issuer as written: OpenID Connect compares it with the `iss` the provider answers
    /// character for character, so it is checked as a URL but not normalised.
    Oidc { issuer: String },
    OAuth2 {
        authorization_url: Url,
        token_url: Url,
        userinfo_url: Url,
    },
    Github {
        api_base_url: Url,
        web_base_url: Url,
    },
}

impl Provider {
    pub fn kind(&self) -> ProviderKind {
        match self.endpoints {
            ProviderEndpoints::Oidc { .. } => ProviderKind::Oidc,
            ProviderEndpoints::OAuth2 { .. } => ProviderKind::Oauth2,
            ProviderEndpoints::Github { .. } => ProviderKind::Github,
        }
    }

    /// The OpenID issuer (oidc providers only).
    pub fn issuer(&self) -> Option<&str> {
        match &self.endpoints {
            ProviderEndpoints::Oidc { issuer } => Some(issuer),
            _ => None,
        }
    }
}

/// The text of a secret kept in a file, without its trailing line break. Every `*_file` secret
/// is read here, so a missing or unreadable file is reported the same way for each key.
pub fn read_secret_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    std::fs::read_to_string(path)
        .map(|text| Secret::new(text.trim_end_matches(['\r', '\n'])))
        .map_err(|e| ConfigError(format!("cannot read `{key}` {}: {e}", path.display())))
}

/// The secret given inline or by file (the checks refuse both at once where it matters).
fn secret(
    key: &str,
    value: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(value), _) => Ok(Some(value.clone())),
        (None, Some(path)) => read_secret_file(&format!("{key}_file"), path).map(Some),
        (None, None) => Ok(None),
    }
}

/// An absolute http(s) URL, or the one message that names the key.
fn http_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    match Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => Err(ConfigError(format!(
            "invalid value for `{key}`: expected an http(s) URL such as https://auth.example.com"
        ))),
    }
}

impl Config {
    /// Check the configuration and read the secrets its `*_file` keys name.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        self.validate()?;
        let providers = self
            .providers
            .iter()
            .map(|(id, p)| Ok((id.clone(), p.resolve(id)?)))
            .collect::<Result<_, ConfigError>>()?;
        let ragflow_key = secret(
            "ragflow.secret_key",
            &self.ragflow.secret_key,
            &self.ragflow.secret_key_file,
        )?
        // The file's text has always been taken without surrounding blanks.
        .map(|s| Secret::new(s.expose().trim()));
        if ragflow_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < MIN_RAGFLOW_SECRET)
        {
            return Err(ConfigError(
                "invalid value for `ragflow.secret_key`: must be at least 32 characters".into(),
            ));
        }
        let rsa_private_key = match &self.ragflow.rsa_private_key_file {
            Some(path) => Some(read_secret_file("ragflow.rsa_private_key_file", path)?),
            None => None,
        };
        Ok(Settings {
            public_base_url: http_url("public_base_url", &self.public_base_url())?,
            providers,
            smtp_password: self.smtp.password()?,
            ragflow: RagflowSecrets {
                secret_key: ragflow_key,
                rsa_private_key,
                rsa_passphrase: self.ragflow.rsa_passphrase.clone(),
            },
        })
    }
}

impl SmtpConfig {
    /// `smtp.password`, or the content of `smtp.password_file`.
    pub fn password(&self) -> Result<Option<Secret>, ConfigError> {
        secret("smtp.password", &self.password, &self.password_file)
    }
}

impl ProviderConfig {
    fn resolve(&self, id: &str) -> Result<Provider, ConfigError> {
        let key = |field: &str| format!("providers.{id}.{field}");
        let Some(kind) = self.kind else {
            return Err(ConfigError(format!(
                "invalid value for `{}`: expected \"oidc\", \"oauth2\" or \"github\"",
                key("type")
            )));
        };
        let Some(client_id) = self.client_id.clone() else {
            return Err(ConfigError(format!(
                "invalid value for `{}`: is required",
                key("client_id")
            )));
        };
        let present = |field: &str, value: &Option<String>| {
            value.clone().ok_or_else(|| {
                ConfigError(format!(
                    "invalid value for `{}`: is required for type \"{}\"",
                    key(field),
                    kind.as_str()
                ))
            })
        };
        let required =
            |field: &str, value: &Option<String>| http_url(&key(field), &present(field, value)?);
        let or_default = |field: &str, value: &Option<String>, default: &str| {
            http_url(&key(field), value.as_deref().unwrap_or(default))
        };
        let endpoints = match kind {
            ProviderKind::Oidc => {
                let issuer = present("issuer", &self.issuer)?;
                http_url(&key("issuer"), &issuer)?;
                ProviderEndpoints::Oidc { issuer }
            }
            ProviderKind::Oauth2 => ProviderEndpoints::OAuth2 {
                authorization_url: required("authorization_url", &self.authorization_url)?,
                token_url: required("token_url", &self.token_url)?,
                userinfo_url: required("userinfo_url", &self.userinfo_url)?,
            },
            ProviderKind::Github => ProviderEndpoints::Github {
                api_base_url: or_default(
                    "api_base_url",
                    &self.api_base_url,
                    "https://api.github.com",
                )?,
                web_base_url: or_default("web_base_url", &self.web_base_url, "https://github.com")?,
            },
        };
        Ok(Provider {
            name: self.name.clone().unwrap_or_else(|| id.to_string()),
            icon: self.icon.clone(),
            client_id,
            client_secret: secret(
                &key("client_secret"),
                &self.client_secret,
                &self.client_secret_file,
            )?,
            scopes: self.scopes.clone(),
            allow_registration: self.allow_registration,
            trust_email: self.trust_email,
            endpoints,
        })
    }
}
