//! `fault-proxy`: a TCP fault proxy speaking toxiproxy's REST API on 127.0.0.1:8474.
//!
//! ```text
//! fault-proxy [--listen 127.0.0.1:8474]
//! curl -XPOST localhost:8474/proxies -d '{"name":"trading","listen":"127.0.0.1:18080","upstream":"127.0.0.1:8080"}'
//! curl -XPOST localhost:8474/proxies/trading/toxics -d '{"type":"latency","attributes":{"latency":200}}'
//! ```
//!
//! Besides toxiproxy's routes it answers `GET /health` and `GET /ready` (200 `ok`), so `simex up`
//! supervises it like the services (it starts it on base port + 394: 8474 by default).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "TCP fault proxy with toxiproxy's REST API (loopback only)")]
struct Args {
    /// Address of the REST API; must be loopback.
    #[arg(long, env = "FAULT_PROXY_LISTEN", default_value = "127.0.0.1:8474")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    service_kit::telemetry::init_tracing(service_kit::LogFormat::Text);
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "--listen {} is not a loopback address; fault-proxy serves loopback only",
        args.listen
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "fault-proxy API listening");
    let shutdown = CancellationToken::new();
    service_kit::shutdown::cancel_on_signal(shutdown.clone());
    let app = chaos::proxy::api::router(chaos::proxy::Collection::new())
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route("/ready", axum::routing::get(|| async { "ok" }));
    service_kit::shutdown::serve(listener, app, shutdown, std::time::Duration::from_secs(2))
        .await?;
    Ok(())
}
