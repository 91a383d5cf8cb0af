//! The core types every door shares (the API, the pages, the compatibility profiles and the
//! CLI): checked inputs, ids that cannot be swapped, a user's role and points in time.

pub mod ids;
pub mod inputs;
pub mod user;

pub use ids::{SessionId, TenantId, UserId};
pub use inputs::{Email, Nickname, Password, normalize_email};
pub use user::{Role, Timestamp};
