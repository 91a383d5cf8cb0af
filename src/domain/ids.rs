//! Ids that cannot be swapped: a function taking a [`TenantId`] and a [`UserId`] refuses them
//! the wrong way round. They are the same strings (UUIDs, or imported ids) on the wire and in
//! the database.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

id!(
    /// A user's id.
    UserId
);
id!(
    /// A tenant's (team's) id.
    TenantId
);
id!(
    /// A session's id (not its token, which is a secret and never leaves the response that
    /// creates it).
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_string_on_the_wire_and_in_text() {
        let id = UserId::new("0193-ab");
        assert_eq!(id.to_string(), "0193-ab");
        assert_eq!(
            serde_json::to_string(&id).ok().as_deref(),
            Some("\"0193-ab\"")
        );
        let back: Option<TenantId> = serde_json::from_str("\"t-1\"").ok();
        assert_eq!(back.map(String::from).as_deref(), Some("t-1"));
    }
}
