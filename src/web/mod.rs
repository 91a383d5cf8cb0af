//! Server-rendered web pages for every flow (sign-in, registration, recovery, verification, the
//! account, invitations, administration) in English and Simplified Chinese: a thin layer over
//! the same service functions the API calls, with a signed double-submit CSRF token on every form.

mod account_views;
mod admin_views;
mod auth_views;
mod form;
pub mod i18n;
mod link_views;
mod mail_views;
mod overview_views;
mod page;
mod provider_views;
pub mod routes;
mod security_views;

pub use security_views::mfa_cookie;
