//! Provider presets shown when adding an account.

use serde::Serialize;
use utoipa::ToSchema;

use super::TlsMode;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preset {
    pub id: &'static str,
    pub name: &'static str,
    pub imap_host: Option<&'static str>,
    pub imap_port: u16,
    pub imap_tls: TlsMode,
    pub smtp_host: Option<&'static str>,
    pub smtp_port: u16,
    pub smtp_tls: TlsMode,
    pub note: &'static str,
}

/// Gmail, Outlook/Office 365, Yahoo and a custom server.
pub fn all() -> Vec<Preset> {
    vec![
        Preset {
            id: "gmail",
            name: "Gmail",
            imap_host: Some("imap.gmail.com"),
            imap_port: 993,
            imap_tls: TlsMode::Implicit,
            smtp_host: Some("smtp.gmail.com"),
            smtp_port: 465,
            smtp_tls: TlsMode::Implicit,
            note: "Use an app password (Google account → Security → App passwords); IMAP must be on.",
        },
        Preset {
            id: "outlook",
            name: "Outlook / Office 365",
            imap_host: Some("outlook.office365.com"),
            imap_port: 993,
            imap_tls: TlsMode::Implicit,
            smtp_host: Some("smtp.office365.com"),
            smtp_port: 587,
            smtp_tls: TlsMode::Starttls,
            note: "Your organisation must allow IMAP and authenticated SMTP for the mailbox.",
        },
        Preset {
            id: "yahoo",
            name: "Yahoo Mail",
            imap_host: Some("imap.mail.yahoo.com"),
            imap_port: 993,
            imap_tls: TlsMode::Implicit,
            smtp_host: Some("smtp.mail.yahoo.com"),
            smtp_port: 465,
            smtp_tls: TlsMode::Implicit,
            note: "Use an app password generated in Yahoo's account security settings.",
        },
        Preset {
            id: "custom",
            name: "Other (custom server)",
            imap_host: None,
            imap_port: 993,
            imap_tls: TlsMode::Implicit,
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: TlsMode::Starttls,
            note: "Enter your provider's IMAP and SMTP servers.",
        },
    ]
}
