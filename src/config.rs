//! The typed configuration: defaults, `gatehouse.toml`, `GATEHOUSE_*` environment and flags,
//! merged in that order and checked once at startup.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Environment variables with this prefix configure gatehouse.
pub const ENV_PREFIX: &str = "GATEHOUSE_";

/// Variables that share the prefix but are inputs of the CLI or the test suite, not configuration.
const NON_CONFIG_VARS: &[&str] = &["NEW_PASSWORD", "LOG", "TEST_"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<Secret>,
    pub redis_url: Option<Secret>,
    /// Put before every Redis key, so that several deployments can share one Redis.
    pub redis_prefix: String,
    pub public_base_url: Option<String>,
    /// The name users see in mails and pages.
    pub product_name: String,
    pub secret_key: Option<Secret>,
    pub secret_key_file: Option<PathBuf>,
    pub registration_enabled: bool,
    pub password_login_enabled: bool,
    pub email_verification_required: bool,
    pub login_after_verification: bool,
    pub captcha_after_failures: u32,
    pub ip_captcha_after_failures: u32,
    pub lockout_threshold: u32,
    pub lockout_duration: HumanDuration,
    /// Failed sign-ins of an account without a success after which password sign-in stays
    /// locked until a reset by mail or an administrator's unlock (NIST SP 800-63B: at most 100).
    pub max_consecutive_failures: u32,
    pub session_idle_timeout: HumanDuration,
    pub session_lifetime: HumanDuration,
    pub metrics_listen: Option<SocketAddr>,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    pub smtp: SmtpConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub captcha: CaptchaConfig,
    pub ragflow: RagflowConfig,
    pub web: WebConfig,
    pub mail_accounts: MailAccountsConfig,
    pub botserver: BotserverConfig,
    pub mfa: crate::mfa::config::MfaConfig,
    pub webauthn: crate::mfa::config::WebauthnConfig,
    pub oidc_provider: OidcProviderConfig,
    pub forward_auth: ForwardAuthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_prefix: crate::state::DEFAULT_KV_PREFIX.into(),
            public_base_url: None,
            product_name: "gatehouse".into(),
            secret_key: None,
            secret_key_file: None,
            registration_enabled: true,
            password_login_enabled: true,
            email_verification_required: false,
            login_after_verification: false,
            captcha_after_failures: 3,
            ip_captcha_after_failures: 20,
            lockout_threshold: 10,
            lockout_duration: HumanDuration::from_secs(15 * 60),
            max_consecutive_failures: 100,
            session_idle_timeout: HumanDuration::from_secs(7 * 86400),
            session_lifetime: HumanDuration::from_secs(30 * 86400),
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            smtp: SmtpConfig::default(),
            providers: BTreeMap::new(),
            captcha: CaptchaConfig::default(),
            ragflow: RagflowConfig::default(),
            web: WebConfig::default(),
            mail_accounts: MailAccountsConfig::default(),
            botserver: BotserverConfig::default(),
            mfa: Default::default(),
            webauthn: Default::default(),
            oidc_provider: OidcProviderConfig::default(),
            forward_auth: ForwardAuthConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub from_name: String,
    pub from_address: Option<String>,
    pub timeout: HumanDuration,
    pub allow_insecure_auth: bool,
    /// A mail still undelivered this long after it was queued is marked `failed`.
    pub give_up_after: HumanDuration,
    /// Extra root certificate (PEM) to trust for the SMTP server, e.g. a private CA.
    pub ca_file: Option<PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            password_file: None,
            from_name: "gatehouse".into(),
            from_address: None,
            timeout: HumanDuration::from_secs(10),
            allow_insecure_auth: false,
            give_up_after: HumanDuration::from_secs(24 * 3600),
            ca_file: None,
        }
    }
}

impl SmtpConfig {
    fn check(&self) -> Result<(), ConfigError> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Implicit,
    Starttls,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    #[serde(rename = "type")]
    pub kind: Option<ProviderKind>,
    pub name: Option<String>,
    pub icon: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub api_base_url: Option<String>,
    pub web_base_url: Option<String>,
    pub scopes: Vec<String>,
    pub allow_registration: bool,
    /// The provider verifies every address it returns: an email without an `email_verified`
    /// claim counts as verified (oidc and oauth2 channels; an explicit `false` always wins).
    pub trust_email: bool,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            kind: None,
            name: None,
            icon: None,
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            issuer: None,
            authorization_url: None,
            token_url: None,
            userinfo_url: None,
            api_base_url: None,
            web_base_url: None,
            scopes: Vec::new(),
            allow_registration: true,
            trust_email: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Oidc,
    Oauth2,
    Github,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Oauth2 => "oauth2",
            Self::Github => "github",
        }
    }
}

/// gatehouse as the OpenID Provider of the operator's applications: token lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcProviderConfig {
    /// Access and ID tokens (JWTs that cannot be recalled, so short).
    pub access_token_ttl: HumanDuration,
    pub refresh_token_ttl: HumanDuration,
    /// Authorization codes (single use).
    pub code_ttl: HumanDuration,
}

impl Default for OidcProviderConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: HumanDuration::from_secs(600),
            refresh_token_ttl: HumanDuration::from_secs(30 * 86400),
            code_ttl: HumanDuration::from_secs(60),
        }
    }
}

/// Forward authentication for reverse proxies (`/api/v1/auth/forward`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthConfig {
    /// Hosts (`app.example.com` or `host:port`) a sign-in may return to by absolute URL.
    pub allowed_hosts: Vec<String>,
    /// A parent domain of gatehouse's host (e.g. `example.com`) whose apps share the session
    /// cookie over https (`__Secure-gatehouse_session; Domain=…`); unset, the cookie is
    /// gatehouse's host's alone (`__Host-`).
    pub cookie_domain: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptchaConfig {
    pub enabled: bool,
    pub length: u32,
    pub ttl: HumanDuration,
}

impl Default for CaptchaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            length: 5,
            ttl: HumanDuration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RagflowConfig {
    pub listen: Option<SocketAddr>,
    /// Where RAGFlow's clients reach the profile (default `http://{listen}`); providers must
    /// have `{public_base_url}/api/v1/auth/oauth/{channel}/callback` registered.
    pub public_base_url: Option<String>,
    pub secret_key: Option<Secret>,
    pub secret_key_file: Option<PathBuf>,
    pub rsa_private_key_file: Option<PathBuf>,
    pub rsa_passphrase: Option<Secret>,
    pub register_enabled: bool,
    pub disable_password_login: bool,
    pub token_max_age: HumanDuration,
    pub password_policy: crate::passwords::PasswordPolicy,
    /// RAGFlow's model catalog (`conf/llm_factories.json`): the providers the profile accepts
    /// and the models an instance created without `model_info` gets.
    pub llm_factories: Option<PathBuf>,
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

impl Default for RagflowConfig {
    fn default() -> Self {
        Self {
            listen: None,
            public_base_url: None,
            secret_key: None,
            secret_key_file: None,
            rsa_private_key_file: None,
            rsa_passphrase: None,
            register_enabled: true,
            disable_password_login: false,
            token_max_age: HumanDuration::from_secs(7 * 86400),
            password_policy: crate::passwords::PasswordPolicy::Native,
            llm_factories: None,
        }
    }
}

/// The web pages' branding and an optional directory whose templates replace the built-in ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Files here (`login.html`, `base.html`, …) override the embedded templates of that name.
    pub templates_dir: Option<PathBuf>,
    /// An image shown next to the product name (https URL or a path on this site).
    pub logo_url: Option<String>,
    /// `#rrggbb`; buttons carry white text on it, so pick a colour dark enough for AA contrast.
    pub accent_color: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            templates_dir: None,
            logo_url: None,
            accent_color: "#1d4ed8".into(),
        }
    }
}

impl WebConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let c = &self.accent_color;
        if c.len() != 7 || !c.starts_with('#') || !c[1..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError(
                "invalid value for `web.accent_color`: expected #rrggbb".into(),
            ));
        }
        Ok(())
    }
}

/// Users' own mail accounts (IMAP/SMTP) used through gatehouse.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailAccountsConfig {
    /// Let accounts name hosts on loopback, private or link-local addresses (intranets, tests);
    /// off, gatehouse cannot be used to probe the inside network.
    pub allow_private_hosts: bool,
    /// Bound of every network step with a user's mail server.
    pub timeout: HumanDuration,
    /// Messages a user may send per hour through their accounts.
    pub send_per_hour: u32,
    /// Extra root certificate (PEM) to trust for users' mail servers, e.g. a private CA.
    pub ca_file: Option<PathBuf>,
    /// An unused pooled IMAP session is closed after this long.
    pub idle_timeout: HumanDuration,
}

impl Default for MailAccountsConfig {
    fn default() -> Self {
        Self {
            allow_private_hosts: false,
            timeout: HumanDuration::from_secs(20),
            send_per_hour: 100,
            ca_file: None,
            idle_timeout: HumanDuration::from_secs(120),
        }
    }
}

impl MailAccountsConfig {
    fn check(&self) -> Result<(), ConfigError> {
        if self.timeout.0.is_zero() {
            return Err(ConfigError(
                "invalid value for `mail_accounts.timeout`: must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// BotServer's documented `/api/email/*` and `/api/auth/*` routes on the main listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotserverConfig {
    pub enabled: bool,
}

impl Default for BotserverConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// A configuration value that must never be printed: `Debug` and `Serialize` mask it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // URLs keep their shape so operators can see which server is meant.
        s.serialize_str(&mask_url_password(&self.0).unwrap_or_else(|| "********".into()))
    }
}

/// `postgres://u:pw@host/db` → `postgres://u:****@host/db`; `None` when the value is not a URL.
pub fn mask_url_password(value: &str) -> Option<String> {
    let mut url = url::Url::parse(value).ok()?;
    if url.cannot_be_a_base() {
        return None;
    }
    if url.password().is_some() {
        url.set_password(Some("****")).ok()?;
    }
    Some(url.to_string())
}

/// The longest duration a setting may name.
const MAX_DURATION: Duration = Duration::from_secs(100 * 366 * 86400);

/// A URL as it may be printed: its password masked; of a value the URL parser refuses (so its
/// password cannot be told apart), only what follows the last `@` is kept.
pub fn shown_url(value: &str) -> String {
    if let Some(masked) = mask_url_password(value) {
        return masked;
    }
    match value.rsplit_once('@') {
        Some((before, host)) => {
            let scheme = before.split_once("://").map_or("", |(s, _)| s);
            format!("{scheme}://****@{host}")
        }
        None => value.to_string(),
    }
}

/// A duration written the humantime way ("90s", "15m", "7d").
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
    pub fn secs(self) -> i64 {
        i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX)
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let duration = humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like \"90s\" or \"15m\" ({e})"
            ))
        })?;
        // Times are unix seconds in i64: a longer span would overflow `now + duration`.
        if duration > MAX_DURATION {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is longer than 100 years"
            )));
        }
        Ok(HumanDuration(duration))
    }
}

/// Values given on the command line; they win over file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// A configuration problem, phrased as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub struct Loaded {
    pub config: Config,
    /// `GATEHOUSE_*` variables that name no key, and settings that work but will surprise:
    /// reported, not fatal.
    pub warnings: Vec<String>,
}

impl Config {
    /// Merge defaults, the TOML file, `GATEHOUSE_*` variables and flags, then check the values.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Loaded, ConfigError> {
        let known = known_env_keys();
        let mut warnings = Vec::new();
        for (name, _) in std::env::vars() {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NON_CONFIG_VARS.iter().any(|p| rest.starts_with(p)) {
                continue;
            }
            if !known.matches(&env_key_path(rest)) {
                warnings.push(format!(
                    "environment variable {name} names no configuration key; ignored"
                ));
            }
        }

        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let env = Env::prefixed(ENV_PREFIX)
            .filter(move |k| {
                let k = k.as_str();
                !NON_CONFIG_VARS
                    .iter()
                    .any(|p| k.to_ascii_uppercase().starts_with(p))
                    && known.matches(&env_key_path(k))
            })
            .split("__");
        // figment panics on some escapes in non-ASCII variable values (while merging them);
        // that is a bad value, not a reason to crash.
        let extracted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut figment = figment.merge(env);
            if let Some(listen) = &overrides.listen {
                figment = figment.merge(Serialized::global("listen", listen));
            }
            if let Some(dir) = &overrides.data_dir {
                figment = figment.merge(Serialized::global("data_dir", dir));
            }
            figment.extract::<Config>().map_err(describe_figment_error)
        }))
        .map_err(|_| {
            ConfigError(
                "a GATEHOUSE_* variable holds a value that cannot be read (check backslash escapes)"
                    .into(),
            )
        })?;
        let config: Config = extracted?;
        config.validate()?;
        warnings.extend(config.base_url_warnings());
        Ok(Loaded { config, warnings })
    }

    /// A base URL left to default to a wildcard listen address (`http://0.0.0.0:8080`) names no
    /// reachable host: the provider redirect URIs built from it cannot work.
    fn base_url_warnings(&self) -> Vec<String> {
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

    fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |key: &str, why: &str| Err(ConfigError(format!("invalid value for `{key}`: {why}")));
        let base_urls = [
            ("public_base_url", &self.public_base_url),
            ("ragflow.public_base_url", &self.ragflow.public_base_url),
        ];
        for (key, url) in base_urls {
            let Some(url) = url else { continue };
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return bad(
                        key,
                        "expected an http(s) URL such as https://auth.example.com",
                    );
                }
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
        for (id, p) in &self.providers {
            if p.kind.is_none() {
                return bad(
                    &format!("providers.{id}.type"),
                    "expected \"oidc\", \"oauth2\" or \"github\"",
                );
            }
            if p.client_id.is_none() {
                return bad(&format!("providers.{id}.client_id"), "is required");
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

    /// The merged configuration as TOML with every secret masked (`check-config`).
    pub fn to_masked_toml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        fill_derived(&mut value, self);
        let value: toml::Value =
            serde_json::from_value(strip_nulls(value)).unwrap_or(toml::Value::Integer(0));
        toml::to_string_pretty(&value).unwrap_or_default()
    }
}

fn fill_derived(value: &mut serde_json::Value, config: &Config) {
    if let Some(map) = value.as_object_mut() {
        let db = config.database_url();
        map.insert("database_url".into(), shown_url(&db).into());
        map.insert("public_base_url".into(), config.public_base_url().into());
    }
}

fn strip_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, strip_nulls(v)))
            .collect(),
        other => other,
    }
}

fn describe_figment_error(error: figment::Error) -> ConfigError {
    let first = error.into_iter().next();
    let Some(e) = first else {
        return ConfigError("invalid configuration".into());
    };
    let key = e.path.join(".");
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    let kind = match &e.kind {
        figment::error::Kind::UnknownField(field, _) => {
            // figment's path already ends with the unknown field (`smtp.hots`): adding the
            // field again named it twice (`foo.foo`).
            let full = if e.path.last() == Some(field) {
                key
            } else if key.is_empty() {
                field.clone()
            } else {
                format!("{key}.{field}")
            };
            return ConfigError(format!("unknown configuration key `{full}`{source}"));
        }
        // A TOML parse error quotes the offending line, which may hold a secret: only the
        // position and the reason are kept.
        other => other
            .to_string()
            .lines()
            .filter(|line| {
                !line
                    .trim_start()
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .trim_start()
                    .starts_with('|')
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    if key.is_empty() {
        ConfigError(format!("invalid configuration{source}: {kind}"))
    } else {
        ConfigError(format!("invalid value for `{key}`{source}: {kind}"))
    }
}

/// `SMTP__HOST` → `smtp.host`.
fn env_key_path(rest: &str) -> String {
    rest.to_ascii_lowercase().replace("__", ".")
}

/// Every configuration key, derived from the defaults so the list can never drift from the struct.
#[derive(Clone)]
struct KnownKeys {
    exact: BTreeSet<String>,
    provider_fields: BTreeSet<String>,
}

impl KnownKeys {
    fn matches(&self, path: &str) -> bool {
        if self.exact.contains(path) {
            return true;
        }
        let mut parts = path.splitn(3, '.');
        matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some("providers"), Some(id), Some(field)) if !id.is_empty() && self.provider_fields.contains(field)
        )
    }
}

fn known_env_keys() -> KnownKeys {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_object() && k != "providers" {
                    walk(&path, v, out);
                } else {
                    out.insert(path);
                }
            }
        }
    }
    let mut exact = BTreeSet::new();
    walk(
        "",
        &serde_json::to_value(Config::default()).unwrap_or_default(),
        &mut exact,
    );
    let mut provider_fields = BTreeSet::new();
    walk(
        "",
        &serde_json::to_value(ProviderConfig::default()).unwrap_or_default(),
        &mut provider_fields,
    );
    KnownKeys {
        exact,
        provider_fields,
    }
}

/// One line of meaning for every configuration key, in the order `gatehouse config-example`
/// writes them, with a sample value for keys that have no default (those are written commented
/// out). A test checks that this table and the configuration types name the same keys, so a new
/// key fails the build's tests until it has its line here. `providers.*.KEY` stands for each
/// provider's table. Add a key's line in its section.
pub const KEY_DOCS: &[(&str, &str, &str)] = &[
    // (key, sample value when there is no default, meaning)
    ("listen", "", "Address and port of the HTTP listener."),
    (
        "data_dir",
        "",
        "Directory of the SQLite database, the generated secret key, the lock file and dev mail.",
    ),
    (
        "database_url",
        "\"postgres://gatehouse:PASSWORD@127.0.0.1:5432/gatehouse\"",
        "Database URL (sqlite:// or postgres://); default: the SQLite file {data_dir}/gatehouse.db.",
    ),
    (
        "redis_url",
        "\"redis://127.0.0.1:6379\"",
        "Redis for short-lived state shared by several instances; default: kept in process.",
    ),
    (
        "redis_prefix",
        "",
        "Put before every Redis key, so several deployments can share one Redis.",
    ),
    (
        "public_base_url",
        "\"https://auth.example.com\"",
        "The URL users reach (links in mail, provider redirects; https makes cookies Secure); default: http://{listen}.",
    ),
    ("product_name", "", "The name users see in mails and pages."),
    (
        "secret_key",
        "\"AT-LEAST-32-RANDOM-CHARACTERS\"",
        "The server key (at least 32 characters); prefer secret_key_file.",
    ),
    (
        "secret_key_file",
        "\"/etc/gatehouse/secret.key\"",
        "File holding the server key; default: {data_dir}/secret.key, generated with mode 0600 at first start.",
    ),
    ("registration_enabled", "", "Anyone may create an account."),
    (
        "password_login_enabled",
        "",
        "Sign-in with a password (false: providers only).",
    ),
    (
        "email_verification_required",
        "",
        "New accounts must confirm their address before signing in.",
    ),
    (
        "login_after_verification",
        "",
        "Confirming the address of a new account signs it in.",
    ),
    (
        "captcha_after_failures",
        "",
        "Consecutive failed sign-ins of an account before the captcha is required.",
    ),
    (
        "ip_captcha_after_failures",
        "",
        "Failed sign-ins from one IP within 15 minutes before the captcha is required (5 times this refuses the IP).",
    ),
    (
        "lockout_threshold",
        "",
        "Failed sign-ins that lock an account for lockout_duration (1 to 100).",
    ),
    ("lockout_duration", "", "How long a lockout lasts."),
    (
        "max_consecutive_failures",
        "",
        "Failed sign-ins without a success after which password sign-in stays locked until a reset or an unlock (1 to 100).",
    ),
    (
        "session_idle_timeout",
        "",
        "A session unused this long ends.",
    ),
    (
        "session_lifetime",
        "",
        "A session ends this long after sign-in, used or not.",
    ),
    (
        "metrics_listen",
        "\"127.0.0.1:9100\"",
        "Serve /metrics on this separate listener instead of the main one.",
    ),
    (
        "trusted_proxies",
        "",
        "Networks (CIDR) of reverse proxies whose X-Forwarded-For is believed.",
    ),
    ("log_format", "", "\"text\" or \"json\"."),
    (
        "smtp.host",
        "\"smtp.example.com\"",
        "SMTP server; default: mail is written to {data_dir}/mail/ (needs public_base_url when set).",
    ),
    (
        "smtp.port",
        "587",
        "SMTP port; default: 465, 587 or 25 by tls.",
    ),
    (
        "smtp.tls",
        "",
        "\"implicit\", \"starttls\" (required, never optional) or \"none\".",
    ),
    ("smtp.username", "\"gatehouse\"", "SMTP AUTH user."),
    (
        "smtp.password",
        "\"PASSWORD\"",
        "SMTP AUTH password; prefer password_file.",
    ),
    (
        "smtp.password_file",
        "\"/etc/gatehouse/smtp-password\"",
        "File holding the SMTP AUTH password.",
    ),
    ("smtp.from_name", "", "Display name of the From: header."),
    (
        "smtp.from_address",
        "\"noreply@example.com\"",
        "Address of the From: header; default: noreply@ the host of public_base_url.",
    ),
    (
        "smtp.timeout",
        "",
        "Bounds connecting and each delivery attempt.",
    ),
    (
        "smtp.allow_insecure_auth",
        "",
        "Allow AUTH over tls = \"none\" (a trusted local relay only).",
    ),
    (
        "smtp.give_up_after",
        "",
        "A mail still undelivered this long after it was queued is marked failed.",
    ),
    (
        "smtp.ca_file",
        "\"/etc/gatehouse/smtp-ca.pem\"",
        "Extra root certificate (PEM) to trust for the SMTP server.",
    ),
    (
        "providers.*.type",
        "\"oidc\"",
        "\"oidc\", \"oauth2\" or \"github\".",
    ),
    (
        "providers.*.name",
        "\"Corp SSO\"",
        "Shown on the sign-in page; default: the provider id.",
    ),
    (
        "providers.*.icon",
        "\"sso\"",
        "Icon name shown beside the name.",
    ),
    (
        "providers.*.client_id",
        "\"gatehouse\"",
        "Client id registered at the provider (required).",
    ),
    (
        "providers.*.client_secret",
        "\"SECRET\"",
        "Client secret; prefer client_secret_file.",
    ),
    (
        "providers.*.client_secret_file",
        "\"/etc/gatehouse/corp-secret\"",
        "File holding the client secret.",
    ),
    (
        "providers.*.issuer",
        "\"https://sso.example.com\"",
        "OpenID issuer; discovery at {issuer}/.well-known/openid-configuration (oidc).",
    ),
    (
        "providers.*.authorization_url",
        "\"https://sso.example.com/authorize\"",
        "Authorization endpoint (oauth2).",
    ),
    (
        "providers.*.token_url",
        "\"https://sso.example.com/token\"",
        "Token endpoint (oauth2).",
    ),
    (
        "providers.*.userinfo_url",
        "\"https://sso.example.com/userinfo\"",
        "Userinfo endpoint (oauth2).",
    ),
    (
        "providers.*.api_base_url",
        "\"https://api.github.com\"",
        "GitHub API base URL (github; for GitHub Enterprise).",
    ),
    (
        "providers.*.web_base_url",
        "\"https://github.com\"",
        "GitHub web base URL (github; for GitHub Enterprise).",
    ),
    (
        "providers.*.scopes",
        "[\"openid\", \"email\", \"profile\"]",
        "Scopes to ask for; default by type.",
    ),
    (
        "providers.*.allow_registration",
        "true",
        "Unknown users may create an account through this provider.",
    ),
    (
        "providers.*.trust_email",
        "false",
        "An email without an email_verified claim counts as verified.",
    ),
    (
        "captcha.enabled",
        "",
        "Show a captcha after repeated failures.",
    ),
    ("captcha.length", "", "Characters in a captcha (4 to 8)."),
    ("captcha.ttl", "", "How long a captcha can be answered."),
    (
        "ragflow.listen",
        "\"127.0.0.1:9380\"",
        "Address of RAGFlow's compatibility profile; default: off.",
    ),
    (
        "ragflow.public_base_url",
        "\"https://ragflow.example.com\"",
        "Where RAGFlow's clients reach the profile; default: http://{listen}.",
    ),
    (
        "ragflow.secret_key",
        "\"AT-LEAST-32-RANDOM-CHARACTERS\"",
        "Signs the profile's tokens; default: RAGFLOW_SECRET_KEY, else derived from the server key.",
    ),
    (
        "ragflow.secret_key_file",
        "\"/etc/gatehouse/ragflow.key\"",
        "File holding ragflow.secret_key.",
    ),
    (
        "ragflow.rsa_private_key_file",
        "\"/etc/gatehouse/ragflow-private.pem\"",
        "RSA key of RAGFlow's password transport; default: RAGFlow's published pair.",
    ),
    (
        "ragflow.rsa_passphrase",
        "\"PASSPHRASE\"",
        "Passphrase of rsa_private_key_file.",
    ),
    (
        "ragflow.register_enabled",
        "",
        "Registration as reported by the profile's /system/config.",
    ),
    (
        "ragflow.disable_password_login",
        "",
        "Reported by the profile's /system/config, as in RAGFlow.",
    ),
    (
        "ragflow.token_max_age",
        "",
        "Lifetime of the profile's tokens.",
    ),
    (
        "ragflow.password_policy",
        "",
        "\"native\" or \"ragflow\" (no rule for new passwords).",
    ),
    (
        "ragflow.llm_factories",
        "\"/opt/ragflow/conf/llm_factories.json\"",
        "RAGFlow's model catalog.",
    ),
    (
        "web.templates_dir",
        "\"/etc/gatehouse/templates\"",
        "Templates here replace the built-in pages of the same name.",
    ),
    (
        "web.logo_url",
        "\"https://example.com/logo.svg\"",
        "Image shown next to the product name.",
    ),
    (
        "web.accent_color",
        "",
        "#rrggbb of buttons and links (white text on it: keep it dark).",
    ),
    (
        "mail_accounts.allow_private_hosts",
        "",
        "Let users' mail accounts name loopback, private or link-local hosts (intranets, tests).",
    ),
    (
        "mail_accounts.timeout",
        "",
        "Bound of every network step with a user's mail server.",
    ),
    (
        "mail_accounts.send_per_hour",
        "",
        "Messages a user may send per hour through their mail accounts.",
    ),
    (
        "mail_accounts.ca_file",
        "\"/etc/gatehouse/mail-ca.pem\"",
        "Extra root certificate (PEM) trusted for users' mail servers.",
    ),
    (
        "mail_accounts.idle_timeout",
        "",
        "An unused pooled IMAP session is closed after this long.",
    ),
    (
        "botserver.enabled",
        "",
        "Serve BotServer's documented /api/email and /api/auth routes on the main listener.",
    ),
    (
        "mfa.required_for",
        "",
        "Who must have a second factor: \"none\", \"superusers\" or \"all\".",
    ),
    (
        "webauthn.rp_id",
        "\"example.com\"",
        "Passkeys' relying party id (a domain); default: the host of public_base_url.",
    ),
    (
        "webauthn.rp_name",
        "\"Example Inc.\"",
        "Name authenticators show; default: product_name.",
    ),
    (
        "webauthn.origins",
        "",
        "Origins allowed to answer passkey ceremonies; default: public_base_url itself.",
    ),
    (
        "oidc_provider.access_token_ttl",
        "",
        "Lifetime of the access and ID tokens gatehouse issues to applications.",
    ),
    (
        "oidc_provider.refresh_token_ttl",
        "",
        "Lifetime of a refresh token (each use rotates it).",
    ),
    (
        "oidc_provider.code_ttl",
        "",
        "Lifetime of an authorization code (single use).",
    ),
    (
        "forward_auth.allowed_hosts",
        "",
        "Hosts (app.example.com or host:port) a sign-in may return to by absolute URL.",
    ),
    (
        "forward_auth.cookie_domain",
        "\"example.com\"",
        "Parent domain whose apps share the session cookie over https (__Secure- with Domain).",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_named_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (toml, key) in [
            ("foo = 1\n", "`foo`"),
            ("[smtp]\nhots = \"mail\"\n", "`smtp.hots`"),
        ] {
            let path = dir.path().join("g.toml");
            std::fs::write(&path, toml).unwrap_or_else(|e| panic!("{e}"));
            let err = match Config::load(Some(&path), &Overrides::default()) {
                Ok(_) => panic!("{toml:?} was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(
                err.starts_with(&format!("unknown configuration key {key} (in ")),
                "{err}"
            );
        }
    }

    #[test]
    fn env_keys_are_derived_from_the_struct() {
        let k = known_env_keys();
        assert!(k.matches("smtp.host"));
        assert!(k.matches("lockout_duration"));
        assert!(k.matches("providers.corp.client_id"));
        assert!(!k.matches("providers.corp.nonsense"));
        assert!(!k.matches("smtp.hots"));
    }

    #[test]
    fn a_wildcard_listen_without_a_base_url_is_warned_about_when_providers_need_it() {
        let mut config = Config {
            listen: "0.0.0.0:8080".parse().unwrap_or_else(|e| panic!("{e}")),
            ..Config::default()
        };
        assert!(
            config.base_url_warnings().is_empty(),
            "no provider, no redirect URI"
        );
        config
            .providers
            .insert("corp".into(), ProviderConfig::default());
        config.ragflow.listen = "0.0.0.0:9380".parse().ok();
        let warnings = config.base_url_warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("http://0.0.0.0:8080"), "{warnings:?}");
        assert!(
            warnings[1].contains("`ragflow.public_base_url`"),
            "{warnings:?}"
        );
        config.public_base_url = Some("https://auth.example.com".into());
        config.ragflow.public_base_url = Some("https://rag.example.com".into());
        assert!(config.base_url_warnings().is_empty());
    }

    #[test]
    fn base_urls_must_be_http_urls() {
        let mut config = Config::default();
        assert!(config.validate().is_ok());
        config.ragflow.public_base_url = Some("ftp://ragflow.example.com".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`ragflow.public_base_url`"), "{err}");
        config.ragflow.public_base_url = Some("https://ragflow.example.com/".into());
        assert!(config.validate().is_ok());
        assert_eq!(
            config.ragflow.public_base_url(),
            "https://ragflow.example.com"
        );
        config.public_base_url = Some("auth.example.com".into());
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("`public_base_url`")
        );
    }

    #[test]
    fn smtp_host_without_public_base_url_is_refused() {
        let mut config = Config::default();
        assert!(
            config.validate_mail_delivery().is_ok(),
            "the file sink needs no URL"
        );
        config.smtp.host = Some("mail.example.com".into());
        let err = config.validate_mail_delivery().unwrap_err().to_string();
        assert!(err.contains("public_base_url"), "{err}");
        config.public_base_url = Some("https://auth.example.com".into());
        assert!(config.validate_mail_delivery().is_ok());
    }

    #[test]
    fn smtp_credentials_in_clear_text_need_consent() {
        let mut config = Config::default();
        config.smtp.host = Some("relay.local".into());
        config.smtp.tls = SmtpTls::None;
        config.smtp.username = Some("app".into());
        config.smtp.password = Some(Secret::new("smtp-pass-1234"));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("smtp.allow_insecure_auth"), "{err}");
        assert!(!err.contains("smtp-pass-1234"), "{err}");
        config.smtp.allow_insecure_auth = true;
        assert!(config.validate().is_ok());
        config.smtp.allow_insecure_auth = false;
        config.smtp.tls = SmtpTls::Starttls;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2hunter2")),
            "\"********\""
        );
        let masked = mask_url_password("postgres://u:pw@db:5432/x").unwrap_or_default();
        assert_eq!(masked, "postgres://u:****@db:5432/x");
        // `#` ends the authority, so the URL parser refuses this one; the password still hides.
        assert_eq!(
            shown_url("postgres://app:pw#1@db.local/gh"),
            "postgres://****@db.local/gh"
        );
        assert_eq!(shown_url("sqlite://./data/g.db"), "sqlite://./data/g.db");
    }
}

#[cfg(test)]
mod fuzz_config {
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;

    use super::*;
    use crate::fuzz::{config, hostile_text};

    /// TOML values of every type, and the strings the settings parse (durations, addresses,
    /// networks, URLs, enum names), at their edges.
    fn toml_value() -> impl Strategy<Value = String> {
        let text = prop_oneof![
            hostile_text(40),
            (any::<u64>(), "(ns|us|ms|s|m|h|d|w|M|y|years|)")
                .prop_map(|(n, unit)| format!("{n}{unit}")),
            Just("300000000000y".to_string()),
            Just("0s".to_string()),
            Just("1s 5m".to_string()),
            "(127\\.0\\.0\\.1|0\\.0\\.0\\.0|\\[::1\\]|::1|10\\.0\\.0\\.0|[0-9]{1,4}(\\.[0-9]{1,4}){0,4}):[0-9]{0,6}",
            "(10\\.0\\.0\\.0|::|fe80::1|[0-9]{1,3}(\\.[0-9]{1,3}){3})/[0-9]{1,3}",
            "(https?|postgres|postgresql|sqlite|redis|rediss|ftp|)://[a-z0-9@:./\\[\\]%?=-]{0,30}",
            "(text|json|implicit|starttls|none|oidc|oauth2|github|native|ragflow|light|en|zh-CN)",
        ];
        let scalar = prop_oneof![
            text.prop_map(|s| toml::Value::String(s).to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            (0i64..300).prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            Just("1979-05-27T07:32:00Z".to_string()),
        ];
        prop_oneof![
            4 => scalar.clone(),
            1 => proptest::collection::vec(scalar.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            1 => scalar.prop_map(|v| format!("{{ client_id = {v} }}")),
            1 => hostile_text(30),
        ]
    }

    /// Every key with its default, so that most values generated are of the key's own type and
    /// the loader gets past the type check to the checks of the values themselves.
    fn keys_with_defaults() -> Vec<(String, serde_json::Value)> {
        fn walk(
            prefix: &str,
            value: &serde_json::Value,
            out: &mut Vec<(String, serde_json::Value)>,
        ) {
            if let serde_json::Value::Object(map) = value {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if v.is_object() && k != "providers" {
                        walk(&path, v, out);
                    } else {
                        out.push((path, v.clone()));
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(
            "",
            &serde_json::to_value(Config::default()).unwrap_or_default(),
            &mut out,
        );
        out
    }

    /// A value of the same type as `default`: near the default, at the edges, or any text.
    fn typed_value(default: serde_json::Value) -> BoxedStrategy<String> {
        match default {
            serde_json::Value::Bool(_) => any::<bool>().prop_map(|b| b.to_string()).boxed(),
            serde_json::Value::Number(_) => prop_oneof![
                (0i64..12).prop_map(|n| n.to_string()),
                (0i64..300).prop_map(|n| n.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
            ]
            .boxed(),
            serde_json::Value::Array(_) => proptest::collection::vec(
                "(10\\.0\\.0\\.0|::|fe80::1|[0-9]{1,3}(\\.[0-9]{1,3}){3})(/[0-9]{1,3})?",
                0..3,
            )
            .prop_map(|v| toml::Value::from(v).to_string())
            .boxed(),
            serde_json::Value::String(d) => prop_oneof![
                3 => Just(toml::Value::String(d).to_string()),
                1 => toml_value(),
            ]
            .boxed(),
            _ => toml_value().boxed(),
        }
    }

    fn entry(known: Vec<String>) -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            4 => proptest::sample::select(keys_with_defaults())
                .prop_flat_map(|(k, d)| typed_value(d).prop_map(move |v| (k.clone(), v))),
            1 => (key(known), toml_value()),
        ]
    }

    /// The text of a TOML string literal; any other value as written.
    fn unquoted(value: &str) -> String {
        toml::from_str::<toml::Table>(&format!("x = {value}"))
            .ok()
            .and_then(|t| t.get("x").and_then(|x| x.as_str().map(str::to_string)))
            .unwrap_or_else(|| value.to_string())
    }

    fn key(known: Vec<String>) -> impl Strategy<Value = String> {
        prop_oneof![
            6 => proptest::sample::select(known),
            1 => "providers\\.[a-z]{1,6}\\.(type|client_id|client_secret|issuer|scopes|nonsense)",
            1 => "[a-z_]{1,12}(\\.[a-z_]{1,8})?",
        ]
    }

    fn known_paths() -> Vec<String> {
        known_env_keys().exact.into_iter().collect()
    }

    fn env_name(path: &str) -> String {
        format!(
            "{ENV_PREFIX}{}",
            path.replace('.', "__").to_ascii_uppercase()
        )
    }

    /// Load `toml` as the configuration file with `env` set, inside a jail (its own directory,
    /// the environment restored afterwards).
    // `Jail` decides the closure's error type (figment's own, which is large).
    #[allow(clippy::result_large_err)]
    fn load(toml: &str, env: &[(String, String)]) -> Result<Loaded, ConfigError> {
        let mut outcome = Err(ConfigError("jail failed".into()));
        figment::Jail::expect_with(|jail| {
            jail.create_file("gatehouse.toml", toml)?;
            for (name, value) in env {
                jail.set_env(name, value);
            }
            outcome = Config::load(Some(Path::new("gatehouse.toml")), &Overrides::default());
            Ok(())
        });
        outcome
    }

    /// What every accepted configuration promises the code that uses it.
    fn check_accepted(config: &Config) -> Result<(), TestCaseError> {
        prop_assert!((1..=100).contains(&config.lockout_threshold));
        prop_assert!((4..=8).contains(&config.captcha.length));
        prop_assert!(config.captcha_after_failures >= 1);
        let now = 4_102_444_800i64; // 2100-01-01
        for d in [
            config.lockout_duration,
            config.session_idle_timeout,
            config.session_lifetime,
            config.smtp.timeout,
            config.smtp.give_up_after,
            config.captcha.ttl,
            config.ragflow.token_max_age,
        ] {
            prop_assert!(now.checked_add(d.secs()).is_some(), "{d:?}");
        }
        let _ = config.to_masked_toml();
        Ok(())
    }

    /// Arbitrary TOML (well-formed with hostile values, or not TOML at all) and arbitrary
    /// `GATEHOUSE_*` values: a configuration or an error, never a panic.
    #[test]
    fn fuzz_config_file_and_environment_load_or_fail() {
        let known = known_paths();
        let strategy = (
            proptest::collection::vec(entry(known.clone()), 0..5),
            hostile_text(200),
            proptest::bool::weighted(0.1),
            proptest::collection::vec(entry(known), 0..3),
        );
        let result = TestRunner::new(config(300)).run(&strategy, |(entries, junk, raw, env)| {
            let toml = if raw {
                junk
            } else {
                entries
                    .iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            // A variable holds a string as it is, not quoted; the OS carries no NUL in one.
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (env_name(k), unquoted(v).replace('\0', "")))
                .collect();
            if let Ok(loaded) = load(&toml, &env) {
                check_accepted(&loaded.config)?;
            }
            Ok(())
        });
        assert!(result.is_ok(), "{result:?}");
    }

    /// Secrets given in the file or the environment never show in an error, a warning, `Debug`
    /// or `check-config`'s output, whatever else is wrong with the configuration.
    #[test]
    fn fuzz_config_secrets_never_show() {
        let strategy = (
            "[A-Za-z0-9]{6,12}",
            "[A-Za-z0-9 @:/?#%.\\[\\]-]{0,10}",
            proptest::sample::select(vec![
                "secret_key",
                "smtp.password",
                "ragflow.secret_key",
                "ragflow.rsa_passphrase",
                "providers.corp.client_secret",
                "database_url",
                "redis_url",
            ]),
            any::<bool>(),
            proptest::collection::vec((key(known_paths()), toml_value()), 0..4),
        );
        let result = TestRunner::new(config(300)).run(
            &strategy,
            |(marker, noise, secret_key, by_env, others)| {
                let marker = format!("Zq{marker}");
                let secret = match secret_key {
                    "database_url" => format!("postgres://app:{marker}{noise}@db.local/gh"),
                    "redis_url" => format!("redis://:{marker}{noise}@cache.local"),
                    _ => format!("{marker}{noise}"),
                };
                let mut lines: Vec<String> = others
                    .iter()
                    .filter(|(k, _)| k != secret_key)
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                let mut env = Vec::new();
                if by_env {
                    env.push((env_name(secret_key), secret.clone()));
                } else {
                    lines.push(format!(
                        "{secret_key} = {}",
                        toml::Value::String(secret.clone())
                    ));
                }
                match load(&lines.join("\n"), &env) {
                    Ok(loaded) => {
                        for text in [
                            format!("{:?}", loaded.config),
                            loaded.config.to_masked_toml(),
                            loaded.warnings.join("\n"),
                        ] {
                            prop_assert!(!text.contains(&marker), "{text}");
                        }
                    }
                    Err(e) => prop_assert!(!e.0.contains(&marker), "{}", e.0),
                }
                Ok(())
            },
        );
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn durations_beyond_a_century_are_refused() {
        let err = load("session_lifetime = \"300000000000y\"", &[])
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(
            err.contains("session_lifetime") && err.contains("100 years"),
            "{err}"
        );
        assert!(load("session_lifetime = \"99y\"", &[]).is_ok());
    }
}
