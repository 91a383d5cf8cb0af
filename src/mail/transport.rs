//! Handing one message to the world: an SMTP server (lettre over rustls) or, with no
//! `smtp.host`, the dev file sink that writes `{data_dir}/mail/{id}.eml`. A failed send is
//! classified (DNS, connect, TLS, authentication, rejected, timeout) so operators see which
//! part of the path broke; no error ever carries the message or the SMTP password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Config, ConfigError, SmtpTls};

/// One message to deliver. `id` (the outbox row id) names the `.eml` file and the Message-ID.
#[derive(Clone, Copy)]
pub struct Outgoing<'a> {
    pub id: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

impl fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bodies hold codes and links: never printed.
        f.debug_struct("Outgoing")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Where mail goes, built once from `[smtp]`.
pub enum Transport {
    Smtp(SmtpSender),
    FileSink(FileSink),
}

pub struct SmtpSender {
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
    timeout: Duration,
}

pub struct FileSink {
    dir: PathBuf,
    from: Mailbox,
}

/// What the other side said: the SMTP server's reply, or the file written.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub answer: String,
}

/// Why a send failed, in the words an operator needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    Dns,
    Connect,
    Tls,
    Authentication,
    Rejected,
    Timeout,
    /// The message itself cannot be built (e.g. a malformed recipient); retrying cannot help.
    InvalidMessage,
    /// The file sink could not write its file.
    Storage,
    Other,
}

impl FailureClass {
    pub fn label(self) -> &'static str {
        match self {
            Self::Dns => "DNS lookup failed",
            Self::Connect => "could not connect",
            Self::Tls => "TLS failed",
            Self::Authentication => "authentication failed",
            Self::Rejected => "rejected by server",
            Self::Timeout => "timed out",
            Self::InvalidMessage => "invalid message",
            Self::Storage => "could not write the mail file",
            Self::Other => "SMTP error",
        }
    }

    /// A short stable name for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Authentication => "auth",
            Self::Rejected => "rejected",
            Self::Timeout => "timeout",
            Self::InvalidMessage => "invalid_message",
            Self::Storage => "storage",
            Self::Other => "other",
        }
    }

    /// True when trying again later cannot succeed.
    pub fn is_permanent(self) -> bool {
        self == Self::InvalidMessage
    }
}

/// A classified send failure; `detail` is one line from the server or the network stack.
#[derive(Debug, Clone)]
pub struct SendError {
    pub class: FailureClass,
    pub detail: String,
}

impl SendError {
    fn new(class: FailureClass, detail: impl Into<String>) -> Self {
        Self {
            class,
            detail: one_line(&detail.into()),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class.label(), self.detail)
    }
}

impl std::error::Error for SendError {}

impl Transport {
    /// Build the transport `config` asks for. Must run inside the Tokio runtime (lettre's
    /// connection pool starts its upkeep task here).
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        config.validate_mail_delivery()?;
        let from = sender(config)?;
        let smtp = &config.smtp;
        let Some(host) = smtp.host.clone() else {
            return Ok(Self::FileSink(FileSink {
                dir: config.data_dir.join("mail"),
                from,
            }));
        };
        let tls_parameters = || -> Result<TlsParameters, ConfigError> {
            let mut builder = TlsParameters::builder(host.clone());
            if let Some(path) = &smtp.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    ConfigError(format!(
                        "cannot read `smtp.ca_file` {}: {e}",
                        path.display()
                    ))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|_| {
                    ConfigError(format!(
                        "`smtp.ca_file` {} holds no PEM certificate",
                        path.display()
                    ))
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build()
                .map_err(|e| ConfigError(format!("invalid TLS settings for `smtp`: {e}")))
        };
        let (tls, default_port, mode) = match smtp.tls {
            SmtpTls::Implicit => (Tls::Wrapper(tls_parameters()?), 465, "implicit TLS"),
            SmtpTls::Starttls => (Tls::Required(tls_parameters()?), 587, "STARTTLS"),
            SmtpTls::None => (Tls::None, 25, "no TLS"),
        };
        let port = smtp.port.unwrap_or(default_port);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(smtp.timeout.0));
        if let Some(username) = &smtp.username {
            builder = builder.credentials(Credentials::new(username.clone(), password(config)?));
        }
        Ok(Self::Smtp(SmtpSender {
            mailer: builder.build(),
            from,
            server: format!("{host}:{port} ({mode})"),
            timeout: smtp.timeout.0,
        }))
    }

    /// Where mail goes, for log lines: `SMTP host:port (mode)` or the sink's directory.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(s) => format!("SMTP {}", s.server),
            Self::FileSink(f) => format!("file sink {}", f.dir.display()),
        }
    }

    /// Deliver `mail` once.
    pub async fn send(&self, mail: &Outgoing<'_>) -> Result<Delivered, SendError> {
        match self {
            Self::Smtp(s) => s.send(mail).await,
            Self::FileSink(f) => f.send(mail).await,
        }
    }
}

impl Transport {
    /// Connect and greet (EHLO, and STARTTLS and AUTH as configured) without sending mail:
    /// `doctor`'s SMTP check.
    pub async fn probe(&self) -> Result<String, SendError> {
        let Self::Smtp(s) = self else {
            return Ok(self.describe());
        };
        match tokio::time::timeout(s.timeout, s.mailer.test_connection()).await {
            Err(_) => Err(SendError::new(
                FailureClass::Timeout,
                format!(
                    "no greeting from {} within {}",
                    s.server,
                    humantime::format_duration(s.timeout)
                ),
            )),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(true)) => Ok(format!("{} answered EHLO", s.server)),
            Ok(Ok(false)) => Err(SendError::new(
                FailureClass::Other,
                format!("{} did not answer NOOP", s.server),
            )),
        }
    }
}

impl SmtpSender {
    async fn send(&self, mail: &Outgoing<'_>) -> Result<Delivered, SendError> {
        let message = build_message(&self.from, mail)?;
        // lettre bounds only the TCP connect; the whole attempt is bounded here.
        match tokio::time::timeout(self.timeout, self.mailer.send(message)).await {
            Err(_) => Err(SendError::new(
                FailureClass::Timeout,
                format!(
                    "no complete answer from {} within {}",
                    self.server,
                    humantime::format_duration(self.timeout)
                ),
            )),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(response)) => {
                let answer = one_line(&format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ));
                tracing::info!(mail_id = %mail.id, server = %self.server, answer = %answer, "mail delivered");
                Ok(Delivered { answer })
            }
        }
    }
}

impl FileSink {
    async fn send(&self, mail: &Outgoing<'_>) -> Result<Delivered, SendError> {
        if mail.id.is_empty()
            || !mail
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(SendError::new(
                FailureClass::InvalidMessage,
                "the mail id cannot name a file",
            ));
        }
        let message = build_message(&self.from, mail)?;
        let path = self.dir.join(format!("{}.eml", mail.id));
        write_atomically(&self.dir, &path, &message.formatted())
            .await
            .map_err(|e| {
                SendError::new(FailureClass::Storage, format!("{}: {e}", path.display()))
            })?;
        tracing::info!(file = %path.display(), "mail written to the dev file sink (no smtp.host set)");
        Ok(Delivered {
            answer: format!("written to {}", path.display()),
        })
    }
}

/// Write to a temporary name, then rename, so a reader never sees half a message.
/// Files are readable by the owner only: they hold codes and links.
async fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    tokio::fs::create_dir_all(dir).await?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp).await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&tmp, path).await
}

/// `multipart/alternative` (text, then HTML) from the configured sender, with a Message-ID
/// derived from the outbox id so a re-delivery after a crash carries the same id.
fn build_message(from: &Mailbox, mail: &Outgoing<'_>) -> Result<Message, SendError> {
    let to: Mailbox = mail.recipient.parse().map_err(|_| {
        SendError::new(
            FailureClass::InvalidMessage,
            "the recipient is not a valid address",
        )
    })?;
    let domain = from.email.domain();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject)
        .message_id(Some(format!("<{}@{domain}>", mail.id)))
        .multipart(MultiPart::alternative_plain_html(
            mail.text.to_string(),
            mail.html.to_string(),
        ))
        .map_err(|e| SendError::new(FailureClass::InvalidMessage, e.to_string()))
}

/// `from_name <from_address>`, the address defaulting to `noreply@<host of public_base_url>`.
fn sender(config: &Config) -> Result<Mailbox, ConfigError> {
    let name = Some(config.smtp.from_name.clone()).filter(|n| !n.trim().is_empty());
    let address = match &config.smtp.from_address {
        Some(a) => a.parse().map_err(|_| {
            ConfigError(format!(
                "invalid value for `smtp.from_address`: `{a}` is not an email address"
            ))
        })?,
        None => {
            let host = url::Url::parse(&config.public_base_url())
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            format!("noreply@{host}")
                .parse()
                .or_else(|_| "noreply@localhost".parse())
                .map_err(|_| {
                    ConfigError("invalid value for `smtp.from_address`: cannot derive one".into())
                })?
        }
    };
    Ok(Mailbox::new(name, address))
}

/// The SMTP password from `smtp.password` or `smtp.password_file` (trailing newline dropped).
fn password(config: &Config) -> Result<String, ConfigError> {
    match config.smtp.password()? {
        Some(p) => Ok(p.expose().to_string()),
        None => Err(ConfigError(
            "`smtp.username` is set, so `smtp.password` or `smtp.password_file` is needed".into(),
        )),
    }
}

/// Put a lettre error into the class an operator can act on.
pub fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let chain = error_chain(e);
    if let Some(code) = e.status() {
        let reply = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let class = match code.to_string().as_str() {
            // Authentication required / too weak / credentials invalid / encryption required.
            "530" | "534" | "535" | "538" => FailureClass::Authentication,
            _ => FailureClass::Rejected,
        };
        return SendError::new(class, format!("{code} {reply}"));
    }
    let lower = chain.to_ascii_lowercase();
    let io_kind = io_error_kind(e);
    let class = if [
        "lookup address",
        "name resolution",
        "name or service not known",
        "no address associated",
        "could not resolve",
        "nodename nor servname",
    ]
    .iter()
    .any(|s| lower.contains(s))
    {
        FailureClass::Dns
    } else if io_kind == Some(std::io::ErrorKind::TimedOut) || e.is_timeout() {
        FailureClass::Timeout
    } else if e.is_tls()
        || io_kind == Some(std::io::ErrorKind::InvalidData)
        || [
            "certificate",
            "tls",
            "handshake",
            "alert",
            "not encrypted",
            "dns name",
        ]
        .iter()
        .any(|s| lower.contains(s))
    {
        FailureClass::Tls
    } else if lower.contains("authentication") {
        FailureClass::Authentication
    } else if io_kind.is_some()
        || lower.starts_with("connection error")
        || lower.starts_with("network error")
    {
        FailureClass::Connect
    } else {
        FailureClass::Other
    };
    SendError::new(class, chain)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

/// One line of at most 300 characters: error text goes into logs and `last_error`.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HumanDuration, SmtpConfig};

    fn smtp_config(host: &str, port: Option<u16>, tls: SmtpTls, timeout: Duration) -> Config {
        Config {
            public_base_url: Some("https://auth.example.com".into()),
            smtp: SmtpConfig {
                host: Some(host.into()),
                port,
                tls,
                timeout: HumanDuration(timeout),
                ..SmtpConfig::default()
            },
            ..Config::default()
        }
    }

    fn mail() -> Outgoing<'static> {
        Outgoing {
            id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            recipient: "李雷 <lilei@example.com>",
            subject: "重置你的密码",
            text: "你的验证码是 123456\n",
            html: "<p>你的验证码是 123456</p>",
        }
    }

    #[test]
    fn messages_are_multipart_with_sender_and_message_id() {
        let mut config = smtp_config(
            "mail.example.com",
            None,
            SmtpTls::Starttls,
            Duration::from_secs(1),
        );
        config.smtp.from_name = "Example Auth".into();
        let from = sender(&config).unwrap();
        assert_eq!(from.email.to_string(), "noreply@auth.example.com");
        let bytes = build_message(&from, &mail()).unwrap().formatted();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("From: \"Example Auth\" <noreply@auth.example.com>"),
            "{text}"
        );
        assert!(
            text.contains("Message-ID: <0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@auth.example.com>"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(
            text.contains("text/plain") && text.contains("text/html"),
            "{text}"
        );
        // Non-ASCII subjects are encoded (RFC 2047), so the message stays 7-bit.
        assert!(text.is_ascii());
        assert!(text.contains("Subject: =?utf-8?"), "{text}");
    }

    #[test]
    fn default_sender_for_a_loopback_url_is_still_an_address() {
        let from = sender(&Config::default()).unwrap();
        assert!(from.email.to_string().starts_with("noreply@"), "{from}");
    }

    #[test]
    fn bad_recipient_is_a_permanent_failure() {
        let from = sender(&Config::default()).unwrap();
        let mut m = mail();
        m.recipient = "not an address";
        let e = build_message(&from, &m).unwrap_err();
        assert_eq!(e.class, FailureClass::InvalidMessage);
        assert!(e.class.is_permanent());
    }

    #[test]
    fn debug_never_shows_the_body() {
        let shown = format!("{:?}", mail());
        assert!(!shown.contains("123456"), "{shown}");
    }

    #[test]
    fn error_text_is_one_bounded_line() {
        let long = "x ".repeat(400) + "\nsecond";
        let e = SendError::new(FailureClass::Connect, long);
        assert!(!e.detail.contains('\n'));
        assert!(e.detail.chars().count() <= 301);
        assert!(e.to_string().starts_with("could not connect: "));
    }

    #[tokio::test]
    async fn file_sink_writes_one_file_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let transport = Transport::from_config(&config).unwrap();
        let delivered = transport.send(&mail()).await.unwrap();
        let path = dir
            .path()
            .join("mail/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.eml");
        assert!(
            delivered.answer.contains("0190a1b2"),
            "{}",
            delivered.answer
        );
        let eml = std::fs::read_to_string(&path).unwrap();
        assert!(eml.contains("Message-ID: <0190a1b2-"), "{eml}");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
        let mut evil = mail();
        evil.id = "../escape";
        assert_eq!(
            transport.send(&evil).await.unwrap_err().class,
            FailureClass::InvalidMessage
        );
    }

    #[tokio::test]
    async fn refused_connection_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let config = smtp_config(
            "127.0.0.1",
            Some(port),
            SmtpTls::None,
            Duration::from_secs(5),
        );
        let transport = Transport::from_config(&config).unwrap();
        let e = transport.send(&mail()).await.unwrap_err();
        assert_eq!(e.class, FailureClass::Connect, "{e}");
    }

    #[tokio::test]
    async fn unknown_host_is_a_dns_failure() {
        let config = smtp_config(
            "no-such-host.invalid",
            None,
            SmtpTls::None,
            Duration::from_secs(5),
        );
        let transport = Transport::from_config(&config).unwrap();
        let e = transport.send(&mail()).await.unwrap_err();
        assert_eq!(e.class, FailureClass::Dns, "{e}");
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _hold = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                open.push(s);
            }
        });
        let config = smtp_config(
            "127.0.0.1",
            Some(port),
            SmtpTls::None,
            Duration::from_millis(300),
        );
        let transport = Transport::from_config(&config).unwrap();
        let e = transport.send(&mail()).await.unwrap_err();
        assert_eq!(e.class, FailureClass::Timeout, "{e}");
    }

    #[tokio::test]
    async fn tls_to_a_plain_server_is_a_tls_failure() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _server = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(b"220 plain.example ESMTP ready\r\n").await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        let config = smtp_config(
            "127.0.0.1",
            Some(port),
            SmtpTls::Implicit,
            Duration::from_secs(1),
        );
        let transport = Transport::from_config(&config).unwrap();
        let e = transport.send(&mail()).await.unwrap_err();
        assert_eq!(e.class, FailureClass::Tls, "{e}");
    }
}
