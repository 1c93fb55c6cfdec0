//! The order flow: Poisson arrivals of the trader populations, sent to trading-api through the
//! demo accounts, with the market view kept fresh, expired passive orders canceled, acknowledged
//! orders logged, and a patient back-off while trading-api is down.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

// Profiled (`/debug/pprof/mutex`, `block`): every answered order takes `counts`.
use contention::Mutex;
use std::time::Duration;

use exchange_client::{load_demo_keys, ClientError, ExchangeClient, Grid, TimeInForce, Upstream};
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use service_kit::Readiness;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::acklog::AckLog;
use crate::arrival::PoissonArrivals;
use crate::metrics::FlowMetrics;
use crate::traders::{
    invalidate, momentum, retail, Intent, MarketView, Mix, Population, Sizing, TwapProgram,
};

/// The order rate and population mix, settable at run time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateConfig {
    /// Orders per second over all populations.
    pub rate: f64,
    /// Shares of the populations.
    pub mix: Mix,
}

/// Validated settings of the flow.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// trading-api's base URL.
    pub exchange_url: String,
    /// trading-api's demo key file.
    pub keys_file: PathBuf,
    /// First demo key used.
    pub key_offset: usize,
    /// Number of trader accounts (keys) used.
    pub accounts: usize,
    /// Symbols to trade; empty = every listed symbol.
    pub symbols: Vec<String>,
    /// Starting rate and mix.
    pub initial: RateConfig,
    /// Seed of arrivals and trader decisions.
    pub seed: u64,
    /// Order sizes.
    pub sizing: Sizing,
    /// Wall time over which an institutional parent is sliced.
    pub twap_duration: Duration,
    /// Passive orders still resting after this long are canceled.
    pub order_ttl: Duration,
    /// Fraction of orders deliberately made invalid (reject-test mode); 0 in normal runs.
    pub reject_ratio: f64,
    /// How often the book and trades are refreshed.
    pub view_refresh: Duration,
    /// Most orders awaiting an answer; arrivals beyond it are skipped (counted), never queued.
    pub max_in_flight: usize,
    /// Where the acknowledged-orders log goes.
    pub data_dir: PathBuf,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

/// What the API reads and writes while the flow runs.
#[derive(Debug)]
pub struct FlowState {
    /// Rate and mix; never held across an `.await`.
    config: Mutex<RateConfig>,
    /// Wakes the scheduler when the rate changes.
    changed: Notify,
    /// Set when a request found trading-api unreachable; cleared when a probe succeeds.
    down: AtomicBool,
    /// Orders by `population/result`.
    counts: Mutex<BTreeMap<String, u64>>,
    /// Times trading-api came back.
    reconnects: AtomicU64,
    /// Symbols traded, once known.
    symbols: OnceLock<Vec<String>>,
    /// The acknowledged-orders log path, once open.
    ack_path: OnceLock<PathBuf>,
}

/// `GET /api/v1/status`.
#[derive(Debug, Serialize)]
pub struct FlowStatus {
    /// Trading started (symbols known, keys loaded).
    pub ready: bool,
    /// trading-api reachable as far as the last request knows.
    pub connected: bool,
    /// Current rate and mix.
    pub config: RateConfig,
    /// Symbols traded.
    pub symbols: Vec<String>,
    /// Orders by `population/result`.
    pub orders: BTreeMap<String, u64>,
    /// Times trading-api came back after being unreachable.
    pub reconnects: u64,
    /// The acknowledged-orders log.
    pub acked_orders_log: Option<PathBuf>,
}

impl FlowState {
    /// A state with the starting rate and mix.
    pub fn new(initial: RateConfig) -> FlowState {
        FlowState {
            config: Mutex::new(initial),
            changed: Notify::new(),
            down: AtomicBool::new(false),
            counts: Mutex::new(BTreeMap::new()),
            reconnects: AtomicU64::new(0),
            symbols: OnceLock::new(),
            ack_path: OnceLock::new(),
        }
    }

    /// The current rate and mix.
    pub fn config(&self) -> RateConfig {
        *self.config.lock()
    }

    /// Changes rate and mix; the scheduler picks it up at once.
    pub fn set_config(&self, config: RateConfig) {
        *self.config.lock() = config;
        self.changed.notify_one();
    }

    /// A snapshot for the API.
    pub fn status(&self) -> FlowStatus {
        FlowStatus {
            ready: self.symbols.get().is_some(),
            connected: !self.down.load(Ordering::Relaxed),
            config: self.config(),
            symbols: self.symbols.get().cloned().unwrap_or_default(),
            orders: self.counts.lock().clone(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            acked_orders_log: self.ack_path.get().cloned(),
        }
    }

    fn count(&self, population: Population, result: &str, metrics: &FlowMetrics) {
        metrics
            .orders
            .with_label_values(&[population.as_str(), result])
            .inc();
        let key = format!("{}/{result}", population.as_str());
        *self.counts.lock().entry(key).or_default() += 1;
    }
}

/// A passive order to cancel once it is older than the TTL.
#[derive(Debug, Clone, Copy)]
struct Resting {
    /// When the acknowledgement arrived.
    since: Instant,
    /// trading-api's id.
    order_id: u64,
    /// Index into `Flow::accounts` of the owner, who alone may cancel it.
    account: usize,
}

/// Everything the flow's tasks share.
#[derive(Debug)]
struct Flow {
    /// Validated settings.
    settings: FlowSettings,
    /// Shared with the HTTP API (rate, mix, counts, connectivity).
    state: Arc<FlowState>,
    /// Prometheus metrics.
    metrics: FlowMetrics,
    /// One client per trader account, sharing one connection pool.
    accounts: Vec<ExchangeClient>,
    /// Position in the demo key file of each account's key (for the acknowledged-orders log).
    key_indices: Vec<usize>,
    /// Public calls (book, trades, readiness).
    public: ExchangeClient,
    /// One view per symbol; std RwLock, never held across an `.await`.
    views: RwLock<Vec<MarketView>>,
    /// Where acknowledged order ids go.
    acklog: AckLog,
    /// Bounds the orders awaiting an answer (`--max-in-flight`).
    in_flight: Arc<Semaphore>,
    /// Oldest first; never held across an `.await`.
    resting: Mutex<VecDeque<Resting>>,
}

/// Waits for trading-api and the keys, then runs the flow until `shutdown`. Marks `readiness`
/// once orders start. Every request goes to `upstream`'s current URL (start it at
/// `settings.exchange_url`; `/admin/upstream` swaps it during a chaos run).
pub async fn run(
    settings: FlowSettings,
    upstream: Upstream,
    state: Arc<FlowState>,
    metrics: FlowMetrics,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(2)))
        .tcp_nodelay(true)
        .build()?;
    let public = ExchangeClient::with_upstream(http, upstream, None);
    let acklog = AckLog::open(&settings.data_dir).await?;
    let _ = state.ack_path.set(acklog.path().to_path_buf());
    metrics.target_rate.set(state.config().rate);

    let mut backoff = Duration::from_millis(200);
    let (keys, views) = loop {
        match discover(&settings, &public).await {
            Ok(found) => break found,
            Err(err) => {
                tracing::warn!(%err, retry_in = ?backoff, "waiting for trading-api");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    let key_indices: Vec<usize> = (0..settings.accounts)
        .map(|i| (settings.key_offset + i) % keys.len())
        .collect();
    let accounts = key_indices
        .iter()
        .map(|k| public.for_account(keys[*k].clone()))
        .collect();
    let _ = state
        .symbols
        .set(views.iter().map(|v| v.symbol.clone()).collect());
    let flow = Arc::new(Flow {
        in_flight: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
        settings,
        state,
        metrics,
        accounts,
        key_indices,
        public,
        views: RwLock::new(views),
        acklog,
        resting: Mutex::new(VecDeque::new()),
    });
    for _ in 0..3 {
        flow.refresh_views().await;
    }
    tokio::spawn(Arc::clone(&flow).keep_views_fresh(shutdown.clone()));
    tokio::spawn(Arc::clone(&flow).cancel_expired(shutdown.clone()));
    readiness.set_ready(true);
    tracing::info!(symbols = ?flow.state.symbols.get(), "order flow started");
    flow.schedule(shutdown).await;
    Ok(())
}

/// Loads the keys and builds an (empty) view per wanted symbol.
async fn discover(
    settings: &FlowSettings,
    public: &ExchangeClient,
) -> anyhow::Result<(Vec<String>, Vec<MarketView>)> {
    let keys = load_demo_keys(&settings.keys_file).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        keys.len() >= settings.key_offset + settings.accounts,
        "{} has {} keys; need {} (offset {} + {} accounts)",
        settings.keys_file.display(),
        keys.len(),
        settings.key_offset + settings.accounts,
        settings.key_offset,
        settings.accounts
    );
    anyhow::ensure!(public.ready().await?, "trading-api is not ready yet");
    let mut views = Vec::new();
    for info in public.symbols().await? {
        if !settings.symbols.is_empty() && !settings.symbols.contains(&info.symbol) {
            continue;
        }
        let grid: Grid = info.grid().ok_or_else(|| {
            anyhow::anyhow!("symbol {} has an unusable tick/lot size", info.symbol)
        })?;
        views.push(MarketView {
            symbol: info.symbol,
            grid,
            best_bid: None,
            best_ask: None,
            recent_trades: Vec::new(),
        });
    }
    anyhow::ensure!(
        !views.is_empty(),
        "none of the wanted symbols is listed by trading-api"
    );
    Ok((keys, views))
}

impl Flow {
    fn view(&self, index: usize) -> Option<MarketView> {
        self.views
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(index)
            .cloned()
    }

    fn symbol_count(&self) -> usize {
        self.views.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Refreshes every symbol's touch and recent trades.
    async fn refresh_views(&self) {
        let symbols: Vec<(String, Grid)> = self
            .views
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|v| (v.symbol.clone(), v.grid))
            .collect();
        for (index, (symbol, grid)) in symbols.iter().enumerate() {
            let (book, trades) = tokio::join!(
                self.public.order_book(symbol, 1),
                self.public.trades(symbol, 20)
            );
            let mut views = self.views.write().unwrap_or_else(|p| p.into_inner());
            let Some(view) = views.get_mut(index) else {
                continue;
            };
            if let Ok(book) = book {
                view.best_bid = book.bids.first().and_then(|l| grid.parse_ticks(&l.price));
                view.best_ask = book.asks.first().and_then(|l| grid.parse_ticks(&l.price));
            }
            if let Ok(trades) = trades {
                view.recent_trades = trades
                    .iter()
                    .filter_map(|t| grid.parse_ticks(&t.price))
                    .collect();
            }
        }
    }

    async fn keep_views_fresh(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.view_refresh) => {}
            }
            if !self.state.down.load(Ordering::Relaxed) {
                self.refresh_views().await;
            }
        }
    }

    /// Probes `/ready` with exponential back-off until trading-api answers, then counts a reconnect.
    async fn wait_until_up(&self, shutdown: &CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        tracing::warn!("trading-api unreachable; pausing the order flow");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            if matches!(self.public.ready().await, Ok(true)) {
                break;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        self.state.down.store(false, Ordering::Relaxed);
        self.state.reconnects.fetch_add(1, Ordering::Relaxed);
        self.metrics.reconnects.inc();
        // Orders that rested before the outage may be gone; forget them rather than cancel blindly.
        self.resting.lock().clear();
        self.refresh_views().await;
        tracing::info!("trading-api is back; resuming the order flow");
    }

    /// The arrival loop: Poisson events for retail, momentum and parent starts, and a clock for
    /// TWAP slices.
    async fn schedule(self: Arc<Self>, shutdown: CancellationToken) {
        let mut arrivals = PoissonArrivals::new(self.settings.seed);
        let mut rng = StdRng::seed_from_u64(self.settings.seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut programs: Vec<(Instant, TwapProgram)> = Vec::new();
        let slices = f64::from(self.settings.sizing.slices.max(1));
        let interval = self.settings.twap_duration / self.settings.sizing.slices.max(1);
        let symbols = self.symbol_count();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            if self.state.down.load(Ordering::Relaxed) {
                self.wait_until_up(&shutdown).await;
                continue;
            }
            let config = self.state.config();
            self.metrics.target_rate.set(config.rate);
            let mix = config.mix.normalized().unwrap_or_default();
            let retail_rate = config.rate * mix.retail;
            let momentum_rate = config.rate * mix.momentum;
            let parent_rate = config.rate * mix.institutional / slices;
            let event_rate = retail_rate + momentum_rate + parent_rate;
            let now = Instant::now();
            let next_event = arrivals.next_gap(event_rate).map(|g| now + g);
            let next_slice = programs.iter().map(|(due, _)| *due).min();
            let wake = match (next_event, next_slice) {
                (Some(e), Some(s)) => e.min(s),
                (Some(t), None) | (None, Some(t)) => t,
                (None, None) => now + Duration::from_secs(3600),
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.state.changed.notified() => continue,
                () = tokio::time::sleep_until(wake) => {}
            }
            if next_slice == Some(wake) && next_event != Some(wake) {
                let now = Instant::now();
                for (due, program) in programs.iter_mut() {
                    if *due <= now {
                        *due += program.interval;
                        if let Some(intent) = self
                            .view(program.symbol)
                            .and_then(|v| program.next_slice(&v))
                        {
                            self.dispatch(intent, &mut rng);
                        }
                    }
                }
                programs.retain(|(_, p)| p.slices_left > 0);
                continue;
            }
            let symbol = rng.random_range(0..symbols.max(1));
            let Some(view) = self.view(symbol) else {
                continue;
            };
            let pick = arrivals.uniform() * event_rate;
            let (population, intent) = if pick < retail_rate {
                (
                    Population::Retail,
                    retail(&view, &self.settings.sizing, &mut rng),
                )
            } else if pick < retail_rate + momentum_rate {
                (
                    Population::Momentum,
                    momentum(&view, &self.settings.sizing, &mut rng),
                )
            } else {
                match TwapProgram::start(symbol, &view, &self.settings.sizing, interval, &mut rng) {
                    Some(program) => {
                        programs.push((Instant::now(), program));
                        continue;
                    }
                    None => (Population::Institutional, None),
                }
            };
            match intent {
                Some(intent) => self.dispatch(intent, &mut rng),
                // Momentum traders without a trend stay out; the others lack a book to price from.
                None if population == Population::Momentum => {
                    self.state.count(population, "no_signal", &self.metrics)
                }
                None => self.state.count(population, "no_book", &self.metrics),
            }
        }
    }

    /// Sends one order in its own task, unless too many are already awaiting an answer.
    fn dispatch(self: &Arc<Self>, mut intent: Intent, rng: &mut StdRng) {
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            self.state
                .count(intent.population, "overloaded", &self.metrics);
            return;
        };
        let expect_reject = self.settings.reject_ratio > 0.0
            && rng.random_bool(self.settings.reject_ratio.min(1.0));
        if expect_reject {
            if let Some(view) = self
                .views
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|v| v.symbol == intent.order.symbol)
            {
                invalidate(&mut intent.order, &view.grid, rng);
            }
        }
        let account = rng.random_range(0..self.accounts.len().max(1));
        let flow = Arc::clone(self);
        tokio::spawn(async move {
            let _permit = permit;
            let Some(client) = flow.accounts.get(account) else {
                return;
            };
            flow.metrics.in_flight.inc();
            let started = Instant::now();
            let result = client.place_order(&intent.order).await;
            flow.metrics.in_flight.dec();
            flow.metrics
                .roundtrip
                .with_label_values(&[intent.population.as_str()])
                .observe(started.elapsed().as_secs_f64());
            let result_label = match &result {
                Ok(_) if expect_reject => {
                    tracing::warn!(order = ?intent.order, "trading-api accepted a deliberately invalid order");
                    "accepted_invalid"
                }
                Ok(ack) => {
                    let key_index = flow.key_indices.get(account).copied().unwrap_or_default();
                    flow.acklog
                        .record(ack.order_id, &intent.order.symbol, key_index);
                    let rests = intent.order.time_in_force == TimeInForce::Gtc
                        && matches!(
                            ack.status.as_str(),
                            "new" | "open" | "partially_filled" | "resting" | "accepted"
                        );
                    if rests {
                        flow.resting.lock().push_back(Resting {
                            since: Instant::now(),
                            order_id: ack.order_id,
                            account,
                        });
                    }
                    "accepted"
                }
                Err(ClientError::Rejected { .. }) if expect_reject => "rejected_expected",
                Err(ClientError::Rejected {
                    status,
                    code,
                    message,
                }) => {
                    tracing::debug!(status, %code, %message, order = ?intent.order, "order rejected");
                    "rejected"
                }
                Err(e) if e.is_unavailable() => {
                    flow.state.down.store(true, Ordering::Relaxed);
                    "unavailable"
                }
                Err(e) => {
                    tracing::debug!(%e, "order failed");
                    "error"
                }
            };
            flow.state
                .count(intent.population, result_label, &flow.metrics);
        });
    }

    /// Cancels passive orders older than the TTL, so the book and the accounts' holds stay bounded.
    async fn cancel_expired(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if self.state.down.load(Ordering::Relaxed) {
                continue;
            }
            let expired: Vec<Resting> = {
                let mut resting = self.resting.lock();
                let mut out = Vec::new();
                while resting
                    .front()
                    .is_some_and(|r| r.since.elapsed() >= self.settings.order_ttl)
                    && out.len() < 256
                {
                    out.extend(resting.pop_front());
                }
                out
            };
            if expired.is_empty() {
                continue;
            }
            let futs: Vec<_> = expired
                .iter()
                .filter_map(|r| {
                    let client = self.accounts.get(r.account)?.clone();
                    let id = r.order_id;
                    Some(async move { client.cancel_order(id).await })
                })
                .collect();
            for result in join_all(futs).await {
                let label = match result {
                    Ok(Some(_)) => "canceled",
                    Ok(None) => "already_done",
                    Err(e) if e.is_unavailable() => "unavailable",
                    Err(_) => "error",
                };
                self.metrics.cancels.with_label_values(&[label]).inc();
            }
        }
    }
}
