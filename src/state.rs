//! Everything a request handler may use, built once from the configuration.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::clock::Clock;
use crate::config::{Config, Settings};
use crate::db::Db;
use crate::kv::Kv;
use crate::passwords::Hasher;
use crate::tokens::ServerKey;

/// The key prefix of this deployment's entries in a shared Redis.
pub const DEFAULT_KV_PREFIX: &str = "gatehouse:";

/// Cloned for every request (and by every extractor that takes the state), so it is one
/// reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    /// The checked configuration: providers by type, secrets read from their files.
    pub settings: Arc<Settings>,
    pub db: Db,
    pub kv: Kv,
    pub hasher: Hasher,
    pub clock: Clock,
    pub key: ServerKey,
    pub public_base_url: Arc<str>,
    pub metrics: PrometheusHandle,
    /// Wakes this instance's mail worker when a mail is queued (a wake-up with no worker
    /// running here is kept and harmless).
    pub mail_wake: Arc<tokio::sync::Notify>,
}

impl AppState {
    /// Connect to the database (and migrate it) and to the short-lived store.
    pub async fn build(config: Config, kv_prefix: &str) -> anyhow::Result<Self> {
        let settings = config.resolve()?;
        let key = crate::tokens::load_server_key(&config)?;
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        let kv = match &config.redis_url {
            Some(url) => Kv::redis(url.expose(), kv_prefix).await?,
            None => Kv::memory(),
        };
        Ok(Self(Arc::new(Shared {
            public_base_url: config.public_base_url().into(),
            config: Arc::new(config),
            settings: Arc::new(settings),
            db,
            kv,
            hasher: Hasher::new()?,
            clock: Clock::default(),
            key,
            metrics: crate::system::metrics_handle(),
            mail_wake: Arc::new(tokio::sync::Notify::new()),
        })))
    }

    /// Cookies carry `Secure` when the service is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_base_url.starts_with("https://")
    }

    /// Where the session cookie lives (API.md settled 7).
    pub fn session_cookie(&self) -> crate::sessions::CookieScope {
        crate::sessions::CookieScope::new(
            self.secure_cookies(),
            self.config.forward_auth.cookie_domain.as_deref(),
        )
    }
}
