//! The integration tests, one binary: each module starts the real server (or the CLI) against
//! the backends `GATEHOUSE_TEST_BACKEND` and `GATEHOUSE_TEST_KV` choose (see `common`).

mod common;

mod accounts;
mod botserver;
mod cli;
mod forward_auth;
mod fuzz;
mod instances;
mod mail;
mod mailbox;
mod malformed;
mod mfa;
mod oauth;
mod ops;
mod outages;
mod passkeys;
mod protection;
mod provider;
mod ragflow;
mod ragflow_import;
mod recovery;
mod revocation;
mod safety;
mod scale;
mod shutdown;
mod teams;
mod web;
