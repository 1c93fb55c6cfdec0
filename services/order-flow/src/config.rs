//! order-flow's command line (flags with `SIMEX_*` environment fallbacks): `order-flow [run]`
//! runs the trader populations as a service; `order-flow load` runs the load generator.

use std::path::PathBuf;
use std::time::Duration;

use service_kit::CommonArgs;

use crate::flow::{FlowSettings, RateConfig};
use crate::loadgen::LoadSettings;
use crate::traders::{Mix, Sizing};

/// Default port of order-flow.
pub const DEFAULT_PORT: u16 = 8082;

/// order-flow: trader populations sending orders into trading-api, and a load generator.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "order-flow",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// `run` (the default) or `load`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `run` when no subcommand is given.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Run the trader populations as a service (the default).
    Run(RunArgs),
    /// Open-model load generator: constant arrival rate, coordinated-omission-corrected latency.
    Load(LoadArgs),
}

/// Flags shared by `run` and `load`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExchangeArgs {
    /// trading-api's base URL.
    #[arg(
        long = "target",
        visible_aliases = ["exchange-url", "trading-api"],
        env = "SIMEX_EXCHANGE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub target: String,
    /// The demo key file trading-api writes with `--demo-accounts`.
    #[arg(
        long = "keys",
        visible_alias = "keys-file",
        env = "SIMEX_DEMO_KEYS_FILE",
        default_value = "./data/trading-api/demo-keys.json"
    )]
    pub keys: PathBuf,
    /// Index of the first demo key used. Default: 2 for `run` (market-sim's two makers use keys 0
    /// and 1), 6 for `load` (after `run`'s four accounts), wrapping around a shorter key file.
    #[arg(long, env = "SIMEX_ORDERFLOW_KEY_OFFSET")]
    pub key_offset: Option<usize>,
    /// Symbols, comma separated; empty = every symbol trading-api lists.
    #[arg(long, env = "SIMEX_ORDERFLOW_SYMBOLS", default_value = "")]
    pub symbols: String,
    /// Per-request timeout in milliseconds.
    #[arg(long, env = "SIMEX_REQUEST_TIMEOUT_MS", default_value_t = 5_000)]
    pub timeout_ms: u64,
}

/// `order-flow run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Listen address, log format, drain timeout.
    #[command(flatten)]
    pub common: CommonArgs,
    /// trading-api, keys, symbols.
    #[command(flatten)]
    pub exchange: ExchangeArgs,
    /// Trader accounts (demo keys from the offset on).
    #[arg(long, env = "SIMEX_ORDERFLOW_ACCOUNTS", default_value_t = 4)]
    pub accounts: usize,
    /// Orders per second over all populations (change at run time with `POST /api/v1/rate`).
    #[arg(long, env = "SIMEX_ORDERFLOW_RATE", default_value_t = 20.0)]
    pub rate: f64,
    /// Population weights as `retail,momentum,institutional`.
    #[arg(long, env = "SIMEX_ORDERFLOW_MIX", default_value = "0.7,0.2,0.1")]
    pub mix: String,
    /// Seed of arrivals and decisions.
    #[arg(long, env = "SIMEX_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Median retail order notional (quote currency).
    #[arg(long, env = "SIMEX_RETAIL_NOTIONAL", default_value_t = 1_000.0)]
    pub retail_notional: f64,
    /// Median institutional parent notional.
    #[arg(long, env = "SIMEX_PARENT_NOTIONAL", default_value_t = 50_000.0)]
    pub parent_notional: f64,
    /// Slices per institutional parent.
    #[arg(long, env = "SIMEX_TWAP_SLICES", default_value_t = 10)]
    pub twap_slices: u32,
    /// Seconds over which a parent is sliced.
    #[arg(long, env = "SIMEX_TWAP_SECS", default_value_t = 20)]
    pub twap_secs: u64,
    /// Seconds a passive order may rest before order-flow cancels it.
    #[arg(long, env = "SIMEX_ORDER_TTL_SECS", default_value_t = 30)]
    pub order_ttl_secs: u64,
    /// Reject-test mode: this fraction of orders is deliberately invalid (off tick, zero size,
    /// unknown symbol) and must be refused.
    #[arg(long, env = "SIMEX_REJECT_RATIO", default_value_t = 0.0)]
    pub reject_ratio: f64,
    /// Milliseconds between refreshes of the book and trades.
    #[arg(long, env = "SIMEX_VIEW_REFRESH_MS", default_value_t = 250)]
    pub view_refresh_ms: u64,
    /// Most orders awaiting an answer; arrivals beyond it are skipped and counted.
    #[arg(long, env = "SIMEX_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// Directory of the acknowledged-orders log.
    #[arg(
        long,
        env = "SIMEX_ORDERFLOW_DATA_DIR",
        default_value = "./data/order-flow"
    )]
    pub data_dir: PathBuf,
}

/// `order-flow load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// trading-api, keys, symbols.
    #[command(flatten)]
    pub exchange: ExchangeArgs,
    /// Orders per second, held whatever the server does (open model).
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// Run length, e.g. `30s`, `2m`, `500ms`; runs until Ctrl-C when absent.
    #[arg(long)]
    pub duration: Option<String>,
    /// Concurrent connections, one request in flight on each.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Median order notional (quote currency).
    #[arg(long, default_value_t = 200.0)]
    pub notional: f64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Log format for warnings.
    #[arg(long, value_enum, default_value_t = service_kit::LogFormat::Text)]
    pub log_format: service_kit::LogFormat,
}

fn symbol_list(spec: &str) -> Vec<String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses `30s`, `2m`, `1h`, `500ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("duration `{text}`: expected e.g. 30s, 2m, 500ms"))?;
    anyhow::ensure!(
        value.is_finite() && value > 0.0 && value * scale <= 7.0 * 86_400.0,
        "duration `{text}` out of range"
    );
    Ok(Duration::from_secs_f64(value * scale))
}

/// Parses `retail,momentum,institutional` weights.
pub fn parse_mix(text: &str) -> anyhow::Result<Mix> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--mix `{text}`: {e}"))?;
    let [retail, momentum, institutional] = parts.as_slice() else {
        anyhow::bail!("--mix `{text}`: expected three weights retail,momentum,institutional");
    };
    let mix = Mix {
        retail: *retail,
        momentum: *momentum,
        institutional: *institutional,
    };
    anyhow::ensure!(
        mix.normalized().is_some(),
        "--mix `{text}`: weights must be non-negative, not all zero"
    );
    Ok(mix)
}

impl RunArgs {
    /// Validates into [`FlowSettings`].
    pub fn validate(&self) -> anyhow::Result<FlowSettings> {
        anyhow::ensure!(self.accounts >= 1, "--accounts must be at least 1");
        anyhow::ensure!(
            self.rate.is_finite() && (0.0..=crate::api::MAX_RATE).contains(&self.rate),
            "--rate out of range"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.reject_ratio),
            "--reject-ratio must be in [0, 1]"
        );
        anyhow::ensure!(
            self.twap_slices >= 1 && self.twap_secs >= 1,
            "--twap-slices and --twap-secs must be positive"
        );
        anyhow::ensure!(
            self.retail_notional > 0.0 && self.parent_notional > 0.0,
            "notionals must be positive"
        );
        anyhow::ensure!(
            self.view_refresh_ms >= 10,
            "--view-refresh-ms must be at least 10"
        );
        Ok(FlowSettings {
            exchange_url: self.exchange.target.clone(),
            keys_file: self.exchange.keys.clone(),
            key_offset: self.exchange.key_offset.unwrap_or(2),
            accounts: self.accounts,
            symbols: symbol_list(&self.exchange.symbols),
            initial: RateConfig {
                rate: self.rate,
                mix: parse_mix(&self.mix)?,
            },
            seed: self.seed,
            sizing: Sizing {
                retail_notional: self.retail_notional,
                parent_notional: self.parent_notional,
                slices: self.twap_slices,
                ..Sizing::default()
            },
            twap_duration: Duration::from_secs(self.twap_secs),
            order_ttl: Duration::from_secs(self.order_ttl_secs),
            reject_ratio: self.reject_ratio,
            view_refresh: Duration::from_millis(self.view_refresh_ms),
            max_in_flight: self.max_in_flight.max(1),
            data_dir: self.data_dir.clone(),
            request_timeout: Duration::from_millis(self.exchange.timeout_ms.max(1)),
        })
    }
}

impl LoadArgs {
    /// Validates into [`LoadSettings`].
    pub fn validate(&self) -> anyhow::Result<LoadSettings> {
        anyhow::ensure!(
            self.rate.is_finite() && self.rate > 0.0 && self.rate <= crate::api::MAX_RATE,
            "--rate must be in (0, 1e6]"
        );
        anyhow::ensure!(
            (1..=10_000).contains(&self.connections),
            "--connections must be 1..=10000"
        );
        anyhow::ensure!(self.notional > 0.0, "--notional must be positive");
        Ok(LoadSettings {
            target: self.exchange.target.clone(),
            rate: self.rate,
            duration: self.duration.as_deref().map(parse_duration).transpose()?,
            connections: self.connections,
            keys_file: self.exchange.keys.clone(),
            key_offset: self.exchange.key_offset.unwrap_or(6),
            symbols: symbol_list(&self.exchange.symbols),
            notional: self.notional,
            timeout: Duration::from_millis(self.exchange.timeout_ms.max(1)),
            progress: !self.quiet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn run_is_the_default_and_load_parses() {
        let cli = Cli::try_parse_from(["order-flow", "--rate", "5"]).expect("parses");
        // The spellings docker-compose.yml uses.
        let compose = Cli::try_parse_from([
            "order-flow",
            "--trading-api=http://trading-api:8080",
            "--keys-file=/data/demo-keys.json",
        ])
        .expect("compose flags parse");
        assert_eq!(compose.run.exchange.target, "http://trading-api:8080");
        assert!(cli.command.is_none());
        assert_eq!(cli.run.validate().expect("valid").initial.rate, 5.0);
        let cli = Cli::try_parse_from([
            "order-flow",
            "load",
            "--rate",
            "300",
            "--duration",
            "10s",
            "--connections",
            "4",
            "--json",
        ])
        .expect("parses");
        let Some(Command::Load(args)) = cli.command else {
            panic!("load subcommand")
        };
        let s = args.validate().expect("valid");
        assert_eq!(s.duration, Some(Duration::from_secs(10)));
        assert_eq!(s.connections, 4);
        assert!(args.json);
    }

    #[test]
    fn durations_and_mixes() {
        assert_eq!(
            parse_duration("500ms").expect("ok"),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("2m").expect("ok"), Duration::from_secs(120));
        assert_eq!(parse_duration("7").expect("ok"), Duration::from_secs(7));
        for bad in ["", "x", "-1s", "0s", "1e99s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_mix("1,1,1").is_ok());
        assert!(parse_mix("1,1").is_err());
        assert!(parse_mix("0,0,0").is_err());
    }
}
