//! The self-made image captcha: PNG challenges whose answers live in the short-lived store and
//! can be checked exactly once.

pub mod routes;
pub mod service;
