//! IMAP sessions: connecting in each TLS mode under the timeout, logging in, and a small pool
//! of logged-in sessions per account (closed after `[mail_accounts] idle_timeout`), so reading
//! mail does not pay a TLS handshake and a login per request.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};

use super::TlsMode;
use super::net::{self, Failure};
use crate::config::MailAccountsConfig;

/// Any byte stream an IMAP session can run over (plain TCP or TLS).
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> ImapIo for T {}

pub type Session = async_imap::Session<Box<dyn ImapIo>>;

/// Where and as whom to log in. `Debug` leaves the password out.
#[derive(Clone)]
pub struct Login {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Connect and log in, the whole of it bounded by `[mail_accounts] timeout`.
pub async fn login(login: &Login, config: &MailAccountsConfig) -> Result<Session, Failure> {
    match tokio::time::timeout(config.timeout.0, login_inner(login, config)).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Timeout),
    }
}

async fn login_inner(login: &Login, config: &MailAccountsConfig) -> Result<Session, Failure> {
    let addrs = net::allowed_addrs(&login.host, login.port, config).await?;
    let tcp = net::connect_tcp(&addrs).await?;
    let stream: Box<dyn ImapIo> = match login.tls {
        TlsMode::None => Box::new(tcp),
        TlsMode::Implicit => {
            let tls = net::tls_connector(config)?
                .connect(net::server_name(&login.host)?, tcp)
                .await
                .map_err(|_| Failure::Tls)?;
            Box::new(tls)
        }
        TlsMode::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|_| Failure::Tls)?;
            let tcp = client.into_inner();
            let tls = net::tls_connector(config)?
                .connect(net::server_name(&login.host)?, tcp)
                .await
                .map_err(|_| Failure::Tls)?;
            let client = async_imap::Client::new(Box::new(tls) as Box<dyn ImapIo>);
            // After STARTTLS the server sends no new greeting.
            return finish_login(client, login).await;
        }
    };
    let mut client = async_imap::Client::new(stream);
    greeting(&mut client).await?;
    finish_login(client, login).await
}

async fn greeting<T: ImapIo>(client: &mut async_imap::Client<T>) -> Result<(), Failure> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::Connect),
        // Garbage instead of a greeting is most often TLS spoken to a plain port or the reverse.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(Failure::Tls),
        Err(_) => Err(Failure::Connect),
    }
}

async fn finish_login(
    client: async_imap::Client<Box<dyn ImapIo>>,
    login: &Login,
) -> Result<Session, Failure> {
    client
        .login(&login.username, &login.password)
        .await
        .map_err(|(e, _)| match e {
            async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                Failure::Authentication
            }
            _ => Failure::Connect,
        })
}

/// Log in and out again: the connection test.
pub async fn check(login: &Login, config: &MailAccountsConfig) -> Result<(), Failure> {
    let mut session = self::login(login, config).await?;
    let _ = tokio::time::timeout(config.timeout.0, session.logout()).await;
    Ok(())
}

/// Pooled sessions by (account id, credential version).
type PoolKey = (String, i64);

/// Idle sessions by account, each with the moment it was put back.
type Idle = Vec<(Session, Instant)>;

static POOL: LazyLock<Mutex<HashMap<PoolKey, Idle>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Sessions kept per account; more concurrent requests open (and then close) their own.
const KEEP_PER_ACCOUNT: usize = 4;

/// A logged-in session taken from the pool (or new); [`Pooled::release`] puts it back after a
/// successful use. Dropped without release (an error, a timeout) it is closed.
pub struct Pooled {
    key: PoolKey,
    pub session: Session,
}

impl Pooled {
    pub fn release(self) {
        let Ok(mut pool) = POOL.lock() else { return };
        let list = pool.entry(self.key).or_default();
        if list.len() < KEEP_PER_ACCOUNT {
            list.push((self.session, Instant::now()));
        }
    }
}

/// A session for the account: a pooled one that still answers NOOP, else a new login.
pub async fn session(
    account_id: &str,
    version: i64,
    login: &Login,
    config: &MailAccountsConfig,
) -> Result<Pooled, Failure> {
    let key = (account_id.to_string(), version);
    let idle: Duration = config.idle_timeout.0;
    loop {
        let candidate = {
            let Ok(mut pool) = POOL.lock() else { break };
            // Idle sessions of every account go here, so none outlives the idle timeout by
            // more than the time to the next mail request.
            pool.retain(|_, list| {
                list.retain(|(_, at)| at.elapsed() < idle);
                !list.is_empty()
            });
            pool.get_mut(&key).and_then(Vec::pop)
        };
        let Some((mut session, _)) = candidate else {
            break;
        };
        let alive =
            tokio::time::timeout(Duration::from_secs(5).min(config.timeout.0), session.noop())
                .await
                .is_ok_and(|r| r.is_ok());
        if alive {
            return Ok(Pooled { key, session });
        }
    }
    let session = self::login(login, config).await?;
    Ok(Pooled { key, session })
}

/// Forget the pooled sessions of an account (removed, or its settings changed).
pub fn forget(account_id: &str) {
    if let Ok(mut pool) = POOL.lock() {
        pool.retain(|(id, _), _| id != account_id);
    }
}
