//! What an account is to the rules: its role and the points in time it records.

use serde::{Serialize, Serializer};

/// A user's standing across the whole installation (tenant roles are separate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    /// May administer every account, over the API's `/admin` routes and the pages.
    Superuser,
}

impl Role {
    pub fn from_superuser(is_superuser: bool) -> Self {
        if is_superuser {
            Self::Superuser
        } else {
            Self::User
        }
    }

    pub fn is_superuser(self) -> bool {
        self == Self::Superuser
    }
}

/// A point in time, whole seconds since the Unix epoch (how every table stores it); shown to
/// clients as RFC 3339 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    /// `2026-11-25T21:04:00Z`.
    pub fn rfc3339(self) -> String {
        crate::clock::rfc3339(self.0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_serialize_as_rfc3339_and_roles_round_trip() {
        let at = Timestamp::from_unix(1_795_637_040);
        assert_eq!(
            serde_json::to_string(&at).ok().as_deref(),
            Some("\"2026-11-25T20:04:00Z\"")
        );
        assert_eq!(at.unix(), 1_795_637_040);
        assert!(Role::from_superuser(true).is_superuser());
        assert!(!Role::from_superuser(false).is_superuser());
    }
}
