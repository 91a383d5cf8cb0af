//! Typed profile inputs of the HTTP API, checked when deserialized: a value of these types is
//! always valid, and a bad one is reported against its own field (the core `Email`, `Nickname`
//! and `Password` are in [`crate::domain`]).

use std::collections::HashSet;
use std::sync::LazyLock;

use base64::Engine;
use serde::{Deserialize, Deserializer};

use crate::domain::inputs::reject;
use crate::error::FieldProblem;

static TIMEZONES: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../../assets/timezones.txt").lines().collect());

pub fn problem_from_tag(tag: &str) -> FieldProblem {
    match tag {
        "email" => FieldProblem::InvalidEmail,
        "nickname" => FieldProblem::InvalidNickname,
        "language" => FieldProblem::InvalidLanguage,
        "color_schema" => FieldProblem::InvalidColorSchema,
        "timezone" => FieldProblem::InvalidTimezone,
        "avatar" => FieldProblem::InvalidAvatar,
        "preferences" => FieldProblem::PreferencesTooLarge,
        "password" => FieldProblem::PasswordLength,
        _ => FieldProblem::Invalid,
    }
}

/// `en` or `zh-CN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language(pub crate::i18n::Lang);

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::i18n::Lang::parse(&String::deserialize(d)?)
            .map(Language)
            .ok_or_else(|| reject("language"))
    }
}

/// `light`, `dark` or `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColorSchema(pub String);

impl<'de> Deserialize<'de> for ColorSchema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        matches!(v.as_str(), "light" | "dark" | "system")
            .then(|| ColorSchema(v))
            .ok_or_else(|| reject("color_schema"))
    }
}

/// An IANA time zone name from the tz database shipped in the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timezone(pub String);

impl<'de> Deserialize<'de> for Timezone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        TIMEZONES
            .contains(v.as_str())
            .then_some(Timezone(v))
            .ok_or_else(|| reject("timezone"))
    }
}

const AVATAR_MAX: usize = 256 * 1024;

/// An https URL, or a PNG/JPEG/WebP data URI of at most 256 KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar(pub String);

impl Avatar {
    pub fn parse(v: &str) -> Option<Self> {
        if v.len() > AVATAR_MAX {
            return None;
        }
        if let Some(rest) = v.strip_prefix("data:") {
            let (mime, data) = rest.split_once(";base64,")?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(data)
                .ok()?;
            return (matches!(mime, "image/png" | "image/jpeg" | "image/webp")
                && !decoded.is_empty())
            .then(|| Self(v.to_string()));
        }
        let url = url::Url::parse(v).ok()?;
        (url.scheme() == "https" && url.host().is_some() && v.len() <= 2048)
            .then(|| Self(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Avatar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Avatar::parse(&String::deserialize(d)?).ok_or_else(|| reject("avatar"))
    }
}

/// A JSON object of at most 16 KiB that applications keep settings in.
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences(pub serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for Preferences {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Object(map)
                if serde_json::to_vec(&map)
                    .map(|b| b.len())
                    .unwrap_or(usize::MAX)
                    <= 16 * 1024 =>
            {
                Ok(Preferences(map))
            }
            _ => Err(reject("preferences")),
        }
    }
}

/// A field that may be absent, `null`, or a value (PATCH semantics).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Patch::Value(v),
            None => Patch::Null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatars_and_timezones() {
        assert!(Avatar::parse("https://example.com/a.png").is_some());
        assert!(Avatar::parse("http://example.com/a.png").is_none());
        assert!(Avatar::parse("data:image/png;base64,iVBORw0KGgo=").is_some());
        assert!(Avatar::parse("data:text/html;base64,PGI+").is_none());
        assert!(TIMEZONES.contains("Asia/Shanghai") && TIMEZONES.contains("UTC"));
        assert!(!TIMEZONES.contains("Mars/Olympus"));
    }
}
