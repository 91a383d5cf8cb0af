//! What a new password must be: 8–256 code points, not the email, not among the 10,000 most
//! common passwords (Django's ranked `common-passwords.txt`, first 10,000 lines).

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::domain::Password;
use crate::error::{ApiError, FieldProblem};

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../assets/common-passwords.txt")
        .lines()
        .collect()
});

pub fn is_common(plain: &str) -> bool {
    COMMON.contains(plain.to_lowercase().as_str())
}

/// Which rules a new password must meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordPolicy {
    /// 8–256 characters, not the email, not among the 10,000 most common passwords.
    #[default]
    Native,
    /// RAGFlow's (none): for the compatibility profile of deployments whose users and tests
    /// keep RAGFlow's passwords.
    Ragflow,
}

impl PasswordPolicy {
    /// Check a password someone is about to set; `field` names it in the 422 answer.
    pub fn check(
        self,
        password: &Password,
        email: &str,
        field: &'static str,
    ) -> Result<(), ApiError> {
        match self {
            Self::Native => check_new_password(password, email, field),
            Self::Ragflow => Ok(()),
        }
    }
}

/// Check a password someone is about to set against the native rules; `field` names it in the
/// 422 answer.
pub fn check_new_password(
    password: &Password,
    email: &str,
    field: &'static str,
) -> Result<(), ApiError> {
    let plain = password.expose();
    let length = plain.chars().count();
    if !(8..=256).contains(&length) {
        return Err(ApiError::field(field, FieldProblem::PasswordLength));
    }
    if plain.trim().eq_ignore_ascii_case(email.trim()) || is_common(plain) {
        return Err(ApiError::WeakPassword(field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_ten_thousand_entries() {
        assert_eq!(COMMON.len(), 10_000);
        assert!(is_common("password1"));
        assert!(is_common("Password1"));
        assert!(!is_common("a quite uncommon sentence"));
    }

    #[test]
    fn policy() {
        let check =
            |p: &str| check_new_password(&Password::new(p.into()), "ann@example.com", "password");
        assert!(matches!(check("short"), Err(ApiError::Validation(_))));
        assert!(matches!(
            check(&"x".repeat(257)),
            Err(ApiError::Validation(_))
        ));
        assert!(check(&"密".repeat(8)).is_ok(), "code points, not bytes");
        assert!(matches!(
            check("12345678"),
            Err(ApiError::WeakPassword("password"))
        ));
        assert!(matches!(
            check("ANN@example.com"),
            Err(ApiError::WeakPassword("password"))
        ));
        assert!(check("violet tugboat harmonica").is_ok());
    }
}
