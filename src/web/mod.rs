//! Server-rendered web pages for every flow (sign-in, registration, recovery, verification, the
//! account, invitations, administration) in English and Simplified Chinese: a thin layer over
//! the same service functions the API calls, with a signed double-submit CSRF token on every form.

mod account_views;
mod admin_views;
mod auth_views;
mod form;
pub mod i18n;
mod link_views;
mod page;
mod provider_views;
pub mod routes;

pub use form::safe_return_to;
