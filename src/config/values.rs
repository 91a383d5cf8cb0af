//! The value types of the configuration: secrets that never print, humantime durations, and
//! URLs shown with their password masked.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
