//! Running the service: its listeners, background upkeep and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::state::AppState;

/// `gatehouse serve`: bind every configured listener, build the state, start the background
/// work, announce readiness and serve until `shutdown` resolves; returns once the requests in
/// flight on every listener have finished, after which the mail worker stops.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate_mail_delivery()?;
    // Held until serving ends: `restore` refuses to replace the database meanwhile.
    let _data_dir_lock = crate::ops::lock::for_serve(&config)?;
    let server = Server::bind(&config).await?;
    let prefix = config.redis_prefix.clone();
    let state = AppState::build(config, &prefix).await?;
    let mut background = Background(vec![crate::mail::outbox::spawn(&state)?]);
    background.0.push(spawn_upkeep(state.clone()));
    // The OpenID Provider's signing keys exist before the first application asks for them.
    crate::provider::keys::ensure(&state).await?;
    let listen = server
        .main_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = server.routes(state.clone())?;
    // After the routes: building them (the OpenAPI document above all) frees megabytes, which
    // the first trim hands back at once.
    background.0.push(spawn_memory_trim());
    tracing::info!(listen = %listen, database = ?state.db.backend(), "gatehouse is ready");
    println!(
        "gatehouse is running: open {}/ (API docs at {}/api/docs)",
        state.public_base_url, state.public_base_url
    );
    if matches!(crate::ops::doctor::superusers(&state.db).await, Ok(0)) {
        println!("{}", crate::ops::doctor::superuser_hint());
    }
    let served = server.run(shutdown).await;
    // A send cut short here is retried by the next instance once its lease runs out.
    drop(background);
    state.db.close().await;
    served
}

/// Background tasks that end with the server, on every way out of [`serve`].
struct Background(Vec<JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// The listeners of one instance, bound before the state is built: a port in use fails before
/// migrations run, and a caller binding port 0 learns the addresses.
pub struct Server {
    main: Option<TcpListener>,
    metrics: Option<TcpListener>,
    ragflow: Option<TcpListener>,
}

impl Server {
    /// Bind `listen`, and `metrics_listen` and `ragflow.listen` when set.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let main = bind(config.listen, "listen").await?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(bind(addr, "metrics_listen").await?),
            None => None,
        };
        let ragflow = match config.ragflow.listen {
            Some(addr) => Some(bind(addr, "ragflow.listen").await?),
            None => None,
        };
        Ok(Self {
            main: Some(main),
            metrics,
            ragflow,
        })
    }

    /// The main application alone, on a listener the caller bound.
    pub fn main(listener: TcpListener) -> Self {
        Self {
            main: Some(listener),
            metrics: None,
            ragflow: None,
        }
    }

    /// The RAGFlow profile alone, on a listener the caller bound (beside an instance already
    /// serving the same state).
    pub fn ragflow(listener: TcpListener) -> Self {
        Self {
            main: None,
            metrics: None,
            ragflow: Some(listener),
        }
    }

    pub fn main_addr(&self) -> Option<SocketAddr> {
        self.main.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn ragflow_addr(&self) -> Option<SocketAddr> {
        self.ragflow.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Build each listener's router over `state`; an unusable `[ragflow]` key stops here,
    /// before anything is served.
    pub fn routes(self, state: AppState) -> anyhow::Result<Routed> {
        let ragflow = match self.ragflow {
            Some(l) => {
                let router = crate::compat::ragflow::routes::app(state.clone())?;
                tracing::info!(listen = %l.local_addr()?, "RAGFlow compatibility profile is ready");
                Some((l, router))
            }
            None => None,
        };
        Ok(Routed {
            main: self.main.map(|l| (l, crate::app(state.clone()))),
            metrics: self.metrics.map(|l| (l, metrics_app(state))),
            ragflow,
        })
    }

    /// [`Server::routes`], then [`Routed::run`].
    pub async fn run(
        self,
        state: AppState,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.routes(state)?.run(shutdown).await
    }
}

/// Listeners with their routers, ready to serve.
pub struct Routed {
    main: Option<(TcpListener, Router)>,
    metrics: Option<(TcpListener, Router)>,
    ragflow: Option<(TcpListener, Router)>,
}

impl Routed {
    /// Serve every listener until `shutdown` resolves; then each stops accepting, lets its
    /// requests in flight finish, and this returns once all of them have.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
            Ok(())
        };
        tokio::try_join!(
            signal,
            serve_one(self.main, stopped.clone()),
            serve_one(self.metrics, stopped.clone()),
            serve_one(self.ragflow, stopped),
        )?;
        Ok(())
    }
}

/// One listener until `stopped` turns true, with graceful shutdown.
async fn serve_one(
    listener: Option<(TcpListener, Router)>,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some((listener, router)) = listener else {
        return Ok(());
    };
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        // A dropped sender also means "stop": nothing else will ever say so.
        let _ = stopped.wait_for(|stop| *stop).await;
    })
    .await?;
    Ok(())
}

/// Bind `addr`, naming its configuration key in the error.
async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (`{key}`): {e}"))
}

/// The metrics listener's application: `/metrics` alone.
fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(crate::system::routes::metrics),
        )
        .with_state(state)
}

/// Periodic upkeep every instance runs: expired sessions are removed.
pub fn spawn_upkeep(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = crate::sessions::service::purge_expired(&state).await {
                tracing::warn!(error = %e, "purging expired sessions failed");
            }
        }
    })
}

/// Hand memory the allocator holds but no longer uses back to the system every few seconds.
///
/// glibc keeps what a burst freed (a thousand connections' buffers, a login flood's requests)
/// in its per-thread arenas for good; trimming brings the resident size back to what is in
/// use. The metrics recorder's histograms are drained on the same tick: they keep every sample
/// until then, and nothing else drains them when nobody scrapes `/metrics`.
pub fn spawn_memory_trim() -> tokio::task::JoinHandle<()> {
    crate::system::map_large_allocations();
    tokio::spawn(async {
        let metrics = crate::system::metrics_handle();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let _ = tokio::task::spawn_blocking(crate::system::release_startup_code).await;
        loop {
            tick.tick().await;
            metrics.run_upkeep();
            let _ = tokio::task::spawn_blocking(crate::system::return_free_memory).await;
        }
    })
}

/// Resolves on SIGINT or SIGTERM (Unix).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // The handlers are installed now, not when the future is first polled: a SIGTERM that
    // arrives right after startup must still mean "finish and exit", not "die".
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(term) => {},
            _ = wait(interrupt) => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
