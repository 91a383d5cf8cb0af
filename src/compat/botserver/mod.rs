//! BotServer's documented mail and sign-in routes (`/api/email/*`, `/api/auth/*`) on the main
//! listener, as a thin adapter over gatehouse's own services: BotServer's clients and curl
//! examples work unchanged (plus an `Authorization: Bearer` header), with gatehouse's rules,
//! answers and error bodies. `[botserver] enabled = false` turns them off.

pub mod routes;

use crate::mailbox::TlsMode;

/// BotServer has no TLS field: the port says it (993/465 implicit, 143/587/25 STARTTLS, any
/// other port implicit TLS).
pub fn tls_for_port(port: u16) -> TlsMode {
    match port {
        143 | 587 | 25 => TlsMode::Starttls,
        _ => TlsMode::Implicit,
    }
}

/// `a@x, B <b@y>` → the addresses, trimmed, empties dropped.
pub fn split_addresses(list: Option<&str>) -> Vec<String> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A BotServer username: 3–64 of `[A-Za-z0-9._-]`.
pub fn valid_username(name: &str) -> bool {
    (3..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_choose_tls_and_lists_split() {
        assert_eq!(tls_for_port(993), TlsMode::Implicit);
        assert_eq!(tls_for_port(465), TlsMode::Implicit);
        assert_eq!(tls_for_port(143), TlsMode::Starttls);
        assert_eq!(tls_for_port(587), TlsMode::Starttls);
        assert_eq!(tls_for_port(2525), TlsMode::Implicit);
        assert_eq!(
            split_addresses(Some("a@x.test, B <b@y.test>,,")),
            ["a@x.test", "B <b@y.test>"]
        );
        assert!(valid_username("ann.lee-2"));
        assert!(!valid_username("an"));
        assert!(!valid_username("ann lee"));
    }
}
