//! Administration for superusers: users, sessions, the audit trail and the mail outbox — over the
//! API and, for operators, the CLI. Every operation takes an [`Admin`], which only exists after
//! the check.

pub mod cli;
pub mod routes;
pub mod seed;
pub mod service;
mod store;

/// Proof that the caller may administer: a signed-in superuser, or the operator at the CLI.
/// Only two places make one: the request extractor after its check (`routes.rs`) and the
/// operator's command line ([`Admin::from_cli`]); the field is private so nothing else can.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The acting superuser; `None` for the operator's CLI.
    user_id: Option<String>,
}

impl Admin {
    /// The acting superuser's id; `None` for the operator at the CLI.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
}
