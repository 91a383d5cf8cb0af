//! Second factors and passkeys: TOTP with recovery codes, WebAuthn passkeys (a sign-in of their
//! own, or the second step of a password or provider sign-in), the second step itself, and the
//! `[mfa] required_for` rule.

pub mod config;
pub mod login;
pub mod passkeys;
pub mod recovery_codes;
pub mod routes;
pub mod service;
pub mod store;
pub mod totp;

pub use login::SecondStep;
