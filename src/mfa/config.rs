//! The `[mfa]` and `[webauthn]` configuration sections.

use serde::{Deserialize, Serialize};

/// Who must have a second factor (`[mfa] required_for`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequiredFor {
    #[default]
    None,
    Superusers,
    All,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    pub required_for: RequiredFor,
}

/// The WebAuthn relying party; every value defaults from `public_base_url`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// A domain: the host of `public_base_url` or a registrable suffix of it.
    pub rp_id: Option<String>,
    /// Shown by the authenticator; defaults to `product_name`.
    pub rp_name: Option<String>,
    /// Origins allowed to answer ceremonies; defaults to `public_base_url` itself.
    pub origins: Vec<String>,
}

impl WebauthnConfig {
    /// The relying party id: `rp_id`, else the host of `public_base_url` when it is a domain
    /// (`None` for an IP address, where WebAuthn cannot work).
    pub fn rp_id(&self, public_base_url: &str) -> Option<String> {
        if let Some(id) = &self.rp_id {
            return Some(id.clone());
        }
        match url::Url::parse(public_base_url).ok()?.host()? {
            url::Host::Domain(d) => Some(d.to_string()),
            _ => None,
        }
    }

    /// The origins allowed to answer: `origins`, else `public_base_url`.
    pub fn origins(&self, public_base_url: &str) -> Vec<url::Url> {
        let listed: Vec<&str> = if self.origins.is_empty() {
            vec![public_base_url]
        } else {
            self.origins.iter().map(String::as_str).collect()
        };
        listed
            .into_iter()
            .filter_map(|o| url::Url::parse(o).ok())
            .collect()
    }

    /// Startup check: an explicit relying party must be a domain that every origin's host is
    /// (or ends with), and origins must be http(s) URLs.
    pub fn check(&self, public_base_url: &str) -> Result<(), String> {
        for origin in &self.origins {
            match url::Url::parse(origin) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => {
                    return Err(format!(
                        "invalid value for `webauthn.origins`: {origin:?} is not an http(s) origin such as https://auth.example.com"
                    ));
                }
            }
        }
        let Some(rp_id) = &self.rp_id else {
            return Ok(());
        };
        let bad = |why: &str| Err(format!("invalid value for `webauthn.rp_id`: {why}"));
        match url::Host::parse(rp_id) {
            Ok(url::Host::Domain(d)) if d == rp_id.as_str() && !d.is_empty() => {}
            _ => {
                return bad(
                    "expected a domain name such as example.com (not an IP address or URL)",
                );
            }
        }
        for origin in self.origins(public_base_url) {
            let host = origin.host_str().unwrap_or_default();
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return bad(&format!(
                    "the origin {} is not on {rp_id} or one of its subdomains",
                    origin.as_str().trim_end_matches('/')
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_defaults_from_the_base_url_and_is_checked() {
        let c = WebauthnConfig::default();
        assert_eq!(
            c.rp_id("http://localhost:8080").as_deref(),
            Some("localhost")
        );
        assert_eq!(c.rp_id("http://127.0.0.1:8080"), None);
        assert!(c.check("http://127.0.0.1:8080").is_ok());
        let c = WebauthnConfig {
            rp_id: Some("example.com".into()),
            ..Default::default()
        };
        assert!(c.check("https://auth.example.com").is_ok());
        assert!(c.check("https://example.org").is_err());
        let ip = WebauthnConfig {
            rp_id: Some("10.0.0.1".into()),
            ..Default::default()
        };
        assert!(ip.check("https://10.0.0.1").is_err());
        let bad_origin = WebauthnConfig {
            origins: vec!["not a url".into()],
            ..Default::default()
        };
        assert!(bad_origin.check("https://auth.example.com").is_err());
    }
}
