//! Graceful shutdown: on ctrl-c or SIGTERM stop accepting connections, let in-flight requests
//! finish, and give up after a drain timeout so shutdown can never hang.

use std::future::IntoFuture;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Resolves on ctrl-c (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Serves `app` until `shutdown` is cancelled (the caller wires signals to it, e.g. with
/// [`cancel_on_signal`]); then drains in-flight requests for at most `drain_timeout`.
/// Long-lived connections (WebSockets) should watch `shutdown` themselves and close.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    // Peer addresses let /debug/pprof tell loopback clients from remote ones.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(drain_timeout, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                ?drain_timeout,
                "drain timeout elapsed; closing remaining connections"
            );
            Ok(())
        }
    }
}

/// Spawns a task that cancels `token` on ctrl-c or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
    });
}
