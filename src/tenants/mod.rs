//! Tenants (teams) and their members. Every user owns a personal tenant from registration on.

pub mod store;
