//! Email verification: a code and a link prove an address belongs to its user — for a new
//! account, and for an email change (the same codes, links and limits).

pub mod routes;
pub mod service;
mod store;
