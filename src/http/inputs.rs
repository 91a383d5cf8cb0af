//! Typed inputs, checked when deserialized: a value of these types is always valid, and a bad
//! one is reported against its own field.

use std::collections::HashSet;
use std::sync::LazyLock;

use base64::Engine;
use serde::{Deserialize, Deserializer};

use super::error::FieldProblem;

static TIMEZONES: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../../assets/timezones.txt").lines().collect());

fn reject<E: serde::de::Error>(tag: &str) -> E {
    E::custom(format!("field:{tag}"))
}

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

/// An email address as given (trimmed) and its normalised form for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub display: String,
    pub normalized: String,
}

impl Email {
    pub fn parse(raw: &str) -> Option<Self> {
        let email = raw.trim();
        if email.len() > 254
            || email
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "<>()[],;:\"\\".contains(c))
        {
            return None;
        }
        let (local, domain) = email.rsplit_once('@')?;
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || !domain.contains('.')
            || !labels_ok
        {
            return None;
        }
        Some(Self {
            display: email.to_string(),
            normalized: normalize_email(email),
        })
    }
}

/// The form used for uniqueness and look-ups.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).ok_or_else(|| reject("email"))
    }
}

/// 1–100 characters after trimming: letters, digits, space and `._'-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname(pub String);

impl Nickname {
    pub fn parse(raw: &str) -> Option<Self> {
        let nick = raw.trim();
        let count = nick.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "._'-".contains(c);
        ((1..=100).contains(&count) && nick.chars().all(allowed)).then(|| Self(nick.to_string()))
    }
}

impl<'de> Deserialize<'de> for Nickname {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Nickname::parse(&String::deserialize(d)?).ok_or_else(|| reject("nickname"))
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
    fn emails() {
        let e = Email::parse("  Ann.Lee@Example.COM ").unwrap_or_else(|| panic!("valid"));
        assert_eq!(e.display, "Ann.Lee@Example.COM");
        assert_eq!(e.normalized, "ann.lee@example.com");
        for bad in [
            "", "a", "a@b", "@b.c", "a b@c.d", "a@b..c", "a\0@b.c", "a@-b.c",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn nicknames() {
        assert!(Nickname::parse("  O'Brien-Smith Jr. ").is_some());
        assert!(Nickname::parse("张伟").is_some());
        assert!(Nickname::parse("   ").is_none());
        assert!(Nickname::parse("<script>").is_none());
        assert!(Nickname::parse(&"a".repeat(101)).is_none());
    }

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

#[cfg(test)]
mod fuzz_inputs {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz::{config, hostile_text};

    /// Addresses that are valid by construction: a local part, labels that neither start nor
    /// end with `-`, at least two of them.
    fn valid_email() -> impl Strategy<Value = String> {
        (
            "[A-Za-z0-9._%+!#$&'*/=?^`{|}~-]{1,64}",
            proptest::collection::vec("[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", 2..5),
            "[ \t]{0,2}",
        )
            .prop_filter("fits 254", |(l, d, _)| {
                l.len() + 1 + d.join(".").len() <= 254
            })
            .prop_map(|(local, labels, pad)| format!("{pad}{local}@{}{pad}", labels.join(".")))
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Whatever is typed, an accepted address is one line without blanks or separators,
        /// has a local part and a dotted domain, and parsing it again changes nothing.
        #[test]
        fn fuzz_email_parse(raw in prop_oneof![hostile_text(260), valid_email()]) {
            if let Some(e) = Email::parse(&raw) {
                prop_assert!(e.display.len() <= 254);
                prop_assert!(!e.display.chars().any(|c| c.is_control() || c.is_whitespace()));
                let (local, domain) = e.display.rsplit_once('@').unwrap_or_default();
                prop_assert!(!local.is_empty() && local.len() <= 64 && !local.contains('@'));
                prop_assert!(domain.contains('.') && !domain.split('.').any(str::is_empty));
                prop_assert_eq!(&e.normalized, &e.display.to_lowercase());
                prop_assert_eq!(Email::parse(&e.display), Some(e.clone()));
            }
        }

        /// Well-formed addresses are accepted, surrounding blanks trimmed.
        #[test]
        fn fuzz_valid_emails_are_accepted(raw in valid_email()) {
            let e = Email::parse(&raw);
            prop_assert_eq!(e.map(|e| e.display), Some(raw.trim().to_string()));
        }

        /// The JSON door refuses what `parse` refuses, with the field's own tag.
        #[test]
        fn fuzz_email_and_nickname_from_json(raw in hostile_text(260)) {
            let json = serde_json::Value::String(raw.clone());
            let email = serde_json::from_value::<Email>(json.clone());
            prop_assert_eq!(email.as_ref().ok().cloned(), Email::parse(&raw));
            if let Err(e) = email {
                prop_assert_eq!(e.to_string(), "field:email");
            }
            let nick = serde_json::from_value::<Nickname>(json);
            prop_assert_eq!(nick.ok(), Nickname::parse(&raw));
        }

        /// An accepted nickname is 1–100 trimmed characters from the allowed set, and stable.
        #[test]
        fn fuzz_nickname_parse(
            raw in prop_oneof![hostile_text(150), "[\\p{L}\\p{N} ._'-]{0,110}"],
        ) {
            if let Some(n) = Nickname::parse(&raw) {
                let count = n.0.chars().count();
                prop_assert!((1..=100).contains(&count));
                prop_assert_eq!(n.0.trim(), n.0.as_str());
                prop_assert!(n.0.chars().all(|c| c.is_alphanumeric() || " ._'-".contains(c)));
                prop_assert!(!n.0.chars().any(|c| c.is_control() || "<>\"&".contains(c)));
                prop_assert_eq!(Nickname::parse(&n.0), Some(n.clone()));
            } else {
                let trimmed = raw.trim();
                let count = trimmed.chars().count();
                prop_assert!(
                    !(1..=100).contains(&count)
                        || trimmed.chars().any(|c| !(c.is_alphanumeric() || " ._'-".contains(c)))
                );
            }
        }
    }
}
