//! The checks a configuration passes before anything uses it, and the values derived from it.

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
}
