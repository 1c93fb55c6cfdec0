//! `simex`: the command a user types. Each subcommand is parsed here and handed to a small
//! function in a module beside it:
//! - [`supervisor`]: `up`, `down`, `status`, `logs` (and the hidden `supervise` loop) run the
//!   three services natively.
//! - [`capture`]: `profile` fetches a profile from a running service and makes its files.
//! - [`toolkit`]: `flamegraph`, `diff`, `analyze`, `top`, `serve` over any pprof file.
//! - [`chaos`]: `chaos run`, `chaos list`, `chaos signal` (Chaos Toolkit experiments).
//! - [`chaos_flamegraph`]: `chaos flamegraph`, one fault profiled in four phases;
//!   [`chaos_report`] turns such a run into the report that names what grew (`chaos report`).
//! - [`services`]: the service names and their ports (one base port).
//!
//! Exit codes: 0 success, 1 runtime failure (bad input, service not running, unwritable output;
//! `status` when a service is down), 2 usage error (clap).

mod capture;
mod chaos;
mod chaos_flamegraph;
mod chaos_report;
mod services;
mod supervisor;
mod toolkit;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use profile_tools::diff::Normalize;
use profile_tools::SampleIndex;

use capture::{CaptureRequest, ProfileType};
use services::{port_hint, Ports, DEFAULT_BASE_PORT};
use supervisor::Layout;

/// The simex command line.
#[derive(Debug, Parser)]
#[command(name = "simex", version, about = "Simulated exchange: profiling toolkit", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where `up` and friends keep state, logs and data, find binaries, and which ports they use.
#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Pid and status files of the supervisor.
    #[arg(long, env = "SIMEX_STATE_DIR", default_value = "run")]
    state_dir: PathBuf,
    /// One log file per service.
    #[arg(long, env = "SIMEX_LOG_DIR", default_value = "logs")]
    log_dir: PathBuf,
    /// One data directory per service (trading-api's journal and demo keys).
    #[arg(long, env = "SIMEX_DATA_ROOT", default_value = "data")]
    data_dir: PathBuf,
    /// Directory with the trading-api, market-sim and order-flow binaries; default: beside this
    /// simex, then $CARGO_TARGET_DIR/release, then target/release.
    #[arg(long, env = "SIMEX_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// trading-api's port; market-sim and order-flow take the next two.
    #[arg(long, env = "SIMEX_BASE_PORT", default_value_t = DEFAULT_BASE_PORT)]
    base_port: u16,
}

impl RunArgs {
    /// The validated layout. The binary directory is only looked for when `need_bins`.
    fn layout(&self, need_bins: bool) -> Result<Layout> {
        let bin_dir = match (&self.bin_dir, need_bins) {
            (Some(dir), _) => dir.clone(),
            (None, true) => supervisor::default_bin_dir()?,
            (None, false) => PathBuf::from("target/release"),
        };
        Layout::new(
            &self.state_dir,
            &self.log_dir,
            &self.data_dir,
            &bin_dir,
            Ports::new(self.base_port)?,
        )
    }
}

/// `simex profile` flags.
#[derive(Debug, Clone, Args)]
struct ProfileArgs {
    /// Profile type (goroutine = tokio tasks).
    #[arg(long = "type", short = 't', value_enum, default_value_t = ProfileType::Cpu)]
    profile_type: ProfileType,
    /// Capture length in seconds; default 30 for cpu and allocs, a snapshot (0) for the others.
    #[arg(long, short = 's')]
    seconds: Option<u64>,
    /// Every type from every running service (cpu and allocs over --seconds, default 30).
    #[arg(long, conflicts_with_all = ["profile_type", "port", "service"])]
    all: bool,
    /// The service's port (default: trading-api's).
    #[arg(long, short = 'p', conflicts_with = "service")]
    port: Option<u16>,
    /// The service by name: trading-api, market-sim or order-flow.
    #[arg(long)]
    service: Option<String>,
    /// Host the service runs on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Where the files go.
    #[arg(long, env = "SIMEX_PROFILE_DIR", default_value = "flamegraphs")]
    out_dir: PathBuf,
    /// Functions in the `_top.txt` listing.
    #[arg(long, default_value_t = 25)]
    top: usize,
    /// No progress bar (it is also off when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Bearer token for a service on another host (loopback needs none).
    #[arg(long, env = "SIMEX_PPROF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// trading-api's port; market-sim and order-flow take the next two.
    #[arg(long, env = "SIMEX_BASE_PORT", default_value_t = DEFAULT_BASE_PORT)]
    base_port: u16,
}

/// `simex chaos` subcommands.
#[derive(Debug, Subcommand)]
enum ChaosCommand {
    /// Run an experiment (Chaos Toolkit's JSON format): steady state, method, steady state,
    /// rollbacks (always, also on Ctrl-C). Exits 1 unless the verdict is `completed`.
    Run {
        /// The experiment file.
        file: PathBuf,
        /// Where the journal (Chaos Toolkit's shape) goes.
        #[arg(long, default_value = "journal.json")]
        journal: PathBuf,
        /// Also write a markdown report here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// When the steady-state hypothesis runs, as chaostoolkit's option of the same name.
        #[arg(long, value_enum, default_value_t = chaos::HypothesisStrategy::Default)]
        hypothesis_strategy: chaos::HypothesisStrategy,
        /// Seconds between two checks during the method (during-method-only, continuously).
        #[arg(long, default_value_t = 1.0)]
        hypothesis_frequency: f64,
        /// Stop the method at the first check during it that deviates (verdict `failed`, or
        /// `deviated` when the check after the method fails too).
        #[arg(long)]
        fail_fast: bool,
    },
    /// One fault profiled in four phases (baseline, load, fault, recovery) and a report that
    /// names what grew (what `make chaos-flamegraph` runs). Exits 1 unless the steady state
    /// held during and after the fault.
    Flamegraph(ChaosFlamegraphArgs),
    /// (Re)write the report of a `chaos flamegraph` run folder and print its summary line.
    Report {
        /// The run folder, `flamegraphs/chaos_<scenario>_<time>`.
        dir: PathBuf,
    },
    /// List the experiments in a directory.
    List {
        /// The directory.
        #[arg(default_value = "chaos/experiments")]
        dir: PathBuf,
    },
    /// Fail (exit 1) if any book is crossed (best bid >= best ask); prints the tops as JSON.
    CheckBook {
        /// trading-api's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Symbols to check, comma separated.
        #[arg(long, default_value = "BTC-USD,ETH-USD,SOL-USD")]
        symbols: String,
    },
    /// Fail (exit 1) unless every order in order-flow's acked-orders.log is known to trading-api.
    CheckAcked {
        /// trading-api's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// order-flow's log of acknowledged orders.
        #[arg(long, default_value = "data/order-flow/acked-orders.log")]
        log: PathBuf,
        /// The demo key file (to ask for each order as its owner).
        #[arg(long, default_value = "data/trading-api/demo-keys.json")]
        keys: PathBuf,
        /// Check only the most recent N orders.
        #[arg(long, default_value_t = 20_000)]
        limit: usize,
    },
    /// Wait until a service answers `/ready` (after a kill, until the supervisor restarted it).
    WaitReady {
        /// The service's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Seconds to wait at most.
        #[arg(long, default_value_t = 90)]
        timeout: u64,
    },
    /// Send a signal (KILL, STOP, CONT, TERM) to a service run by `simex up`.
    Signal {
        /// trading-api, market-sim or order-flow.
        service: String,
        /// KILL, STOP, CONT or TERM.
        signal: String,
        #[command(flatten)]
        run: RunArgs,
    },
}

/// `simex chaos flamegraph` flags; the environment variables are those chaos-flamegraph.sh
/// has always read.
#[derive(Debug, Clone, Args)]
struct ChaosFlamegraphArgs {
    /// The fault: cpu-burn, memory-leak, task-leak, latency, errors, lock-contention,
    /// slow-journal, alloc-churn, json-heavy, regex-hot, fmt-heavy, hash-heavy.
    #[arg(default_value = "cpu-burn")]
    scenario: String,
    /// Window of every phase's profiles, seconds.
    #[arg(long, env = "CHAOS_PROFILE_SECONDS", default_value_t = 30)]
    seconds: u64,
    /// Orders per second of load.
    #[arg(long, env = "CHAOS_LOAD_RATE", default_value_t = 300.0)]
    rate: f64,
    /// The service the fault goes into.
    #[arg(long, env = "CHAOS_SERVICE", default_value = "trading-api")]
    service: String,
    /// The fault's parameters (JSON object).
    #[arg(long, env = "CHAOS_PARAMS", default_value = "{}")]
    params: String,
    /// Steady-state budget: p99 order latency in milliseconds.
    #[arg(long, env = "CHAOS_P99_MS", default_value_t = 250.0)]
    p99_budget_ms: f64,
    /// Where the run folder and the report go.
    #[arg(long, env = "PROFILE_DIR", default_value = "flamegraphs")]
    out_dir: PathBuf,
    /// Services to profile, comma separated (default: all three).
    #[arg(
        long,
        env = "CHAOS_PROFILE_SERVICES",
        default_value = "trading-api,market-sim,order-flow"
    )]
    profile_services: String,
    /// Profile types to capture, comma separated (default: all six).
    #[arg(
        long,
        env = "CHAOS_PROFILE_TYPES",
        default_value = "cpu,heap,allocs,goroutine,block,mutex"
    )]
    types: String,
    /// Skip the idle baseline phase (the diagnosis compares load with fault).
    #[arg(long, env = "CHAOS_SKIP_BASELINE")]
    no_baseline: bool,
    /// Seconds of load, and of fault, before a window opens.
    #[arg(long, env = "CHAOS_WARMUP_SECONDS", default_value_t = 2.0)]
    warmup: f64,
    /// The order-flow binary (default: beside this simex).
    #[arg(long, env = "ORDER_FLOW_BIN")]
    order_flow: Option<PathBuf>,
    /// Demo keys for the load generator (default: SIMEX_DATA_ROOT/trading-api/demo-keys.json).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Data folder of `simex up`, where the demo keys are.
    #[arg(long, env = "SIMEX_DATA_ROOT", default_value = "data")]
    data_dir: PathBuf,
    /// trading-api's port; market-sim and order-flow take the next two.
    #[arg(long, env = "SIMEX_BASE_PORT", default_value_t = DEFAULT_BASE_PORT)]
    base_port: u16,
}

impl ChaosFlamegraphArgs {
    fn options(&self) -> Result<chaos_flamegraph::Options> {
        let list = |text: &str| -> Vec<String> {
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let params: serde_json::Value = serde_json::from_str(&self.params)
            .with_context(|| format!("--params / CHAOS_PARAMS is not JSON: {}", self.params))?;
        let types = list(&self.types);
        if let Some(bad) = types
            .iter()
            .find(|t| !chaos_report::TYPES.contains(&t.as_str()))
        {
            bail!(
                "unknown profile type {bad:?}; types: {}",
                chaos_report::TYPES.join(", ")
            );
        }
        let order_flow = match &self.order_flow {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .context("finding the simex binary")?
                .with_file_name("order-flow"),
        };
        Ok(chaos_flamegraph::Options {
            scenario: self.scenario.clone(),
            service: self.service.clone(),
            params,
            seconds: self.seconds.max(1),
            rate: self.rate,
            budget_p99_ms: self.p99_budget_ms,
            out_dir: self.out_dir.clone(),
            ports: Ports::new(self.base_port)?,
            keys: self
                .keys
                .clone()
                .unwrap_or_else(|| self.data_dir.join("trading-api/demo-keys.json")),
            order_flow,
            services: list(&self.profile_services),
            types,
            baseline: !self.no_baseline,
            warmup: self.warmup,
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chaos experiments: run, list, and the signal helper they use.
    #[command(subcommand)]
    Chaos(ChaosCommand),
    /// Start trading-api, market-sim and order-flow in the background (supervised: restarted if
    /// they die) and wait until each is ready.
    Up {
        #[command(flatten)]
        run: RunArgs,
        /// Seconds to wait for all three to be ready.
        #[arg(long, default_value_t = 90)]
        timeout: u64,
    },
    /// Stop the services started by `up` (graceful: each drains, then is killed after 15 s).
    Down {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Show each service's pid, restarts and /health; exits 1 if any is down.
    Status {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print the services' logs (or one service's); `-f` keeps following.
    Logs {
        /// trading-api, market-sim, order-flow or supervisor; default: the three services.
        service: Option<String>,
        /// Keep printing what is appended (Ctrl-C to stop).
        #[arg(short, long)]
        follow: bool,
        /// Lines of each log to show first.
        #[arg(short = 'n', long, default_value_t = 40)]
        lines: usize,
        #[command(flatten)]
        run: RunArgs,
    },
    /// The supervisor loop that `up` starts in the background.
    #[command(hide = true)]
    Supervise {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Capture a profile from a running service: writes
    /// `{type}_profile_{service}_{time}.pb.gz`, its `.svg` flamegraph, `_top.txt`, and for CPU
    /// the `_analysis.md` report.
    Profile(ProfileArgs),
    /// Render a pprof profile (gzip'd or raw, any sample type) as an interactive SVG flamegraph.
    Flamegraph {
        /// The profile (`.pb.gz`, `.pprof`, `.pb`).
        input: PathBuf,
        /// Output SVG; default: next to the input, `{stem}.svg`.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Sample type by position or name (like `go tool pprof -sample_index`); default: the
        /// profile's default, else the last.
        #[arg(long)]
        sample_index: Option<SampleIndex>,
        /// Title instead of the generated "type · service · duration".
        #[arg(long)]
        title: Option<String>,
        /// Draw every frame: by default the async runtime's plumbing (tokio task harness,
        /// `Future::poll` chains, hyper/axum/tower layers, closure shims, thread start) is
        /// collapsed into one `[runtime plumbing]` frame so the application's frames come first.
        #[arg(long)]
        full_stacks: bool,
    },
    /// Compare two profiles: a differential flamegraph plus the functions that grew and shrank,
    /// in the profiles' unit (seconds of CPU, bytes, seconds of waiting, counts), with the
    /// change in share beside it.
    Diff {
        /// The earlier profile.
        base: PathBuf,
        /// The later profile.
        new: PathBuf,
        /// Output SVG; default: `diff_{base}_vs_{new}.svg` next to NEW (the text goes beside it
        /// as `.txt`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Sample type for both profiles (position or name).
        #[arg(long)]
        sample_index: Option<SampleIndex>,
        /// Make the amounts comparable instead of absolute: `total` scales the base to the new
        /// total (shifts in share), `rate` divides each by its duration (per second of wall
        /// time). Bare `--normalize` means `total`. Default: absolute (`none`).
        #[arg(long, num_args = 0..=1, default_value = "none", default_missing_value = "total")]
        normalize: Normalize,
    },
    /// Analyze profiles: writes `{stem}_analysis.md` next to each (summary, hotspots,
    /// recommendations, next steps).
    Analyze {
        /// The profile(s); a shell glob like `flamegraphs/cpu_profile_*.pb.gz` works.
        #[arg(required = true)]
        profiles: Vec<PathBuf>,
        /// Print JSON to stdout instead of writing Markdown.
        #[arg(long)]
        json: bool,
        /// Compare with this earlier profile (regressions and improvements).
        #[arg(long)]
        base: Option<PathBuf>,
        /// Print progress to stderr.
        #[arg(short, long)]
        verbose: bool,
        /// Sample type (position or name).
        #[arg(long)]
        sample_index: Option<SampleIndex>,
    },
    /// Print the top functions by flat value, like `go tool pprof -top`.
    Top {
        /// The profile.
        profile: PathBuf,
        /// How many functions.
        #[arg(short, default_value_t = 20)]
        n: usize,
        /// Sample type (position or name).
        #[arg(long)]
        sample_index: Option<SampleIndex>,
    },
    /// Serve the gallery of profiles, flamegraphs, diffs and reports.
    Serve {
        /// Port to listen on.
        #[arg(long, env = "SIMEX_GALLERY_PORT", default_value_t = 8888)]
        port: u16,
        /// Directory to show.
        #[arg(long, default_value = "flamegraphs")]
        dir: PathBuf,
        /// Address to bind (use 0.0.0.0 to view from another machine).
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
    },
}

/// Lets `simex status | head` end quietly when the reader goes away, as other command-line
/// tools do, instead of panicking on a broken pipe. Not for `serve` and `supervise`, which
/// must outlive a closed socket or terminal.
fn die_quietly_on_broken_pipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Serve { .. } | Command::Supervise { .. }
    ) {
        die_quietly_on_broken_pipe();
    }
    let result = match cli.command {
        Command::Up { run, timeout } => run
            .layout(true)
            .and_then(|layout| supervisor::up(&layout, Duration::from_secs(timeout))),
        Command::Down { run } => run
            .layout(false)
            .and_then(|layout| supervisor::down(&layout, Duration::from_secs(90))),
        Command::Status { run } => match run.layout(false).and_then(|l| supervisor::status(&l)) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Logs {
            service,
            follow,
            lines,
            run,
        } => run
            .layout(false)
            .and_then(|l| supervisor::logs(&l, service.as_deref(), lines, follow)),
        Command::Supervise { run } => run
            .layout(true)
            .and_then(|layout| supervisor::supervise(&layout)),
        Command::Chaos(ChaosCommand::Run {
            file,
            journal,
            report,
            hypothesis_strategy,
            hypothesis_frequency,
            fail_fast,
        }) => chaos::RunOptions::new(hypothesis_strategy, hypothesis_frequency, fail_fast)
            .and_then(|opts| chaos::run_file(&file, &journal, report.as_deref(), &opts)),
        Command::Chaos(ChaosCommand::CheckBook { url, symbols }) => {
            chaos::check_book(&url, &symbols)
        }
        Command::Chaos(ChaosCommand::CheckAcked {
            url,
            log,
            keys,
            limit,
        }) => chaos::check_acked(&url, &log, &keys, limit),
        Command::Chaos(ChaosCommand::WaitReady { url, timeout }) => {
            chaos::wait_ready(&url, Duration::from_secs(timeout))
        }
        Command::Chaos(ChaosCommand::List { dir }) => chaos::list(&dir),
        Command::Chaos(ChaosCommand::Flamegraph(args)) => {
            match args.options().and_then(|o| chaos_flamegraph::run(&o)) {
                Ok(chaos_report::Verdict::Completed) => Ok(()),
                Ok(_) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
        Command::Chaos(ChaosCommand::Report { dir }) => match chaos_report::report_command(&dir) {
            Ok(chaos_report::Verdict::Completed) => Ok(()),
            Ok(_) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Chaos(ChaosCommand::Signal {
            service,
            signal,
            run,
        }) => chaos::signal(&run.state_dir.join("status.json"), &service, &signal),
        Command::Profile(args) => profile(&args),
        Command::Flamegraph {
            input,
            output,
            sample_index,
            title,
            full_stacks,
        } => toolkit::flamegraph(
            &input,
            output,
            sample_index.unwrap_or_default(),
            title,
            full_stacks,
        ),
        Command::Diff {
            base,
            new,
            output,
            sample_index,
            normalize,
        } => toolkit::diff(
            &base,
            &new,
            output,
            sample_index.unwrap_or_default(),
            normalize,
        ),
        Command::Analyze {
            profiles,
            json,
            base,
            verbose,
            sample_index,
        } => toolkit::analyze_all(
            &profiles,
            base.as_deref(),
            &sample_index.unwrap_or_default(),
            json,
            verbose,
        ),
        Command::Top {
            profile,
            n,
            sample_index,
        } => toolkit::top(&profile, n, sample_index.unwrap_or_default()),
        Command::Serve { port, dir, bind } => toolkit::serve(bind, port, &dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simex: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `simex profile`: one capture, or `--all` of them.
fn profile(args: &ProfileArgs) -> Result<()> {
    let ports = Ports::new(args.base_port)?;
    let progress =
        (!args.no_progress && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
    let request = |profile_type: ProfileType, port: u16| CaptureRequest {
        profile_type,
        seconds: args
            .seconds
            .filter(|_| profile_type.default_seconds() > 0 || !args.all)
            .unwrap_or_else(|| profile_type.default_seconds()),
        host: args.host.clone(),
        port,
        ports,
        out_dir: args.out_dir.clone(),
        top: args.top,
        token: args.token.clone(),
        announce: !args.all,
    };
    if !args.all {
        let port = match (&args.service, args.port) {
            (Some(name), _) => ports.port_of(name).with_context(|| {
                format!("unknown service {name:?}; services: {}", port_hint(ports))
            })?,
            (None, Some(port)) => port,
            (None, None) => ports.base,
        };
        let captured = capture::capture(&request(args.profile_type, port), progress.as_ref())?;
        capture::report(&captured, progress.as_ref(), false);
        return Ok(());
    }
    // --all: each running service in its own thread (their captures overlap in time), the types
    // of one service one after another.
    let running: Vec<(&str, u16)> = ports
        .all()
        .filter(|(name, port)| {
            let up = supervisor::http_ok(
                &format!("http://{}:{port}/health", args.host),
                Duration::from_secs(2),
            );
            if !up {
                eprintln!("skipping {name}: not running on port {port}");
            }
            up
        })
        .collect();
    if running.is_empty() {
        bail!(
            "no service is running on {} ({}); start them with `make up`",
            args.host,
            port_hint(ports)
        );
    }
    let started = std::time::Instant::now();
    eprintln!(
        "capturing {} profile types from {} ({}) into {}",
        ProfileType::ALL.len(),
        running
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", "),
        match args.seconds {
            Some(s) => format!("cpu and allocs over {s} s"),
            None => "cpu and allocs over 30 s".to_owned(),
        },
        args.out_dir.display()
    );
    let failures = std::thread::scope(|scope| {
        let handles: Vec<_> = running
            .iter()
            .map(|&(name, port)| {
                let progress = progress.clone();
                let request = &request;
                scope.spawn(move || {
                    let mut failed = 0;
                    for profile_type in ProfileType::ALL {
                        match capture::capture(&request(profile_type, port), progress.as_ref()) {
                            Ok(captured) => capture::report(&captured, progress.as_ref(), true),
                            Err(err) => {
                                failed += 1;
                                eprintln!(
                                    "simex: {} profile of {name} failed: {err:#}",
                                    profile_type.name()
                                );
                            }
                        }
                    }
                    failed
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(1))
            .sum::<usize>()
    });
    let total = running.len() * ProfileType::ALL.len();
    let summary = format!(
        "profile-all: {} of {total} profiles from {} service(s) in {} ({:.0} s){}",
        total - failures,
        running.len(),
        args.out_dir.display(),
        started.elapsed().as_secs_f64(),
        if failures > 0 {
            format!(", {failures} failed (see above)")
        } else {
            String::new()
        }
    );
    if failures > 0 {
        bail!("{summary}");
    }
    eprintln!("{summary}; browse them with `make profile-serve`");
    Ok(())
}
