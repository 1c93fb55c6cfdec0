//! market-sim's command line (every flag has a `SIMEX_*` environment fallback), parsed once and
//! validated into [`SimSettings`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use service_kit::CommonArgs;

use crate::price::PriceModel;

/// Default port of market-sim.
pub const DEFAULT_PORT: u16 = 8081;

/// market-sim: reference prices and market makers quoting into trading-api.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "market-sim", version, about)]
pub struct Config {
    /// Listen address, log format, drain timeout.
    #[command(flatten)]
    pub common: CommonArgs,
    /// trading-api's base URL.
    #[arg(
        long,
        visible_alias = "trading-api",
        env = "SIMEX_EXCHANGE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub exchange_url: String,
    /// The demo key file trading-api writes with `--demo-accounts` (waited for if missing).
    #[arg(
        long,
        env = "SIMEX_DEMO_KEYS_FILE",
        default_value = "./data/trading-api/demo-keys.json"
    )]
    pub keys_file: PathBuf,
    /// Index of the first demo key the makers use (maker i uses key `key_offset + i`).
    #[arg(long, env = "SIMEX_MARKETSIM_KEY_OFFSET", default_value_t = 0)]
    pub key_offset: usize,
    /// Number of market makers, each with its own account, each quoting every symbol.
    #[arg(long, env = "SIMEX_MARKETSIM_MAKERS", default_value_t = 2)]
    pub makers: usize,
    /// Symbols to make markets in, comma separated; empty = every symbol trading-api lists.
    #[arg(long, env = "SIMEX_MARKETSIM_SYMBOLS", default_value = "")]
    pub symbols: String,
    /// Starting reference prices as `SYMBOL=PRICE`, comma separated, used when trading-api's book
    /// and trades are empty; otherwise a symbol starts at trading-api's mid (or last) price.
    /// Unlisted symbols of an empty market start at 100.
    #[arg(
        long,
        env = "SIMEX_INITIAL_PRICES",
        default_value = "BTC-USD=60000,ETH-USD=3000,SOL-USD=150"
    )]
    pub initial_prices: String,
    /// Seed of the price processes: the same seed replays the same paths.
    #[arg(long, env = "SIMEX_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Milliseconds between price steps.
    #[arg(long, env = "SIMEX_PRICE_STEP_MS", default_value_t = 100)]
    pub step_ms: u64,
    /// Base volatility per square-root second (0.0002 = 2 bp).
    #[arg(long, env = "SIMEX_VOLATILITY", default_value_t = 0.0002)]
    pub volatility: f64,
    /// Expected price jumps per second.
    #[arg(long, env = "SIMEX_JUMP_RATE", default_value_t = 1.0 / 120.0)]
    pub jump_rate: f64,
    /// Standard deviation of a jump in log price.
    #[arg(long, env = "SIMEX_JUMP_SIGMA", default_value_t = 0.004)]
    pub jump_sigma: f64,
    /// Expected volatility regime changes per second.
    #[arg(long, env = "SIMEX_REGIME_SWITCH_RATE", default_value_t = 1.0 / 60.0)]
    pub regime_switch_rate: f64,
    /// Milliseconds between a maker's re-quote cycles.
    #[arg(long, env = "SIMEX_REQUOTE_MS", default_value_t = 250)]
    pub requote_ms: u64,
    /// Levels per side of each maker's ladder.
    #[arg(long, env = "SIMEX_LEVELS", default_value_t = 5)]
    pub levels: u32,
    /// Innermost level's distance from the reference, in bp (maker i adds i bp).
    #[arg(long, env = "SIMEX_HALF_SPREAD_BPS", default_value_t = 4.0)]
    pub half_spread_bps: f64,
    /// Distance between levels, in bp.
    #[arg(long, env = "SIMEX_LEVEL_SPACING_BPS", default_value_t = 3.0)]
    pub level_spacing_bps: f64,
    /// Notional (quote currency) of the innermost level; outer levels grow by half of it each.
    #[arg(long, env = "SIMEX_QUOTE_NOTIONAL", default_value_t = 2_000.0)]
    pub quote_notional: f64,
    /// Notional inventory at which a maker leans fully against its position.
    #[arg(
        long,
        env = "SIMEX_MAX_INVENTORY_NOTIONAL",
        default_value_t = 200_000.0
    )]
    pub max_inventory_notional: f64,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// trading-api's base URL.
    pub exchange_url: String,
    /// Demo key file.
    pub keys_file: PathBuf,
    /// First key used.
    pub key_offset: usize,
    /// Number of makers.
    pub makers: usize,
    /// Symbols to trade; empty = all.
    pub symbols: Vec<String>,
    /// Starting prices by symbol.
    pub initial_prices: HashMap<String, f64>,
    /// Seed.
    pub seed: u64,
    /// Price step.
    pub step: Duration,
    /// Price model.
    pub model: PriceModel,
    /// Maker cycle.
    pub requote_interval: Duration,
    /// Levels per side.
    pub levels: u32,
    /// Innermost distance, bp.
    pub half_spread_bps: f64,
    /// Level distance, bp.
    pub level_spacing_bps: f64,
    /// Innermost level notional.
    pub quote_notional: f64,
    /// Full-lean inventory notional.
    pub max_inventory_notional: f64,
}

impl Config {
    /// Checks ranges and parses the lists.
    pub fn validate(&self) -> anyhow::Result<SimSettings> {
        anyhow::ensure!(self.makers >= 1, "--makers must be at least 1");
        anyhow::ensure!(self.step_ms >= 1, "--step-ms must be at least 1");
        anyhow::ensure!(self.requote_ms >= 10, "--requote-ms must be at least 10");
        anyhow::ensure!((1..=50).contains(&self.levels), "--levels must be 1..=50");
        for (name, v) in [
            ("--volatility", self.volatility),
            ("--jump-rate", self.jump_rate),
            ("--jump-sigma", self.jump_sigma),
            ("--regime-switch-rate", self.regime_switch_rate),
        ] {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "{name} must be a non-negative number"
            );
        }
        for (name, v) in [
            ("--half-spread-bps", self.half_spread_bps),
            ("--level-spacing-bps", self.level_spacing_bps),
            ("--quote-notional", self.quote_notional),
            ("--max-inventory-notional", self.max_inventory_notional),
        ] {
            anyhow::ensure!(v.is_finite() && v > 0.0, "{name} must be positive");
        }
        let mut initial_prices = HashMap::new();
        for pair in self
            .initial_prices
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (symbol, price) = pair.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--initial-prices `{pair}`: expected SYMBOL=PRICE")
            })?;
            let price: f64 = price
                .trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("--initial-prices `{pair}`: {e}"))?;
            anyhow::ensure!(
                price.is_finite() && price > 0.0,
                "--initial-prices `{pair}`: must be positive"
            );
            initial_prices.insert(symbol.trim().to_string(), price);
        }
        Ok(SimSettings {
            exchange_url: self.exchange_url.clone(),
            keys_file: self.keys_file.clone(),
            key_offset: self.key_offset,
            makers: self.makers,
            symbols: self
                .symbols
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            initial_prices,
            seed: self.seed,
            step: Duration::from_millis(self.step_ms),
            model: PriceModel {
                drift: 0.0,
                volatility: self.volatility,
                regime_switch_rate: self.regime_switch_rate,
                jump_rate: self.jump_rate,
                jump_sigma: self.jump_sigma,
            },
            requote_interval: Duration::from_millis(self.requote_ms),
            levels: self.levels,
            half_spread_bps: self.half_spread_bps,
            level_spacing_bps: self.level_spacing_bps,
            quote_notional: self.quote_notional,
            max_inventory_notional: self.max_inventory_notional,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        let ok = Config::try_parse_from(["market-sim"]).expect("defaults parse");
        let settings = ok.validate().expect("defaults are valid");
        assert_eq!(settings.initial_prices.get("BTC-USD"), Some(&60_000.0));
        assert!(settings.symbols.is_empty());
        let compose =
            Config::try_parse_from(["market-sim", "--trading-api=http://trading-api:8080"])
                .expect("the docker-compose spelling parses");
        assert_eq!(compose.exchange_url, "http://trading-api:8080");
        for bad in [
            vec!["market-sim", "--makers", "0"],
            vec!["market-sim", "--initial-prices", "BTC-USD"],
            vec!["market-sim", "--initial-prices", "BTC-USD=-1"],
            vec!["market-sim", "--volatility=-0.1"],
        ] {
            let config = Config::try_parse_from(bad.clone()).expect("parses");
            assert!(config.validate().is_err(), "{bad:?}");
        }
    }
}
