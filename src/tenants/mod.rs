//! Tenants (teams) and their members. Every user owns a personal tenant from registration on.

pub mod routes;
pub mod service;
pub mod store;
