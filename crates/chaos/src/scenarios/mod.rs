//! The code each fault runs. Every module is named after its scenario and its hot function says
//! what it does, so a flamegraph reads as the fault's name: `chaos::scenarios::cpu_burn::spin`,
//! `chaos::scenarios::json_heavy::round_trip`, `chaos::scenarios::regex_hot::compile_and_match`.
//!
//! [`run_loops`] drives CPU-bound patterns on dedicated threads at a duty cycle; [`PreparedWork`]
//! is one pattern with its input built once, run either by those threads or per request by the
//! middleware.

pub mod alloc_churn;
pub mod cpu_burn;
pub mod fmt_heavy;
pub mod hash_heavy;
pub mod json_heavy;
pub mod memory_leak;
pub mod regex_hot;
pub mod task_leak;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One duty-cycle period: short enough that 50% looks like 50% at any profile resolution.
const PERIOD: Duration = Duration::from_millis(20);

/// The CPU-bound patterns the guide lists, Rust edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkPattern {
    /// Many short-lived allocations.
    AllocChurn,
    /// serde_json serialize + parse of a large value.
    JsonHeavy,
    /// A `Regex` compiled for every match.
    RegexHot,
    /// `format!` / `to_string` through `dyn Display`.
    FmtHeavy,
    /// SipHash over large keys in `HashMap` inserts.
    HashHeavy,
}

/// A pattern with its input built once (the input is not the point; the work on it is).
#[derive(Debug, Clone)]
pub enum PreparedWork {
    /// Allocations per iteration.
    AllocChurn(usize),
    /// The value round-tripped.
    JsonHeavy(Arc<serde_json::Value>),
    /// Pattern source and the text searched.
    RegexHot(Arc<(String, String)>),
    /// Values formatted per iteration.
    FmtHeavy(usize),
    /// The keys inserted.
    HashHeavy(Arc<Vec<String>>),
}

impl PreparedWork {
    /// Builds the input of `pattern`; `size` 0 takes the pattern's default.
    pub fn new(pattern: WorkPattern, size: u32) -> Self {
        let size = size as usize;
        let or = |default: usize| if size == 0 { default } else { size };
        match pattern {
            WorkPattern::AllocChurn => PreparedWork::AllocChurn(or(1000)),
            WorkPattern::JsonHeavy => {
                PreparedWork::JsonHeavy(Arc::new(json_heavy::large_value(or(500))))
            }
            WorkPattern::RegexHot => PreparedWork::RegexHot(Arc::new(regex_hot::inputs(or(64)))),
            WorkPattern::FmtHeavy => PreparedWork::FmtHeavy(or(2000)),
            WorkPattern::HashHeavy => PreparedWork::HashHeavy(Arc::new(hash_heavy::keys(or(2000)))),
        }
    }

    /// One iteration; returns a value derived from the work so it cannot be optimised away.
    pub fn run_once(&self) -> usize {
        match self {
            PreparedWork::AllocChurn(n) => alloc_churn::churn(*n),
            PreparedWork::JsonHeavy(value) => json_heavy::round_trip(value),
            PreparedWork::RegexHot(inputs) => regex_hot::compile_and_match(&inputs.0, &inputs.1),
            PreparedWork::FmtHeavy(n) => fmt_heavy::render(*n),
            PreparedWork::HashHeavy(keys) => hash_heavy::insert_all(keys),
        }
    }
}

/// Runs `work` on `threads` dedicated threads named `chaos-<name>`, busy for `duty_cycle` of
/// every period, until `stop` is set; counts iterations in `progress`.
pub fn run_loops(
    name: &str,
    threads: u32,
    duty_cycle: f64,
    stop: &Arc<AtomicBool>,
    progress: &Arc<AtomicU64>,
    work: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<()> {
    let busy = PERIOD.mul_f64(duty_cycle.clamp(0.0, 1.0));
    for i in 0..threads {
        let (flag, progress, work) = (Arc::clone(stop), Arc::clone(progress), Arc::clone(&work));
        let spawned = std::thread::Builder::new()
            .name(format!("chaos-{name}-{i}"))
            .spawn(move || duty_cycle_loop(busy, &flag, &progress, &*work));
        if let Err(err) = spawned {
            // Threads already started must not outlive a fault that failed to start.
            stop.store(true, Ordering::Release);
            return Err(err);
        }
    }
    Ok(())
}

/// One worker thread: work for `busy`, sleep for the rest of the period, until stopped.
fn duty_cycle_loop(busy: Duration, stop: &AtomicBool, progress: &AtomicU64, work: &dyn Fn()) {
    while !stop.load(Ordering::Acquire) {
        let started = Instant::now();
        loop {
            work();
            progress.fetch_add(1, Ordering::Relaxed);
            if started.elapsed() >= busy || stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let rest = PERIOD.saturating_sub(started.elapsed());
        if !rest.is_zero() {
            std::thread::sleep(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_does_work() {
        for pattern in [
            WorkPattern::AllocChurn,
            WorkPattern::JsonHeavy,
            WorkPattern::RegexHot,
            WorkPattern::FmtHeavy,
            WorkPattern::HashHeavy,
        ] {
            let work = PreparedWork::new(pattern, 50);
            assert!(work.run_once() > 0, "{pattern:?}");
        }
    }
}
