//! Password recovery: a captcha-gated request mails a six-digit code and a link; the code is
//! exchanged for a reset token, the link carries one; the token sets a new password once.

pub mod routes;
pub mod service;
mod store;
