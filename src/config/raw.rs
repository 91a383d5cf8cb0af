//! What is deserialized: the configuration as written in `gatehouse.toml` and `GATEHOUSE_*`,
//! with its defaults; [`super::resolved`] checks it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{HumanDuration, Secret};

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
