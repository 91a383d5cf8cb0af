//! Running the service: listeners, background upkeep and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::state::AppState;

/// Serve `state` on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::app(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Bind `addr`, naming it in the error.
pub async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (`{key}`): {e}"))
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
/// use. The Argon2 blocks of the hasher threads are in use, so they stay.
pub fn spawn_memory_trim() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
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
