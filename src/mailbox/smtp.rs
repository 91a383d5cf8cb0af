//! Sending through a user's own SMTP server (lettre over rustls), every step bounded by
//! `[mail_accounts] timeout`, connecting only to addresses the private-host rule allows.

use std::fmt;

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::TlsMode;
use super::net::{self, Failure};
use crate::config::MailAccountsConfig;
use crate::mail::transport::{FailureClass, classify};

/// Where and as whom to send. `Debug` leaves the password out.
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn class_of(class: FailureClass) -> Failure {
    match class {
        FailureClass::Dns => Failure::Dns,
        FailureClass::Tls => Failure::Tls,
        FailureClass::Authentication => Failure::Authentication,
        FailureClass::Timeout => Failure::Timeout,
        _ => Failure::Connect,
    }
}

async fn transport(
    relay: &Relay,
    config: &MailAccountsConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, Failure> {
    let addrs = net::allowed_addrs(&relay.host, relay.port, config).await?;
    // Connect to the checked address; TLS still verifies the certificate for the host name.
    let target = addrs.first().ok_or(Failure::Dns)?.ip().to_string();
    let tls_parameters = || -> Result<TlsParameters, Failure> {
        let mut builder = TlsParameters::builder(relay.host.clone());
        if let Some(pem) = net::extra_ca_pem(config) {
            let cert = Certificate::from_pem(&pem).map_err(|_| Failure::Tls)?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build_rustls().map_err(|_| Failure::Tls)
    };
    let tls = match relay.tls {
        TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
        TlsMode::Starttls => Tls::Required(tls_parameters()?),
        TlsMode::None => Tls::None,
    };
    Ok(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target)
            .port(relay.port)
            .tls(tls)
            .timeout(Some(config.timeout.0))
            .pool_config(PoolConfig::new().max_size(1))
            .credentials(Credentials::new(
                relay.username.clone(),
                relay.password.clone(),
            ))
            .build(),
    )
}

/// EHLO and AUTH, then QUIT: the connection test.
pub async fn check(relay: &Relay, config: &MailAccountsConfig) -> Result<(), Failure> {
    let attempt = async {
        let transport = transport(relay, config).await?;
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Connect),
            Err(e) => Err(class_of(classify(&e).class)),
        }
    };
    match tokio::time::timeout(config.timeout.0, attempt).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Timeout),
    }
}

/// Hand `bytes` to the relay for `envelope`'s recipients; the error is one line for the log.
pub async fn send(
    relay: &Relay,
    config: &MailAccountsConfig,
    envelope: &Envelope,
    bytes: &[u8],
) -> Result<(), String> {
    let attempt = async {
        let transport = transport(relay, config)
            .await
            .map_err(|f| f.as_str().to_string())?;
        transport
            .send_raw(envelope, bytes)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e).to_string())
    };
    match tokio::time::timeout(config.timeout.0, attempt).await {
        Ok(result) => result,
        Err(_) => Err("timeout".into()),
    }
}
