//! Administration for superusers: users, sessions, the audit trail and the mail outbox — over the
//! API and, for operators, the CLI. Every operation takes an [`Admin`], which only exists after
//! the check.

pub mod cli;
pub mod routes;
pub mod seed;
pub mod service;
mod store;

/// Proof that the caller may administer: a signed-in superuser, or the operator at the CLI.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The acting superuser; `None` for the operator's CLI.
    pub user_id: Option<String>,
}

impl Admin {
    /// The operator running `gatehouse admin …` on the server itself.
    pub fn operator() -> Self {
        Self { user_id: None }
    }
}
