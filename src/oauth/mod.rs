//! Sign-in with OpenID Connect, generic OAuth2 and GitHub: the configured channels, the
//! authorize/callback flow (state, PKCE, nonce, bound to the browser), linking identities to
//! accounts, and the user's list of identities.

mod channels;
pub mod flow;
mod github;
mod oidc;
pub mod routes;
pub mod service;
mod store;

/// The outbound client provider calls use (also `doctor`'s discovery check).
pub(crate) use channels::http;
