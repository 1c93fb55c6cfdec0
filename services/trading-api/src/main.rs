//! trading-api binary: parse config, bind, serve while recovering, then run until SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use service_kit::shutdown::{cancel_on_signal, serve};
use trading_api::config::{parse_funding, parse_instruments, Config, DEFAULT_PORT};
use trading_api::{
    app, recover, seed_demo, spawn_snapshotter, AppOptions, AppState, RecoveryOptions,
};

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
    let instruments = parse_instruments(&config.symbols, config.market_protection_bps)?;
    let funding = parse_funding(&config.demo_funding)?;
    let state = AppState::new(AppOptions {
        admin_token: config.admin_token.clone(),
        ws_queue: config.ws_queue,
        body_limit: config.body_limit,
        data_dir: config.data_dir.clone(),
        max_in_flight: config.max_in_flight,
        request_timeout: std::time::Duration::from_millis(config.request_timeout_ms),
    })?;
    cancel_on_signal(state.shutdown.clone());
    {
        // Stop advertising readiness the moment shutdown begins, so balancers drain us first.
        let (shutdown, readiness) = (state.shutdown.clone(), state.readiness.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            readiness.set_ready(false);
        });
    }

    let addr = config.common.listen_or(DEFAULT_PORT);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "listening");
    let server = tokio::spawn(serve(
        listener,
        app(state.clone())
            .merge(service_kit::debug::pprof_routes(&config.common))
            .merge(state.chaos.admin_routes(config.common.pprof_token.clone())),
        state.shutdown.clone(),
        config.common.drain_timeout(),
    ));

    let options = RecoveryOptions {
        data_dir: config.data_dir.clone(),
        instruments,
        locking: config.locking.into(),
        sync: config.journal_sync,
        feed_capacity: config.ws_queue,
    };
    let metrics = state.metrics.clone();
    let venue = match tokio::task::spawn_blocking(move || recover(&options, &metrics)).await? {
        Ok(venue) => Arc::new(venue),
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "recovery failed; refusing to start");
            state.shutdown.cancel();
            let _ = server.await;
            return Err(err.context("recovering from the journal"));
        }
    };
    if config.locking == trading_api::config::LockingArg::Coarse {
        venue.set_coarse_locking(true);
    }
    let keys_file = config
        .demo_keys_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("demo-keys.json"));
    seed_demo(&venue, config.demo_accounts, &funding, &keys_file).await?;
    spawn_snapshotter(
        Arc::clone(&venue),
        config.data_dir.clone(),
        config.snapshot_every,
        state.shutdown.clone(),
    );
    state.install(Arc::clone(&venue));
    state
        .chaos
        .install_hooks(Arc::new(trading_api::faults::VenueFaults::new(Arc::clone(
            &venue,
        ))));
    tracing::info!("ready");

    let result = server.await.context("server task")?;
    state.readiness.set_ready(false);
    if let Some(journal) = venue.journal() {
        journal.close();
    }
    tracing::info!("journal flushed; bye");
    result.context("serving")
}
