//! Command-line configuration (every flag has a `SIMEX_*` environment fallback), parsed once and
//! validated into the types the library takes. The library itself never reads flags or env.

use std::path::PathBuf;

use matching::{Instrument, LockingMode};
use service_kit::CommonArgs;

use crate::journal::SyncMode;
use crate::units::ASSET_DECIMALS;

/// Default port of trading-api.
pub const DEFAULT_PORT: u16 = 8080;

/// Default instruments: `SYMBOL:PRICE_DECIMALS:QTY_DECIMALS:TICK:LOT:MAX_QTY`.
pub const DEFAULT_SYMBOLS: &str =
    "BTC-USD:2:6:1:100:1000000000,ETH-USD:2:5:1:100:1000000000,SOL-USD:3:3:10:10:1000000000";

/// trading-api: the simulated exchange.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "trading-api", version, about)]
pub struct Config {
    /// Listen address, log format, drain timeout.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Directory holding the journal and snapshots (created if missing).
    #[arg(long, env = "SIMEX_DATA_DIR", default_value = "./data/trading-api")]
    pub data_dir: PathBuf,
    /// Instruments as `SYMBOL:PRICE_DECIMALS:QTY_DECIMALS:TICK:LOT:MAX_QTY`, comma separated.
    /// Prices are multiples of TICK price units (10^-PRICE_DECIMALS), sizes multiples of LOT.
    #[arg(long, env = "SIMEX_SYMBOLS", default_value = DEFAULT_SYMBOLS)]
    pub symbols: String,
    /// Market-order protection band in basis points from the best opposite price.
    #[arg(long, env = "SIMEX_MARKET_PROTECTION_BPS", default_value_t = 500)]
    pub market_protection_bps: u32,
    /// Book locking: one mutex per symbol, one for all books, or `coarse` (one lock across the
    /// whole order path, journal sync included).
    #[arg(long, env = "SIMEX_LOCKING", value_enum, default_value_t = LockingArg::PerSymbol)]
    pub locking: LockingArg,
    /// Journal durability (what an answered order survives): `always` (fsync each record:
    /// power loss), `batch` (group commit, answer after the shared fsync: power loss), `write`
    /// (answer once written to the OS, fsync within 50 ms: process crash), `none` (answer
    /// before writing: nothing guaranteed). The demo's default is `batch`: an exchange that is
    /// used to teach what durability costs should pay it in full, so the fsync shows in its
    /// profiles; run `write` for throughput figures (it is what production systems usually run).
    #[arg(long, env = "SIMEX_JOURNAL_SYNC", value_enum, default_value_t = SyncMode::Batch)]
    pub journal_sync: SyncMode,
    /// Write a snapshot (and start a new journal segment) every this many records; 0 = never.
    #[arg(long, env = "SIMEX_SNAPSHOT_EVERY", default_value_t = 100_000)]
    pub snapshot_every: u64,
    /// Bearer token for `/admin/...`; without one the admin API answers 401.
    #[arg(long, env = "SIMEX_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Seed this many demo accounts, funded, and write their API keys to `--demo-keys-file`.
    #[arg(long, env = "SIMEX_DEMO_ACCOUNTS", default_value_t = 0)]
    pub demo_accounts: u32,
    /// Where the demo accounts' keys are written (JSON); default `<data-dir>/demo-keys.json`.
    #[arg(long, env = "SIMEX_DEMO_KEYS_FILE")]
    pub demo_keys_file: Option<PathBuf>,
    /// Deposit per demo account and asset, as `ASSET=AMOUNT` pairs, comma separated.
    #[arg(
        long,
        env = "SIMEX_DEMO_FUNDING",
        default_value = "USD=10000000,BTC=100,ETH=1000,SOL=100000"
    )]
    pub demo_funding: String,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "SIMEX_BODY_LIMIT", default_value_t = 16 * 1024)]
    pub body_limit: usize,
    /// HTTP requests served at once; beyond it requests get 503 at once (load shedding).
    #[arg(long, env = "SIMEX_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Longest an HTTP request may take, in milliseconds, before 408.
    #[arg(long, env = "SIMEX_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Market-data messages a WebSocket client may fall behind before it is disconnected.
    #[arg(long, env = "SIMEX_WS_QUEUE", default_value_t = 4096)]
    pub ws_queue: usize,
}

/// `--locking` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LockingArg {
    /// One mutex per book.
    PerSymbol,
    /// One mutex for all books.
    Global,
    /// Per-book locks in the engine, and one venue lock around the whole order path including
    /// the journal sync: the lock-heavy first-version design (switchable at run time with the
    /// `lock-contention` fault, `design: coarse`).
    Coarse,
}

impl From<LockingArg> for LockingMode {
    fn from(arg: LockingArg) -> Self {
        match arg {
            LockingArg::PerSymbol => LockingMode::PerSymbol,
            LockingArg::Global => LockingMode::Global,
            LockingArg::Coarse => LockingMode::PerSymbol,
        }
    }
}

/// Parses the `--symbols` list.
pub fn parse_instruments(spec: &str, protection_bps: u32) -> anyhow::Result<Vec<Instrument>> {
    let mut out: Vec<Instrument> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = item.split(':').collect();
        let [symbol, pd, qd, tick, lot, max] = parts.as_slice() else {
            anyhow::bail!(
                "instrument `{item}`: expected SYMBOL:PRICE_DECIMALS:QTY_DECIMALS:TICK:LOT:MAX_QTY"
            );
        };
        let (base, quote) = symbol
            .split_once('-')
            .filter(|(b, q)| !b.is_empty() && !q.is_empty())
            .ok_or_else(|| anyhow::anyhow!("instrument `{item}`: symbol must be BASE-QUOTE"))?;
        let _ = (base, quote);
        let num = |s: &str, what: &str| -> anyhow::Result<u64> {
            s.parse::<u64>()
                .map_err(|e| anyhow::anyhow!("instrument `{item}`: {what} `{s}`: {e}"))
        };
        let price_decimals = u8::try_from(num(pd, "price decimals")?)?;
        let qty_decimals = u8::try_from(num(qd, "quantity decimals")?)?;
        anyhow::ensure!(
            u16::from(price_decimals) + u16::from(qty_decimals) <= u16::from(ASSET_DECIMALS),
            "instrument `{item}`: price + quantity decimals must be at most {ASSET_DECIMALS}"
        );
        let instrument = Instrument {
            symbol: (*symbol).to_owned(),
            price_decimals,
            qty_decimals,
            tick_size: num(tick, "tick")?.max(1),
            lot_size: num(lot, "lot")?.max(1),
            max_order_qty: num(max, "max quantity")?,
            market_protection_bps: protection_bps,
        };
        anyhow::ensure!(
            !out.iter().any(|i| i.symbol == instrument.symbol),
            "instrument `{symbol}` listed twice"
        );
        out.push(instrument);
    }
    anyhow::ensure!(!out.is_empty(), "no instruments configured");
    Ok(out)
}

/// Parses `ASSET=AMOUNT,...` into asset names and amounts in ledger units.
pub fn parse_funding(spec: &str) -> anyhow::Result<Vec<(String, u128)>> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (asset, amount) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("funding `{pair}`: expected ASSET=AMOUNT"))?;
            let units = crate::units::parse_units(amount, ASSET_DECIMALS)
                .map_err(|e| anyhow::anyhow!("funding `{pair}`: amount {e}"))?;
            Ok((asset.trim().to_owned(), units))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_symbols_parse() {
        let instruments = parse_instruments(DEFAULT_SYMBOLS, 500).expect("defaults are valid");
        assert_eq!(instruments.len(), 3);
        assert_eq!(instruments[2].tick_size, 10);
        assert!(parse_instruments("BTC:2:6:1:1:1", 1).is_err());
        assert!(parse_instruments("BTC-USD:5:6:1:1:1", 1).is_err());
        assert!(parse_instruments("BTC-USD:2:6:1:1:1,BTC-USD:2:6:1:1:1", 1).is_err());
    }
}
