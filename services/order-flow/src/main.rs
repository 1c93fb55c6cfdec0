//! `order-flow`: the trader-population service (default, or `run`) or the load generator (`load`).

use std::io::Write;
use std::sync::Arc;

use clap::Parser;
use order_flow::config::{Cli, Command, RunArgs, DEFAULT_PORT};
use order_flow::flow::FlowState;
use order_flow::loadgen::LoadError;
use order_flow::metrics::FlowMetrics;
use service_kit::{Metrics, Readiness};
use tokio_util::sync::CancellationToken;

// jemalloc with heap profiling on, for /debug/pprof/heap and /debug/pprof/allocs.
service_kit::http_pprof::jemalloc_profiling!();

// The runtime is service-kit's: tokio's defaults plus the task hooks behind the goroutine
// profile's states and `created by` lines.
fn main() -> anyhow::Result<()> {
    service_kit::runtime::block_on(run())?
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Load(args)) => load(args).await,
        Some(Command::Run(args)) => serve(args).await,
        None => serve(cli.run).await,
    }
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    service_kit::telemetry::init_tracing(args.common.log_format);
    let settings = args.validate()?;
    let shutdown = CancellationToken::new();
    service_kit::shutdown::cancel_on_signal(shutdown.clone());
    let metrics = Metrics::new()?;
    let flow_metrics = FlowMetrics::register(&metrics)?;
    let readiness = Readiness::new();
    let state = Arc::new(FlowState::new(settings.initial));
    let chaos = chaos::Chaos::new(&metrics)?;
    // trading-api's base URL, swappable through /admin/upstream (chaos runs route the traders
    // through the fault proxy with it).
    let upstream = exchange_client::Upstream::new(&settings.exchange_url);
    let app = order_flow::api::router_with_chaos(
        Arc::clone(&state),
        metrics,
        readiness.clone(),
        Some(&chaos),
    )
    .merge(service_kit::debug::pprof_routes(&args.common))
    .merge(chaos.admin_routes(args.common.pprof_token.clone()))
    .merge(chaos::upstream::admin_routes(
        upstream.clone(),
        args.common.pprof_token.clone(),
    ));
    let addr = args.common.listen_or(DEFAULT_PORT);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, exchange = %settings.exchange_url, "order-flow listening");
    let flow_shutdown = shutdown.clone();
    let flow = tokio::spawn(async move {
        if let Err(err) = order_flow::flow::run(
            settings,
            upstream,
            state,
            flow_metrics,
            readiness,
            flow_shutdown.clone(),
        )
        .await
        {
            tracing::error!(%err, "order flow stopped");
            flow_shutdown.cancel();
        }
    });
    service_kit::shutdown::serve(listener, app, shutdown.clone(), args.common.drain_timeout())
        .await?;
    shutdown.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), flow).await;
    Ok(())
}

async fn load(args: order_flow::config::LoadArgs) -> anyhow::Result<()> {
    service_kit::telemetry::init_tracing(args.log_format);
    let settings = args.validate()?;
    let cancel = CancellationToken::new();
    service_kit::shutdown::cancel_on_signal(cancel.clone());
    match order_flow::loadgen::run(settings, cancel).await {
        Ok(output) => {
            let text = if args.json {
                serde_json::to_string_pretty(&output)? + "\n"
            } else {
                order_flow::load::render_text(&output.report)
            };
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(())
        }
        Err(err @ LoadError::NotRunning(_)) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}
