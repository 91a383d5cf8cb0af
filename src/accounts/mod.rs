//! Accounts: registration, password sign-in with its protection, the profile, password and email
//! changes, and deletion.

pub mod routes;
pub mod service;
pub mod store;
pub mod throttle;

pub use store::{User, UserView};
