//! The account's core inputs, checked when constructed or deserialized: a value of these types
//! is always valid, and a bad one is reported against its own field (`field:<tag>`, which the
//! HTTP edge turns into the field's problem).

use serde::{Deserialize, Deserializer};

/// The serde error of a refused value: `field:<tag>` names the problem for the HTTP edge.
pub(crate) fn reject<E: serde::de::Error>(tag: &str) -> E {
    E::custom(format!("field:{tag}"))
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

/// A password in memory; `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(plain: String) -> Self {
        Self(plain)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(********)")
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Password)
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
    fn passwords_are_redacted() {
        assert_eq!(
            format!("{:?}", Password::new("secret".into())),
            "Password(********)"
        );
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
