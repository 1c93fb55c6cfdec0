//! `market-sim`: parse the flags, bind, start the makers in the background, serve until a signal.

use clap::Parser;
use market_sim::app::MarketSim;
use market_sim::config::{Config, DEFAULT_PORT};
use tokio_util::sync::CancellationToken;

// jemalloc with heap profiling on, for /debug/pprof/heap and /debug/pprof/allocs.
service_kit::http_pprof::jemalloc_profiling!();

// The runtime is service-kit's: tokio's defaults plus the task hooks behind the goroutine
// profile's states and `created by` lines.
fn main() -> anyhow::Result<()> {
    service_kit::runtime::block_on(run())?
}

async fn run() -> anyhow::Result<()> {
    let config = Config::parse();
    service_kit::telemetry::init_tracing(config.common.log_format);
    let settings = config.validate()?;
    let shutdown = CancellationToken::new();
    service_kit::shutdown::cancel_on_signal(shutdown.clone());
    let sim = MarketSim::new(&settings, shutdown.clone())?;
    let addr = config.common.listen_or(DEFAULT_PORT);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, exchange = %settings.exchange_url, "market-sim listening");
    let starter = sim.clone();
    tokio::spawn(async move { starter.start(settings).await });
    service_kit::shutdown::serve(
        listener,
        sim.router()
            .merge(service_kit::debug::pprof_routes(&config.common))
            .merge(sim.chaos.admin_routes(config.common.pprof_token.clone()))
            .merge(chaos::upstream::admin_routes(
                sim.upstream.clone(),
                config.common.pprof_token.clone(),
            )),
        shutdown.clone(),
        config.common.drain_timeout(),
    )
    .await?;
    shutdown.cancel();
    // Give the makers a moment to pull their quotes.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    Ok(())
}
