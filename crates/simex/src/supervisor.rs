//! `simex up`, `down`, `status`, `logs`: the three services run natively under a small supervisor.
//!
//! `up` starts a detached supervisor process (`simex supervise`, in its own process group so it
//! outlives the shell that ran `make up` and ignores that terminal's Ctrl-C). The supervisor owns
//! the services: it starts trading-api first (the simulators read the demo keys it writes), waits
//! for its `/ready`, then starts the simulators; it restarts a service that dies (a crash, a
//! SIGKILL from a chaos run) with a capped backoff; on SIGTERM it stops trading-api's clients together, then trading-api,
//! each with SIGTERM and then SIGKILL after a grace period. The services get
//! `PR_SET_PDEATHSIG`, so even a SIGKILLed supervisor takes them with it. After the three
//! services it starts `fault-proxy` (toxiproxy's REST API on base + 394, see
//! [`crate::services`]) the same way, so a network chaos experiment can always reach it; it
//! holds no proxies until an experiment creates one, so it costs nothing and faults nothing on
//! its own. Files:
//!
//! ```text
//! run/supervisor.pid        the supervisor's pid (up refuses to start a second one)
//! run/status.json           what `status` reads: pid, restarts and state per service
//! logs/<service>.log        each service's stdout and stderr, appended across restarts
//! logs/supervisor.log       the supervisor's own account of starts, exits and restarts
//! data/<service>/           each service's data directory (trading-api's journal, demo keys)
//! ```

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use profile_tools::files;
use serde::{Deserialize, Serialize};

use crate::services::{Ports, FAULT_PROXY, SERVICES};

/// Demo accounts trading-api seeds: market-sim's makers use keys 0-1, order-flow's traders 2-5,
/// the load generator 6 onwards.
const DEMO_ACCOUNTS: u32 = 40;

/// How long a stopping service may drain before it is killed (services drain for 10 s).
const STOP_GRACE: Duration = Duration::from_secs(15);

/// The drain the supervisor gives trading-api's clients (market-sim, order-flow, fault-proxy).
const SIMULATOR_DRAIN_SECS: u64 = 2;

/// A service that stayed up this long is healthy again: its next crash restarts it quickly.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Where the supervisor keeps its files, finds the binaries, and which ports it uses.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Pid file and status file.
    pub state_dir: PathBuf,
    /// One log file per service.
    pub log_dir: PathBuf,
    /// One data directory per service.
    pub data_dir: PathBuf,
    /// Directory holding the `trading-api`, `market-sim`, `order-flow` and `fault-proxy` binaries.
    pub bin_dir: PathBuf,
    /// The services' ports.
    pub ports: Ports,
}

impl Layout {
    /// A layout with every directory made absolute, so the supervisor and the services see the
    /// same paths whatever their working directory.
    pub fn new(
        state_dir: &Path,
        log_dir: &Path,
        data_dir: &Path,
        bin_dir: &Path,
        ports: Ports,
    ) -> Result<Self> {
        let abs =
            |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
        Ok(Self {
            state_dir: abs(state_dir)?,
            log_dir: abs(log_dir)?,
            data_dir: abs(data_dir)?,
            bin_dir: abs(bin_dir)?,
            ports,
        })
    }

    fn pid_file(&self) -> PathBuf {
        self.state_dir.join("supervisor.pid")
    }

    fn status_file(&self) -> PathBuf {
        self.state_dir.join("status.json")
    }

    /// The log file of one service (or `supervisor`).
    pub fn log_file(&self, service: &str) -> PathBuf {
        self.log_dir.join(format!("{service}.log"))
    }

    /// The demo key file trading-api writes and the simulators read.
    fn keys_file(&self) -> PathBuf {
        self.data_dir.join("trading-api").join("demo-keys.json")
    }
}

/// Every binary the supervisor runs: the services, then the fault proxy.
fn binaries() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().copied().chain([FAULT_PROXY])
}

/// Finds the directory holding the service binaries when `--bin-dir` is not given: next to this
/// `simex` (same build), then `$CARGO_TARGET_DIR/release`, then `target/release`.
pub fn default_bin_dir() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(dir);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(target).join("release"));
    }
    candidates.push(PathBuf::from("target/release"));
    for dir in &candidates {
        if binaries().all(|s| dir.join(s).is_file()) {
            return Ok(dir.clone());
        }
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "the service binaries (trading-api, market-sim, order-flow, fault-proxy) were not found in {}; \
         build them with `make build` (or `cargo build --release -p trading-api -p market-sim -p order-flow -p chaos`), \
         or point --bin-dir / SIMEX_BIN_DIR at them",
        looked.join(", ")
    )
}

/// One service the supervisor runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Binary and service name.
    pub name: String,
    /// Port it listens on (127.0.0.1).
    pub port: u16,
    /// Arguments after the binary name.
    pub args: Vec<String>,
}

/// The three services with the flags that wire them together on loopback, then the fault
/// proxy. The flags are the binaries' own (`trading-api --help` and so on).
pub fn service_specs(layout: &Layout) -> Vec<ServiceSpec> {
    let path = |p: PathBuf| p.display().to_string();
    let keys = path(layout.keys_file());
    let listen = |port: u16| format!("127.0.0.1:{port}");
    let p = layout.ports;
    let port = |name: &str| p.port_of(name).unwrap_or(p.base);
    let exchange = format!("http://127.0.0.1:{}", port("trading-api"));
    vec![
        ServiceSpec {
            name: "trading-api".into(),
            port: port("trading-api"),
            args: vec![
                "--listen".into(),
                listen(port("trading-api")),
                "--data-dir".into(),
                path(layout.data_dir.join("trading-api")),
                "--demo-accounts".into(),
                DEMO_ACCOUNTS.to_string(),
                "--demo-keys-file".into(),
                keys.clone(),
            ],
        },
        ServiceSpec {
            name: "market-sim".into(),
            port: port("market-sim"),
            args: vec![
                "--listen".into(),
                listen(port("market-sim")),
                "--exchange-url".into(),
                exchange.clone(),
                "--keys-file".into(),
                keys.clone(),
            ],
        },
        ServiceSpec {
            name: "order-flow".into(),
            port: port("order-flow"),
            args: vec![
                "--listen".into(),
                listen(port("order-flow")),
                "--target".into(),
                exchange,
                "--keys".into(),
                keys,
                "--data-dir".into(),
                path(layout.data_dir.join("order-flow")),
            ],
        },
        ServiceSpec {
            name: FAULT_PROXY.into(),
            port: p.fault_proxy(),
            args: vec!["--listen".into(), listen(p.fault_proxy())],
        },
    ]
}

/// What `status.json` holds about one service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// Its port.
    pub port: u16,
    /// Its current pid, `None` while it is not running.
    pub pid: Option<u32>,
    /// How many times it was restarted after dying.
    pub restarts: u32,
    /// `running`, `backoff` (dead, restart pending) or `stopped`.
    pub state: String,
    /// Seconds since the Unix epoch of the last start.
    pub started_at: u64,
}

/// The whole status file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SupervisorStatus {
    /// The supervisor's pid.
    pub supervisor_pid: u32,
    /// One entry per service, in start order.
    pub services: Vec<ServiceStatus>,
}

impl SupervisorStatus {
    /// Writes the status file atomically, so `status` never reads half of it.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        files::write_atomically(path, &json)?;
        Ok(())
    }

    /// Reads a status file; `None` if missing or unreadable.
    pub fn read(path: &Path) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// True if a process with this pid exists (signal 0 probes without sending anything).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn send_signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: plain kill(2); a stale pid at worst yields ESRCH, which we ignore.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// True if `pid` is a `simex supervise` process (not some process that reused a stale pid).
fn is_supervisor(pid: u32) -> bool {
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let mut args = cmdline.split(|b| *b == 0);
            let program = args.next().unwrap_or_default();
            program.ends_with(b"simex") && args.next() == Some(b"supervise".as_slice())
        }
        // No /proc (not Linux): trust the pid.
        Err(_) => process_alive(pid),
    }
}

/// The supervisor's pid if one is running for this layout.
pub fn running_supervisor(layout: &Layout) -> Option<u32> {
    let text = fs::read_to_string(layout.pid_file()).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    (process_alive(pid) && is_supervisor(pid)).then_some(pid)
}

/// An HTTP client with a global timeout that returns 4xx/5xx answers instead of errors.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One GET with a short timeout; true for a 2xx answer.
pub fn http_ok(url: &str, timeout: Duration) -> bool {
    agent(timeout)
        .get(url)
        .call()
        .is_ok_and(|resp| resp.status().is_success())
}

/// Polls `url` until it answers 2xx, `deadline` passes, or `give_up` says stop.
fn wait_http_ok(url: &str, deadline: Duration, mut give_up: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if http_ok(url, Duration::from_millis(500)) {
            return true;
        }
        if give_up() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Why a port cannot be used, or `None` when it is free on 127.0.0.1.
pub fn port_in_use(port: u16) -> Option<String> {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => None,
        Err(err) => {
            let who = if http_ok(
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_millis(500),
            ) {
                "something answering /health (a service started by hand, or docker compose?)"
            } else {
                "another program"
            };
            Some(format!(
                "port {port} is taken by {who} ({err}); find it with `ss -ltnp 'sport = :{port}'`"
            ))
        }
    }
}

/// The last `lines` lines of a file (empty if unreadable).
fn tail_lines(path: &Path, lines: usize) -> String {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `simex up`: start the supervisor in the background and wait until every service is ready.
pub fn up(layout: &Layout, ready_timeout: Duration) -> Result<()> {
    if let Some(pid) = running_supervisor(layout) {
        bail!(
            "simex is already up (supervisor pid {pid}); `simex status` shows the services, \
             `simex down` stops them"
        );
    }
    for name in binaries() {
        let path = layout.bin_dir.join(name);
        if !path.is_file() {
            bail!(
                "{} not found: build the services first (`make build`, or `make up`, which builds them)",
                path.display()
            );
        }
    }
    for spec in service_specs(layout) {
        if let Some(why) = port_in_use(spec.port) {
            bail!("cannot start {}: {why}", spec.name);
        }
    }
    for dir in [&layout.state_dir, &layout.log_dir, &layout.data_dir] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let supervisor_log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.log_file("supervisor"))
        .with_context(|| format!("opening {}", layout.log_file("supervisor").display()))?;
    let self_exe = std::env::current_exe().context("finding the simex binary")?;
    let mut child = Command::new(self_exe)
        .arg("supervise")
        .arg("--state-dir")
        .arg(&layout.state_dir)
        .arg("--log-dir")
        .arg(&layout.log_dir)
        .arg("--data-dir")
        .arg(&layout.data_dir)
        .arg("--bin-dir")
        .arg(&layout.bin_dir)
        .arg("--base-port")
        .arg(layout.ports.base.to_string())
        .stdin(Stdio::null())
        .stdout(supervisor_log.try_clone()?)
        .stderr(supervisor_log)
        .process_group(0)
        .spawn()
        .context("starting the supervisor")?;
    // Written here too (the supervisor writes it on start) so a second `up` racing this one
    // already sees it.
    fs::write(layout.pid_file(), child.id().to_string())?;
    println!(
        "supervisor started (pid {}); logs in {}",
        child.id(),
        layout.log_dir.display()
    );

    let start = Instant::now();
    for spec in service_specs(layout) {
        let url = format!("http://127.0.0.1:{}/ready", spec.port);
        let remaining = ready_timeout.saturating_sub(start.elapsed());
        let mut supervisor_exit = None;
        let ready = wait_http_ok(&url, remaining, || {
            supervisor_exit = child.try_wait().ok().flatten();
            supervisor_exit.is_some()
        });
        if !ready {
            let log = layout.log_file(&spec.name);
            eprintln!("--- last lines of {} ---", log.display());
            eprintln!("{}", tail_lines(&log, 20));
            if let Some(exit) = supervisor_exit {
                eprintln!("--- last lines of the supervisor's log ---");
                eprintln!("{}", tail_lines(&layout.log_file("supervisor"), 10));
                bail!(
                    "the supervisor exited ({exit}) before {} was ready",
                    spec.name
                );
            }
            // Do not leave a half-started exchange behind.
            let _ = down(layout, Duration::from_secs(60));
            bail!(
                "{} was not ready within {ready_timeout:?} (stopped everything again); its log is {}",
                spec.name,
                log.display()
            );
        }
        println!(
            "  {:<12} ready  http://127.0.0.1:{}  (log: {})",
            spec.name,
            spec.port,
            log_display(&layout.log_file(&spec.name))
        );
    }
    println!(
        "each service: /health /ready /metrics /debug/pprof/   trading-api API: http://127.0.0.1:{}/api/v1/",
        layout.ports.base
    );
    println!(
        "fault proxy (toxiproxy API): http://127.0.0.1:{}   network experiments proxy trading-api on 127.0.0.1:{}",
        layout.ports.fault_proxy(),
        layout.ports.trading_api_proxy()
    );
    println!("next: `make status`, `make profile-cpu`, `make demo` (adds load), `make down`");
    Ok(())
}

/// A log path relative to the working directory when it is inside it, for shorter lines.
fn log_display(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// `simex down`: ask the supervisor to stop everything, and wait for it.
pub fn down(layout: &Layout, timeout: Duration) -> Result<()> {
    let Some(pid) = running_supervisor(layout) else {
        println!(
            "simex is not running (no supervisor for {})",
            layout.state_dir.display()
        );
        return Ok(());
    };
    send_signal(pid, libc::SIGTERM);
    let start = Instant::now();
    while process_alive(pid) && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(100));
    }
    if process_alive(pid) {
        bail!(
            "supervisor {pid} did not stop within {timeout:?}; see {}",
            layout.log_file("supervisor").display()
        );
    }
    println!("simex stopped");
    Ok(())
}

/// `simex status`: what the supervisor says, checked against each service's `/health`.
/// Returns whether every service answered.
pub fn status(layout: &Layout) -> Result<bool> {
    let supervisor = running_supervisor(layout);
    let recorded = SupervisorStatus::read(&layout.status_file()).filter(|_| supervisor.is_some());
    match supervisor {
        Some(pid) => println!("supervisor: running (pid {pid})"),
        None => println!("supervisor: not running (start with `make up`)"),
    }
    let mut all_healthy = true;
    println!(
        "{:<12} {:>5} {:>8} {:>8}  {:<8} health",
        "service", "port", "pid", "restarts", "state"
    );
    let fault_proxy = (FAULT_PROXY, layout.ports.fault_proxy());
    for (name, port) in layout.ports.all().chain([fault_proxy]) {
        let entry = recorded
            .as_ref()
            .and_then(|s| s.services.iter().find(|x| x.name == name));
        let healthy = http_ok(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(1),
        );
        all_healthy &= healthy;
        println!(
            "{:<12} {:>5} {:>8} {:>8}  {:<8} {}",
            name,
            port,
            entry
                .and_then(|e| e.pid)
                .map_or("-".into(), |p| p.to_string()),
            entry.map_or("-".into(), |e| e.restarts.to_string()),
            entry.map_or("-", |e| e.state.as_str()),
            if healthy { "ok" } else { "down" }
        );
    }
    Ok(all_healthy)
}

/// `simex logs`: the last `lines` lines of each service's log (or one), then with `follow`
/// everything appended until Ctrl-C.
pub fn logs(layout: &Layout, service: Option<&str>, lines: usize, follow: bool) -> Result<()> {
    let names: Vec<&str> = match service {
        Some(name) if binaries().any(|b| b == name) || name == "supervisor" => vec![name],
        Some(name) => bail!(
            "unknown service {name:?}; one of: {}, supervisor",
            binaries().collect::<Vec<_>>().join(", ")
        ),
        None => binaries().collect(),
    };
    let mut offsets = Vec::new();
    let mut any = false;
    for name in &names {
        let path = layout.log_file(name);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if path.is_file() {
            any = true;
            if names.len() > 1 {
                println!("==> {} <==", path.display());
            }
            let text = tail_lines(&path, lines);
            if !text.is_empty() {
                println!("{text}");
            }
        }
        offsets.push((name, path, len));
    }
    if !any {
        bail!(
            "no logs in {} yet: start the services with `make up`",
            layout.log_dir.display()
        );
    }
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(250));
        for (name, path, offset) in offsets.iter_mut() {
            let Ok(mut file) = fs::File::open(&*path) else {
                continue;
            };
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len < *offset {
                // Truncated or replaced: start over.
                *offset = 0;
            }
            if len == *offset {
                continue;
            }
            file.seek(SeekFrom::Start(*offset))?;
            let mut new = Vec::new();
            file.take(len - *offset).read_to_end(&mut new)?;
            *offset = len;
            for line in String::from_utf8_lossy(&new).lines() {
                if names.len() > 1 {
                    println!("{name:<12} | {line}");
                } else {
                    println!("{line}");
                }
            }
        }
    }
}

/// A service the supervisor is running.
struct Supervised {
    spec: ServiceSpec,
    child: Option<Child>,
    /// Restarts after the first start.
    restarts: u32,
    /// Deaths in a row without a stable run in between; sets the backoff.
    failures: u32,
    started_at: u64,
    started: Instant,
    /// When a dead service may be started again; `None` when it is running or stopped for good.
    restart_at: Option<Instant>,
}

/// The supervisor's main loop (`simex supervise`); returns after SIGTERM or SIGINT.
pub fn supervise(layout: &Layout) -> Result<()> {
    for dir in [&layout.state_dir, &layout.log_dir, &layout.data_dir] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(layout.pid_file(), std::process::id().to_string())?;

    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;

    let mut services: Vec<Supervised> = service_specs(layout)
        .into_iter()
        .map(|spec| Supervised {
            spec,
            child: None,
            restarts: 0,
            failures: 0,
            started_at: 0,
            started: Instant::now(),
            restart_at: None,
        })
        .collect();

    // Start in order, each after the previous one is ready: the simulators need trading-api's keys.
    for i in 0..services.len() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let service = &mut services[i];
        if let Err(err) = start_service(layout, service) {
            eprintln!("supervisor: {err:#}; retrying in 5 s");
            service.restart_at = Some(Instant::now() + Duration::from_secs(5));
            continue;
        }
        let url = format!("http://127.0.0.1:{}/ready", service.spec.port);
        write_status(layout, &services_status(&services))?;
        let service = &services[i];
        if !wait_http_ok(&url, Duration::from_secs(60), || {
            stop.load(Ordering::Relaxed)
        }) {
            eprintln!(
                "supervisor: {} not ready after 60 s; continuing",
                service.spec.name
            );
        }
        write_status(layout, &services_status(&services))?;
    }

    while !stop.load(Ordering::Relaxed) {
        let mut changed = false;
        for service in services.iter_mut() {
            if let Some(child) = service.child.as_mut() {
                if let Ok(Some(exit)) = child.try_wait() {
                    if service.started.elapsed() >= STABLE_AFTER {
                        service.failures = 0;
                    }
                    // Capped exponential backoff so a crash loop does not spin: 0.25 s to 8 s.
                    let delay = Duration::from_millis(250 << service.failures.min(5));
                    service.failures += 1;
                    eprintln!(
                        "supervisor: {} exited ({exit}); restarting in {delay:?}",
                        service.spec.name
                    );
                    service.child = None;
                    service.restart_at = Some(Instant::now() + delay);
                    changed = true;
                }
            } else if service.restart_at.is_some_and(|at| Instant::now() >= at) {
                service.restarts += 1;
                if let Err(err) = start_service(layout, service) {
                    eprintln!("supervisor: cannot restart {}: {err:#}", service.spec.name);
                    service.restart_at = Some(Instant::now() + Duration::from_secs(5));
                }
                changed = true;
            }
        }
        if changed {
            write_status(layout, &services_status(&services))?;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    eprintln!("supervisor: stopping");
    // The clients of trading-api (everything after it) first and together, so they stop sending
    // before the exchange drains; then trading-api. Stopping them one by one made `down` take
    // the sum of their drains.
    for service in services.iter_mut() {
        service.restart_at = None;
    }
    if let Some((exchange, clients)) = services.split_first_mut() {
        stop_children(
            clients
                .iter_mut()
                .filter_map(|s| Some((s.spec.name.as_str(), s.child.take()?)))
                .collect(),
        );
        if let Some(child) = exchange.child.take() {
            stop_children(vec![(exchange.spec.name.as_str(), child)]);
        }
    }
    write_status(layout, &services_status(&services))?;
    let _ = fs::remove_file(layout.pid_file());
    eprintln!("supervisor: stopped");
    Ok(())
}

/// SIGTERM to every child at once, wait up to [`STOP_GRACE`] for their drains, then SIGKILL
/// whichever is still running.
fn stop_children(mut children: Vec<(&str, Child)>) {
    for (_, child) in &children {
        send_signal(child.id(), libc::SIGTERM);
    }
    let start = Instant::now();
    while !children.is_empty() && start.elapsed() < STOP_GRACE {
        children.retain_mut(|(name, child)| match child.try_wait() {
            Ok(Some(exit)) => {
                eprintln!("supervisor: {name} stopped ({exit})");
                false
            }
            _ => true,
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    for (name, child) in &mut children {
        eprintln!("supervisor: {name} did not stop within {STOP_GRACE:?}; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn start_service(layout: &Layout, service: &mut Supervised) -> Result<()> {
    let log_path = layout.log_file(&service.spec.name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut command = Command::new(layout.bin_dir.join(&service.spec.name));
    command
        .args(&service.spec.args)
        // Logs go to a file: no colour escapes in it.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // The simulators serve only reads, admin calls and profiles; a 30 s profile in flight must not
    // hold up `simex down` for the default 10 s drain. trading-api keeps its drain: in-flight
    // orders finish.
    if service.spec.name != "trading-api" && std::env::var_os("SIMEX_DRAIN_TIMEOUT_SECS").is_none()
    {
        command.env("SIMEX_DRAIN_TIMEOUT_SECS", SIMULATOR_DRAIN_SECS.to_string());
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            // The service dies with the supervisor, even a SIGKILLed one: no orphans on the ports.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", service.spec.name))?;
    eprintln!(
        "supervisor: started {} (pid {}) {}",
        service.spec.name,
        child.id(),
        service.spec.args.join(" ")
    );
    service.child = Some(child);
    service.started_at = unix_now();
    service.started = Instant::now();
    service.restart_at = None;
    Ok(())
}

fn services_status(services: &[Supervised]) -> SupervisorStatus {
    SupervisorStatus {
        supervisor_pid: std::process::id(),
        services: services
            .iter()
            .map(|s| ServiceStatus {
                name: s.spec.name.clone(),
                port: s.spec.port,
                pid: s.child.as_ref().map(Child::id),
                restarts: s.restarts,
                state: match (&s.child, s.restart_at) {
                    (Some(_), _) => "running",
                    (None, Some(_)) => "backoff",
                    (None, None) => "stopped",
                }
                .into(),
                started_at: s.started_at,
            })
            .collect(),
    }
}

fn write_status(layout: &Layout, status: &SupervisorStatus) -> Result<()> {
    status.write(&layout.status_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_layout(tag: &str, base: u16) -> Layout {
        let root = std::env::temp_dir().join(format!("simex-sup-{tag}-{}", std::process::id()));
        Layout::new(
            &root.join("state"),
            &root.join("logs"),
            &root.join("data"),
            &root.join("bin"),
            Ports::new(base).expect("valid base port"),
        )
        .expect("absolute paths")
    }

    #[test]
    fn status_file_round_trips() {
        let layout = temp_layout("status", 8080);
        fs::create_dir_all(&layout.state_dir).expect("state dir");
        let status = SupervisorStatus {
            supervisor_pid: 42,
            services: vec![ServiceStatus {
                name: "trading-api".into(),
                port: 8080,
                pid: Some(7),
                restarts: 2,
                state: "running".into(),
                started_at: 1_795_000_000,
            }],
        };
        status.write(&layout.status_file()).expect("write");
        assert_eq!(SupervisorStatus::read(&layout.status_file()), Some(status));
        fs::write(layout.status_file(), b"{half").expect("overwrite");
        assert_eq!(SupervisorStatus::read(&layout.status_file()), None);
        let _ = fs::remove_dir_all(layout.state_dir.parent().expect("root"));
    }

    #[test]
    fn a_taken_port_is_reported_and_a_free_one_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let why = port_in_use(port).expect("port is taken");
        assert!(why.contains(&format!("port {port} is taken")), "{why}");
        drop(listener);
        // Once released, the same port is free again.
        assert_eq!(port_in_use(port), None);
    }

    #[test]
    fn specs_wire_the_services_together_on_the_chosen_ports() {
        let layout = temp_layout("specs", 18_080);
        let specs = service_specs(&layout);
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, binaries().collect::<Vec<_>>());
        let arg = |spec: &ServiceSpec, flag: &str| {
            let i = spec.args.iter().position(|a| a == flag).expect(flag);
            spec.args[i + 1].clone()
        };
        assert_eq!(arg(&specs[0], "--listen"), "127.0.0.1:18080");
        assert_eq!(arg(&specs[1], "--listen"), "127.0.0.1:18081");
        assert_eq!(arg(&specs[2], "--listen"), "127.0.0.1:18082");
        assert_eq!(arg(&specs[1], "--exchange-url"), "http://127.0.0.1:18080");
        assert_eq!(arg(&specs[2], "--target"), "http://127.0.0.1:18080");
        let keys = arg(&specs[0], "--demo-keys-file");
        assert_eq!(arg(&specs[1], "--keys-file"), keys);
        assert_eq!(arg(&specs[2], "--keys"), keys);
        assert!(Path::new(&keys).is_absolute());
        // The fault proxy's API on base + 394, like toxiproxy's 8474 beside 8080.
        assert_eq!(specs[3].port, 18_474);
        assert_eq!(arg(&specs[3], "--listen"), "127.0.0.1:18474");
    }

    #[test]
    fn a_stale_pid_file_is_not_a_running_supervisor() {
        let layout = temp_layout("stale", 8080);
        fs::create_dir_all(&layout.state_dir).expect("state dir");
        // Our own pid is alive but is not `simex supervise`.
        fs::write(layout.pid_file(), std::process::id().to_string()).expect("pid file");
        assert_eq!(running_supervisor(&layout), None);
        fs::write(layout.pid_file(), "not a pid").expect("pid file");
        assert_eq!(running_supervisor(&layout), None);
        let _ = fs::remove_dir_all(layout.state_dir.parent().expect("root"));
    }
}
