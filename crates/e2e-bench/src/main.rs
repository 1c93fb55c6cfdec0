//! minimal-order-endpoint: serves [`e2e_bench::app`] until SIGTERM, set up as the services are
//! (multi-thread tokio runtime, jemalloc with heap sampling, graceful drain).

use anyhow::Context;
use clap::Parser;
use service_kit::shutdown::{cancel_on_signal, serve};
use service_kit::CommonArgs;
use tokio_util::sync::CancellationToken;

// The services' allocator and sampling rate, so the baseline allocates as they do.
service_kit::http_pprof::jemalloc_profiling!();

/// minimal-order-endpoint: `POST /api/v1/orders` with no exchange behind it (benchmark baseline).
#[derive(Debug, clap::Parser)]
#[command(name = "minimal-order-endpoint", version, about)]
struct Args {
    /// Listen address, log format, drain timeout.
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    service_kit::telemetry::init_tracing(args.common.log_format);
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let addr = args.common.listen_or(8090);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let app = e2e_bench::app(&e2e_bench::AppConfig::default())?;
    serve(listener, app, shutdown, args.common.drain_timeout())
        .await
        .context("serving")
}
