//! Personal mail accounts and the mail client: a signed-in user's own IMAP/SMTP mailboxes
//! (accounts with sealed passwords, presets, the connection test) and reading, writing, replying,
//! forwarding, drafting and deleting mail through them. Everything is per user: another user's
//! account is simply not found.

pub mod client;
pub mod compose;
pub mod imap;
pub mod net;
pub mod presets;
pub mod read;
pub mod routes;
pub mod service;
pub mod smtp;
pub mod store;

pub use net::TlsMode;

/// The sealing purpose of stored mailbox passwords.
pub const SEALING_PURPOSE: &str = "mailbox-passwords";

/// Messages larger than this (decoded) are refused with 422 `message_too_large`.
pub const MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

/// Send and draft bodies may be this large (base64 of a 25 MiB message plus JSON).
pub const MAX_SEND_BODY: usize = 36 * 1024 * 1024;
