//! The network edge towards users' mail servers: TLS modes, the private-host rule (gatehouse
//! must not become a probe of the network it runs in), name resolution under the timeout, TLS
//! with the system roots plus `[mail_accounts] ca_file`, and failures classed the way the API
//! names them.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, RootCertStore, pki_types::CertificateDer};
use utoipa::ToSchema;

use crate::config::MailAccountsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS before anything secret is sent.
    Starttls,
    /// No TLS: only for private or loopback hosts with `allow_private_hosts`.
    None,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Implicit => "implicit",
            Self::Starttls => "starttls",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "implicit" => Some(Self::Implicit),
            "starttls" => Some(Self::Starttls),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Why talking to a mail server failed, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Dns,
    Connect,
    Tls,
    Authentication,
    Timeout,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Authentication => "authentication",
            Self::Timeout => "timeout",
        }
    }
}

/// Loopback, private, link-local, shared (CGNAT), unspecified, multicast or broadcast: an
/// address inside the network gatehouse runs in rather than a public mail server.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A host name or IP literal a mail server can have (no ports, paths or spaces).
pub fn valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// What resolving a host found.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub addrs: Vec<SocketAddr>,
    /// Every address is internal.
    pub all_internal: bool,
    /// At least one address is internal.
    pub any_internal: bool,
}

/// Resolve `host:port` with the system resolver, bounded by `timeout`.
pub async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Resolved, Failure> {
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
            Err(_) => return Err(Failure::Timeout),
            Ok(Err(_)) => return Err(Failure::Dns),
            Ok(Ok(found)) => found.collect(),
        }
    };
    if addrs.is_empty() {
        return Err(Failure::Dns);
    }
    Ok(Resolved {
        all_internal: addrs.iter().all(|a| is_internal(a.ip())),
        any_internal: addrs.iter().any(|a| is_internal(a.ip())),
        addrs,
    })
}

/// The addresses of `host` this deployment may connect to: internal ones only with
/// `allow_private_hosts` (checked again at every connection, so a name that later resolves
/// inside is refused then too).
pub async fn allowed_addrs(
    host: &str,
    port: u16,
    config: &MailAccountsConfig,
) -> Result<Vec<SocketAddr>, Failure> {
    let resolved = resolve(host, port, config.timeout.0).await?;
    let addrs: Vec<SocketAddr> = resolved
        .addrs
        .into_iter()
        .filter(|a| config.allow_private_hosts || !is_internal(a.ip()))
        .collect();
    if addrs.is_empty() {
        tracing::warn!(host = %host, "mail host resolves only to internal addresses; refused");
        return Err(Failure::Connect);
    }
    Ok(addrs)
}

/// A TCP connection to the first address that answers.
pub async fn connect_tcp(addrs: &[SocketAddr]) -> Result<tokio::net::TcpStream, Failure> {
    for addr in addrs {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            let _ = stream.set_nodelay(true);
            return Ok(stream);
        }
    }
    Err(Failure::Connect)
}

fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The PEM bytes of `[mail_accounts] ca_file`, if set and readable.
pub fn extra_ca_pem(config: &MailAccountsConfig) -> Option<Vec<u8>> {
    let path = config.ca_file.as_ref()?;
    match std::fs::read(path) {
        Ok(pem) => Some(pem),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read mail_accounts.ca_file");
            None
        }
    }
}

/// A TLS connector trusting the system roots and `[mail_accounts] ca_file`.
pub fn tls_connector(config: &MailAccountsConfig) -> Result<TlsConnector, Failure> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for cert in native_roots() {
        let _ = roots.add(cert.clone());
    }
    if let Some(pem) = extra_ca_pem(config) {
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            let _ = roots.add(cert);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Failure::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(tls)))
}

/// The name TLS verifies the server's certificate against.
pub fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, Failure> {
    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| Failure::Tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                is_internal(ip.parse().unwrap_or(IpAddr::from([8, 8, 8, 8]))),
                "{ip}"
            );
        }
        for ip in ["8.8.8.8", "2a00:1450::1", "93.184.216.34"] {
            assert!(
                !is_internal(ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{ip}"
            );
        }
    }

    #[test]
    fn host_names_are_checked() {
        assert!(valid_host("imap.example.com"));
        assert!(valid_host("127.0.0.1"));
        assert!(valid_host("::1"));
        assert!(!valid_host(""));
        assert!(!valid_host("imap.example.com:993"));
        assert!(!valid_host("a b"));
        assert!(!valid_host("evil\r\nhost"));
    }
}
