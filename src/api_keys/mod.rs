//! API keys: `ghk_` tokens that authenticate as their owner, limited to one tenant. Only a hash
//! is stored; a revoked key fails on every instance at once (no cache).

pub mod routes;
pub mod service;
mod store;

pub const KEY_PREFIX: &str = "ghk_";

/// What an API key limits its caller to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScope {
    pub id: String,
    pub tenant_id: String,
}
