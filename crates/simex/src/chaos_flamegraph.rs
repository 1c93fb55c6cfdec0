//! `simex chaos flamegraph SCENARIO` (what `make chaos-flamegraph` runs): one fault, four
//! profiling phases, one report.
//!
//! Phases, each one window of `seconds` in which every profile type of every profiled service
//! is captured at once: `baseline` (idle), `load` (order-flow's load generator), `chaos` (the
//! same load with the fault injected into one service) and `recovery` (load, fault removed).
//! CPU is sampled over the window; heap, allocs, mutex, block and goroutine are Go's delta
//! profiles (`?seconds=N`), so a phase shows what happened in it, not since the process
//! started. Each capture is a `simex profile` child whose output goes to `<phase>/capture.log`.
//!
//! Files: `PROFILE_DIR/chaos_<scenario>_<time>/` (`run.json`, `<phase>_load.json`, one folder per
//! phase, diffs) and `PROFILE_DIR/chaos_<scenario>_<time>_report.md` ([`crate::chaos_report`]).
//! Progress goes to stderr, one line per phase; the last line on stdout is the summary.
//!
//! The fault is removed and the load generator stopped on every exit path, Ctrl-C included;
//! the fault is also given a lifetime, so it expires by itself if this process is killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};

use crate::chaos_report::{self, RunInfo, Verdict};
use crate::services::Ports;
use crate::supervisor::agent;

/// Everything a run needs; the CLI fills it from flags and the script's environment variables.
#[derive(Debug, Clone)]
pub struct Options {
    /// The fault (`cpu-burn`, `lock-contention`, ...).
    pub scenario: String,
    /// The service it goes into.
    pub service: String,
    /// Its parameters (JSON object).
    pub params: serde_json::Value,
    /// Window of every phase, seconds.
    pub seconds: u64,
    /// Orders per second of load.
    pub rate: f64,
    /// Steady-state budget, p99 milliseconds.
    pub budget_p99_ms: f64,
    /// Where the run folder and report go.
    pub out_dir: PathBuf,
    /// Our services' ports.
    pub ports: Ports,
    /// The demo keys the load generator signs with.
    pub keys: PathBuf,
    /// The order-flow binary (its `load` subcommand).
    pub order_flow: PathBuf,
    /// Services to profile.
    pub services: Vec<String>,
    /// Profile types to capture.
    pub types: Vec<String>,
    /// Also profile the idle baseline.
    pub baseline: bool,
    /// Seconds of load (and of fault) before a window opens, so it measures the steady state.
    pub warmup: f64,
}

/// One phase: its folder name, whether load runs, whether the fault is active.
struct PhaseSpec {
    name: &'static str,
    load: bool,
    fault: bool,
}

/// What must be undone whatever happens: the load generator and the fault.
struct Cleanup {
    load: Option<Child>,
    fault: Option<String>,
    admin: String,
}

impl Cleanup {
    fn stop_load(&mut self) {
        let Some(mut child) = self.load.take() else {
            return;
        };
        // SIGINT: the generator stops and still prints its JSON report.
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: signalling a child we spawned and have not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn remove_fault(&mut self) -> Option<serde_json::Value> {
        let id = self.fault.take()?;
        let url = format!("{}/{id}", self.admin);
        let answer = agent(Duration::from_secs(5)).delete(&url).call().ok()?;
        read_json_body(answer)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop_load();
        let _ = self.remove_fault();
    }
}

fn read_json_body(mut answer: ureq::http::Response<ureq::Body>) -> Option<serde_json::Value> {
    let text = answer.body_mut().read_to_string().ok()?;
    serde_json::from_str(&text).ok()
}

/// Sleeps `seconds`, returning early with an error on Ctrl-C.
fn pause(seconds: f64, stop: &AtomicBool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    while Instant::now() < deadline {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Runs the experiment; returns the verdict (the caller maps it to the exit code).
pub fn run(opts: &Options) -> Result<Verdict> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the Ctrl-C handler")?;
    }
    let port = opts
        .ports
        .port_of(&opts.service)
        .with_context(|| format!("unknown service {:?}", opts.service))?;
    ensure_up(opts)?;
    let stamp = chaos_timestamp(SystemTime::now());
    let name = format!("chaos_{}_{stamp}", opts.scenario);
    let dir = opts.out_dir.join(&name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cleanup = Cleanup {
        load: None,
        fault: None,
        admin: format!("http://127.0.0.1:{port}/admin/chaos"),
    };
    let mut phases = vec![
        PhaseSpec {
            name: "load",
            load: true,
            fault: false,
        },
        PhaseSpec {
            name: "chaos",
            load: true,
            fault: true,
        },
        PhaseSpec {
            name: "recovery",
            load: true,
            fault: false,
        },
    ];
    if opts.baseline {
        phases.insert(
            0,
            PhaseSpec {
                name: "baseline",
                load: false,
                fault: false,
            },
        );
    }
    let mut fault_state = None;
    for phase in &phases {
        eprintln!(
            "chaos-flamegraph: {} phase: {} s windows of {} for {}{}",
            phase.name,
            opts.seconds,
            opts.types.join(", "),
            opts.services.join(", "),
            match (phase.load, phase.fault) {
                (_, true) => format!(", {} orders/s, {} injected", opts.rate, opts.scenario),
                (true, false) => format!(", {} orders/s", opts.rate),
                _ => ", idle".to_owned(),
            }
        );
        if phase.load {
            cleanup.load = Some(start_load(opts, &dir, phase.name)?);
            pause(opts.warmup, &stop)?;
        }
        if phase.fault {
            cleanup.fault = Some(inject(opts, &cleanup.admin)?);
            pause(opts.warmup, &stop)?;
        }
        capture_phase(opts, &dir.join(phase.name), &stop)?;
        if phase.fault {
            let id = cleanup.fault.clone().unwrap_or_default();
            fault_state = agent(Duration::from_secs(5))
                .get(format!("{}/{id}", cleanup.admin))
                .call()
                .ok()
                .and_then(read_json_body);
            cleanup.remove_fault();
        }
        cleanup.stop_load();
    }
    let faults_left = agent(Duration::from_secs(5))
        .get(&cleanup.admin)
        .call()
        .ok()
        .and_then(read_json_body)
        .and_then(|v| v.get("faults").and_then(|f| f.as_array()).cloned())
        .unwrap_or_default();
    let info = RunInfo {
        scenario: opts.scenario.clone(),
        service: opts.service.clone(),
        params: opts.params.clone(),
        seconds: opts.seconds,
        rate: opts.rate,
        budget_p99_ms: opts.budget_p99_ms,
        services: opts.services.clone(),
        fault: fault_state,
        faults_left,
        started: stamp,
    };
    let json = serde_json::to_vec_pretty(&info).context("encoding run.json")?;
    profile_tools::files::write_atomically(&dir.join("run.json"), &json)?;
    chaos_report::report_command(&dir)
}

/// `20261202T131500Z`: the time format the chaos folders have always used.
fn chaos_timestamp(at: SystemTime) -> String {
    format!(
        "{}Z",
        profile_tools::files::utc_timestamp(at).replace('_', "T")
    )
}

/// Starts the services (`simex up`) unless `simex status` finds them running.
fn ensure_up(opts: &Options) -> Result<()> {
    let simex = std::env::current_exe().context("finding the simex binary")?;
    let base = opts.ports.base.to_string();
    let status = Command::new(&simex)
        .args(["status", "--base-port", &base])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running simex status")?;
    if status.success() {
        return Ok(());
    }
    eprintln!("chaos-flamegraph: the services are not running; starting them (simex up)");
    let up = Command::new(&simex)
        .args(["up", "--base-port", &base])
        .stdout(Stdio::null())
        .status()
        .context("running simex up")?;
    if !up.success() {
        bail!("`simex up` failed; see `simex logs`");
    }
    Ok(())
}

fn start_load(opts: &Options, dir: &Path, phase: &str) -> Result<Child> {
    let out = std::fs::File::create(dir.join(format!("{phase}_load.json")))?;
    let log = std::fs::File::create(dir.join(format!("{phase}_load.log")))?;
    // A generous cap, so a generator we failed to stop still ends by itself.
    let cap = opts.seconds as f64 + 2.0 * opts.warmup + 60.0;
    Command::new(&opts.order_flow)
        .arg("load")
        .args(["--rate", &opts.rate.to_string()])
        .args(["--duration", &format!("{cap:.0}s")])
        .arg("--json")
        .args(["--target", &format!("http://127.0.0.1:{}", opts.ports.base)])
        .arg("--keys")
        .arg(&opts.keys)
        .stdout(out)
        .stderr(log)
        .spawn()
        .with_context(|| {
            format!(
                "starting the load generator {} (build it: cargo build --release -p order-flow)",
                opts.order_flow.display()
            )
        })
}

fn inject(opts: &Options, admin: &str) -> Result<String> {
    let body = serde_json::json!({
        "scenario": opts.scenario,
        "params": opts.params,
        // Outlives the run comfortably, and still ends by itself if we are killed.
        "duration_secs": opts.seconds * 4 + 120,
    });
    let answer = agent(Duration::from_secs(10))
        .post(admin)
        .header("content-type", "application/json")
        .send(body.to_string())
        .with_context(|| format!("POST {admin}"))?;
    let status = answer.status().as_u16();
    let reply = read_json_body(answer).unwrap_or_default();
    match reply.get("id").and_then(|v| v.as_str()) {
        Some(id) if status == 201 => Ok(id.to_owned()),
        _ => bail!(
            "injecting {} into {} failed (HTTP {status}): {reply}",
            opts.scenario,
            opts.service
        ),
    }
}

/// Every type of every service over one window, at once: one `simex profile` child each.
fn capture_phase(opts: &Options, dir: &Path, stop: &AtomicBool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let simex = std::env::current_exe().context("finding the simex binary")?;
    let log = std::fs::File::create(dir.join("capture.log"))?;
    let mut children = Vec::new();
    for service in &opts.services {
        for profile_type in &opts.types {
            let child = Command::new(&simex)
                .arg("profile")
                .args(["--type", profile_type])
                .args(["--seconds", &opts.seconds.to_string()])
                .args(["--service", service])
                .args(["--base-port", &opts.ports.base.to_string()])
                .arg("--out-dir")
                .arg(dir)
                .arg("--no-progress")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log.try_clone()?)
                .spawn()
                .context("starting simex profile")?;
            children.push((format!("{profile_type} of {service}"), child));
        }
    }
    let mut failed = Vec::new();
    for (what, mut child) in children {
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    failed.push(what);
                }
                break;
            }
            if stop.load(Ordering::Relaxed) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("interrupted");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !failed.is_empty() {
        eprintln!(
            "chaos-flamegraph: {} capture(s) failed ({}); see {}",
            failed.len(),
            failed.join(", "),
            dir.join("capture.log").display()
        );
    }
    Ok(())
}
