//! trading-api: the simex exchange as an HTTP service.
//!
//! An order's path, top to bottom:
//! - [`api`]: REST handlers; input validated and converted to integer units ([`units`]).
//! - [`venue`]: risk hold ([`ledger`]), journal append ([`journal`]), matching (crate `matching`),
//!   settlement and order records ([`orders`]), market data publication — one critical section.
//! - [`marketdata`]: the `/ws` WebSocket feeds and the messages they carry.
//! - [`snapshot`]: periodic snapshots that bound replay time.
//! - [`config`]: command-line configuration (read only by `main`); [`metrics`]: prometheus.
//!
//! Start-up ([`recover`]): restore the newest valid snapshot, replay the journal after it, open
//! the journal for appending, then mark the service ready. The router is served during replay,
//! answering 503 until [`AppState::install`] is called.
//!
//! Architecture invariant: the engine knows nothing of accounts' balances or the journal; the
//! venue knows nothing of HTTP; handlers never touch a lock directly.

pub mod api;
pub mod config;
pub mod faults;
pub mod feed;
pub mod instrument;
pub mod journal;
pub mod ledger;
pub mod locking;
pub mod marketdata;
pub mod metrics;
pub mod orders;
pub mod snapshot;
pub mod units;
pub mod venue;
pub mod visibility;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::response::Html;
use axum::routing::{get, post};
use axum::Router;
use matching::{Instrument, LockingMode};
use service_kit::http::{standard_router, with_overload_limits, HttpKit, OverloadLimits};
use service_kit::{Metrics, Readiness};
use tokio_util::sync::CancellationToken;

use crate::journal::{Journal, SyncMode};
use crate::metrics::TradingMetrics;
use crate::venue::{JournalEntry, Venue};

/// Shared state of the HTTP layer: one `Arc` around [`AppStateFields`], because axum clones the
/// state for every request, and cloning the fields one by one (a dozen reference counts and a
/// `PathBuf` copy, then as many drops) was ~5% of order entry's CPU (BENCHMARKS.md §3).
#[derive(Clone)]
pub struct AppState(Arc<AppStateFields>);

impl std::ops::Deref for AppState {
    type Target = AppStateFields;
    fn deref(&self) -> &AppStateFields {
        &self.0
    }
}

/// What [`AppState`] shares (read through `Deref`: `state.metrics`).
pub struct AppStateFields {
    /// The venue, set once recovery finished (`None` means not ready: 503).
    venue: OnceLock<Arc<Venue>>,
    /// Trading metrics (WebSocket gauges live here).
    pub metrics: TradingMetrics,
    /// The service registry and HTTP metrics.
    pub http_metrics: Metrics,
    /// `/ready`.
    pub readiness: Readiness,
    /// Bearer token for `/admin`; `None` disables it.
    pub admin_token: Option<Arc<str>>,
    /// Cancelled on shutdown; WebSocket sessions close when it fires.
    pub shutdown: CancellationToken,
    /// Per-client market-data queue length.
    pub ws_queue: usize,
    /// Largest request body.
    pub body_limit: usize,
    /// Where snapshots go.
    pub data_dir: PathBuf,
    /// Requests in flight before new ones get 503.
    pub max_in_flight: usize,
    /// Longest a request may take before 408.
    pub request_timeout: Duration,
    /// Fault injection (`/admin/chaos`, merged by main; its request layer is in [`app`]).
    pub chaos: chaos::Chaos,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// What [`AppState::new`] needs.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Admin bearer token.
    pub admin_token: Option<String>,
    /// Per-client market-data queue length.
    pub ws_queue: usize,
    /// Largest request body.
    pub body_limit: usize,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Requests in flight before new ones get 503.
    pub max_in_flight: usize,
    /// Longest a request may take before 408.
    pub request_timeout: Duration,
}

impl AppState {
    /// State with no venue yet (not ready).
    pub fn new(options: AppOptions) -> anyhow::Result<Self> {
        let http_metrics = Metrics::new()?;
        let metrics = TradingMetrics::new(&http_metrics)?;
        let chaos = chaos::Chaos::new(&http_metrics)?;
        Ok(Self(Arc::new(AppStateFields {
            venue: OnceLock::new(),
            metrics,
            http_metrics,
            readiness: Readiness::new(),
            admin_token: options.admin_token.map(Arc::from),
            shutdown: CancellationToken::new(),
            ws_queue: options.ws_queue,
            body_limit: options.body_limit,
            data_dir: options.data_dir,
            max_in_flight: options.max_in_flight,
            request_timeout: options.request_timeout,
            chaos,
        })))
    }

    /// The venue, once recovered.
    pub fn venue(&self) -> Option<Arc<Venue>> {
        self.venue.get().cloned()
    }

    /// Publishes the recovered venue and marks the service ready.
    pub fn install(&self, venue: Arc<Venue>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(venue::release_market_data_forever(Arc::downgrade(&venue)));
        }
        if self.venue.set(venue).is_err() {
            tracing::error!("venue installed twice");
        }
        self.readiness.set_ready(true);
    }
}

/// The live page at `/`.
const PAGE: &str = include_str!("page.html");

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let work = Router::new()
        .route(
            "/api/v1/orders",
            post(api::submit_order).get(api::list_orders),
        )
        .route(
            "/api/v1/orders/{id}",
            get(api::get_order)
                .delete(api::cancel_order)
                .patch(api::amend_order),
        )
        .route("/api/v1/account", get(api::get_account))
        .route("/api/v1/symbols", get(api::list_symbols))
        .route("/api/v1/orderbook/{symbol}", get(api::get_orderbook))
        .route("/api/v1/trades/{symbol}", get(api::get_trades))
        .route("/api/v1/ticker/{symbol}", get(api::get_ticker))
        .route(
            "/admin/accounts",
            post(api::admin_create_account).get(api::admin_list_accounts),
        )
        .route("/admin/deposits", post(api::admin_deposit))
        .route("/admin/state", get(api::admin_state))
        .route("/admin/snapshot", post(api::admin_snapshot))
        .with_state(state.clone());
    let work = with_overload_limits(
        work,
        OverloadLimits {
            max_in_flight: state.max_in_flight,
            request_timeout: state.request_timeout,
        },
    );
    // The page and the long-lived WebSocket stay outside the request timeout.
    let routes = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/ws", get(marketdata::ws_handler))
        .with_state(state.clone())
        .merge(work);
    // Injected latency, errors and per-request work, inside the HTTP metrics.
    let routes = state.chaos.inject_into(routes);
    // /debug/pprof is merged by main (service_kit::debug::pprof_routes), outside these layers.
    standard_router(
        routes,
        &HttpKit {
            metrics: state.http_metrics.clone(),
            readiness: state.readiness.clone(),
            body_limit: state.body_limit,
        },
    )
}

/// How to recover.
#[derive(Debug, Clone)]
pub struct RecoveryOptions {
    /// Data directory (journal, snapshots).
    pub data_dir: PathBuf,
    /// Instruments.
    pub instruments: Vec<Instrument>,
    /// Book locking.
    pub locking: LockingMode,
    /// Journal sync mode.
    pub sync: SyncMode,
    /// Market-data broadcast capacity per symbol.
    pub feed_capacity: usize,
}

/// The journal file.
pub fn journal_path(data_dir: &Path) -> PathBuf {
    data_dir.join("journal.log")
}

/// Restores the newest valid snapshot, replays the journal after it and opens the journal.
/// Blocking: run it on a blocking thread. Fails on mid-journal corruption.
pub fn recover(options: &RecoveryOptions, metrics: &TradingMetrics) -> anyhow::Result<Venue> {
    std::fs::create_dir_all(&options.data_dir)?;
    let fresh = || {
        Venue::new(
            options.instruments.clone(),
            options.locking,
            options.feed_capacity,
            metrics.clone(),
        )
    };
    let mut start = (fresh()?, 0u64, 0u64);
    for path in snapshot::list(&options.data_dir) {
        let loaded = snapshot::read(&path).and_then(|snap| {
            let venue = fresh()?;
            venue.restore(&snap)?;
            let digest = venue.digest();
            anyhow::ensure!(
                digest.state == snap.digest,
                "restored digest {:016x} differs from recorded {:016x}",
                digest.state,
                snap.digest
            );
            Ok((venue, snap.seq, snap.offset))
        });
        match loaded {
            Ok(found) => {
                tracing::info!(path = %path.display(), seq = found.1, "restored snapshot");
                start = found;
                break;
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %format!("{err:#}"), "skipping unusable snapshot")
            }
        }
    }
    let (venue, after_seq, offset) = start;
    let path = journal_path(&options.data_dir);
    let started = std::time::Instant::now();
    let mut replayed = 0u64;
    let end = journal::scan(&path, offset, after_seq, |seq, payload| {
        let entry: JournalEntry = serde_json::from_slice(payload)?;
        venue.replay_entry(seq, entry)?;
        replayed += 1;
        Ok(())
    })?;
    let journal = Journal::open(&path, end, options.sync, metrics.journal.clone())?;
    venue.open_journal(journal);
    tracing::info!(
        replayed,
        last_seq = end.last_seq,
        elapsed_ms = started.elapsed().as_millis() as u64,
        torn_tail = end
            .torn_tail
            .map_or("none".to_owned(), |kind| kind.to_string()),
        "journal replayed"
    );
    Ok(venue)
}

/// Writes a file that holds secrets (API keys): readable by the owner only (0600, set when the
/// file is created, so there is no moment it is world-readable), complete or absent (temp file,
/// fsync, rename, fsync of the directory), so a reader never sees half a key list and a crash
/// right after start-up does not lose the keys the simulators are about to read.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// Captures a snapshot, waits until the journal is durable up to it, and writes it.
pub async fn take_snapshot(venue: &Arc<Venue>, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let v = Arc::clone(venue);
    let snap = tokio::task::spawn_blocking(move || v.capture())
        .await?
        .ok_or_else(|| anyhow::anyhow!("journal not open"))?;
    if let Some(journal) = venue.journal() {
        if journal.mode() != SyncMode::None {
            journal.wait_durable(snap.seq).await?;
        }
    }
    let dir = data_dir.to_owned();
    let path = tokio::task::spawn_blocking(move || snapshot::write(&dir, &snap)).await??;
    tracing::info!(path = %path.display(), "snapshot written");
    Ok(path)
}

/// Writes a snapshot whenever `every` records were appended since the last one.
pub fn spawn_snapshotter(
    venue: Arc<Venue>,
    data_dir: PathBuf,
    every: u64,
    shutdown: CancellationToken,
) {
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut last = venue.journal().map_or(0, |j| j.position().0);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            let seq = venue.journal().map_or(0, |j| j.position().0);
            if seq.saturating_sub(last) < every {
                continue;
            }
            match take_snapshot(&venue, &data_dir).await {
                Ok(_) => last = seq,
                Err(err) => tracing::error!(error = %format!("{err:#}"), "snapshot failed"),
            }
        }
    });
}

/// Demo accounts: reuses the keys file if every key in it still opens an account; otherwise
/// creates `count` funded accounts and writes their keys to `keys_file`.
///
/// File format: `{"accounts":[{"account_id":1,"name":"demo-1","api_key":"sk_..."}]}`.
pub async fn seed_demo(
    venue: &Venue,
    count: u32,
    funding: &[(String, u128)],
    keys_file: &Path,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    if let Ok(text) = std::fs::read_to_string(keys_file) {
        if let Ok(existing) = serde_json::from_str::<DemoKeys>(&text) {
            let valid = existing.accounts.len() >= count as usize
                && existing
                    .accounts
                    .iter()
                    .all(|a| venue.authenticate(&a.api_key) == Some(a.account_id));
            if valid {
                tracing::info!(file = %keys_file.display(), "demo accounts exist; keeping their keys");
                return Ok(());
            }
        }
    }
    let mut accounts = Vec::new();
    for i in 1..=count {
        let name = format!("demo-{i}");
        let (account_id, api_key) = venue.create_account(&name).await?;
        for (asset, amount) in funding {
            venue.deposit(account_id, asset, *amount).await?;
        }
        accounts.push(DemoAccount {
            account_id,
            name,
            api_key,
        });
    }
    if let Some(dir) = keys_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_secret_file(
        keys_file,
        &serde_json::to_vec_pretty(&DemoKeys { accounts })?,
    )?;
    tracing::info!(count, file = %keys_file.display(), "demo accounts created");
    Ok(())
}

/// The demo keys file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DemoKeys {
    /// One entry per demo account.
    pub accounts: Vec<DemoAccount>,
}

/// One demo account.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DemoAccount {
    /// Account id.
    pub account_id: matching::AccountId,
    /// `demo-N`.
    pub name: String,
    /// Its API key (send as `X-API-Key`).
    pub api_key: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    // Issue 14: demo-keys.json was world-readable (0644) and not synced.
    #[test]
    fn secret_files_are_owner_only_and_replace_the_old_one_whole() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("simex-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.json");
        std::fs::write(&path, b"old").unwrap();
        super::write_secret_file(&path, b"{\"accounts\":[]}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"accounts\":[]}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        assert!(!path.with_extension("tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
