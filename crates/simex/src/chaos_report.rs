//! The chaos-flamegraph report: from a run directory (profiles of each phase, the load
//! generator's numbers, the fault's record) to a diagnosis an SRE can act on.
//!
//! A run directory (`flamegraphs/chaos_<scenario>_<time>/`, written by
//! [`crate::chaos_flamegraph`]) holds `run.json`, `<phase>_load.json` and one folder per phase
//! (`baseline`, `load`, `chaos` = the fault, `recovery`) with profiles captured over the same
//! window: CPU, and Go's delta profiles (`?seconds=N`) for heap, allocs, mutex, block and
//! goroutines, so each phase shows only what happened during it.
//!
//! The reasoning, in order:
//! 1. For every service and profile type, the fault window is compared with the load window
//!    (same load, same length) in absolute terms, and [`GrowthPath`] finds the call path that
//!    carries most of the growth.
//! 2. Each growth gets a score: its size over the larger of the load window's total of that type
//!    and a floor ([`floor_per_second`]), so growth that is small in absolute terms (a few
//!    milliseconds of lock wait) never outranks a real one; weighted by where it sits
//!    ([`attribution_weight`]): new code of the program's own counts double, runtime-only paths
//!    half. Findings scoring at least
//!    [`MIN_SCORE`] are ranked; the first is the report's answer.
//! 3. The same path is measured in the recovery window: the growth is gone, smaller, or still
//!    there.
//! 4. Request latency and errors come from the load generator. A fault that shows only there
//!    (an injected delay or error answer costs no CPU, memory or lock time) is said to be so.
//! 5. The verdict follows the steady-state budget: p99 during the fault above the budget, or
//!    fewer than [`MIN_SUCCESS`] successes, fails the steady state.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use profile_tools::categories::{classify, FrameClass};
use profile_tools::diff::{crate_of, measure_words, CompareOptions, Comparison, GrowthPath};
use profile_tools::files;
use profile_tools::flamegraph;
use profile_tools::profile::format_value;
use profile_tools::provenance;
use profile_tools::stacks::StackSummary;
use profile_tools::Profile;
use serde::{Deserialize, Serialize};

/// Findings scoring below this are noise (see the module docs, step 2).
pub const MIN_SCORE: f64 = 0.25;
/// A finding must score at least this to lead over a request-layer symptom (latency or errors
/// that every request sees): below it the growth is smaller than the load window's own
/// activity of that type, too little to be the cause of a symptom that large.
pub const LEADS_OVER_SYMPTOM: f64 = 1.0;
/// Success ratio below which the steady state fails.
pub const MIN_SUCCESS: f64 = 0.99;
/// The phases in order, as folder names.
pub const PHASES: [&str; 4] = ["baseline", "load", "chaos", "recovery"];
/// Profile types in report order: time first, then memory, then tasks.
pub const TYPES: [&str; 6] = ["cpu", "mutex", "block", "heap", "allocs", "goroutine"];

/// What the orchestrator records about a run (`run.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The injected scenario (`cpu-burn`, ...).
    pub scenario: String,
    /// The service it was injected into.
    pub service: String,
    /// Its parameters as sent.
    pub params: serde_json::Value,
    /// Length of every profile window, seconds.
    pub seconds: u64,
    /// Orders per second asked of the load generator.
    pub rate: f64,
    /// Steady-state budget: p99 order latency, milliseconds.
    pub budget_p99_ms: f64,
    /// The services profiled.
    pub services: Vec<String>,
    /// The fault as the service reported it just before removal.
    pub fault: Option<serde_json::Value>,
    /// Faults still active after the run (should be none).
    pub faults_left: Vec<serde_json::Value>,
    /// Start time, UTC (`20261202T131500Z`).
    pub started: String,
}

/// The part of order-flow's `load --json` report the verdict needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadStats {
    /// Completed requests per second.
    #[serde(default)]
    pub achieved_rate: f64,
    /// Successful answers / completed.
    #[serde(default)]
    pub success_ratio: f64,
    /// Failures by status or category.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Latency from the intended send time.
    #[serde(default)]
    pub latency_ms: Latency,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    #[serde(default)]
    pub p50: f64,
    /// 99th percentile.
    #[serde(default)]
    pub p99: f64,
}

/// Did the growth go away once the fault was removed?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Recovery {
    /// Back within a fifth of the growth.
    Gone,
    /// Smaller, but more than a fifth of the growth remains.
    Reduced,
    /// Still there (more than 60% of the growth).
    Persists,
    /// No recovery profile to tell.
    Unknown,
}

/// One profile type of one service where something grew from the load to the fault window.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The service.
    pub service: String,
    /// The profile type (`cpu`, `mutex`, ...).
    pub profile_type: String,
    /// The sample type compared (`cpu`, `delay`, `inuse_space`, ...).
    pub sample_type: String,
    /// Its unit.
    pub unit: String,
    /// The call path, root first, down to where the growth is concentrated.
    pub path: Vec<String>,
    /// The short account of the path, innermost first.
    pub chain: Vec<String>,
    /// The program's own frame nearest the growth (the function to look at when the growth
    /// sits in a library or the runtime), `None` when the path has none.
    pub owner: Option<String>,
    /// Growth of the path, load → fault, in `unit`.
    pub growth: f64,
    /// The path's value in the load, fault and recovery windows (`None`: no recovery profile).
    pub load_value: f64,
    /// In the fault window.
    pub fault_value: f64,
    /// In the recovery window.
    pub recovery_value: Option<f64>,
    /// Share of the window's total in the load and fault windows, percent.
    pub load_percent: f64,
    /// In the fault window.
    pub fault_percent: f64,
    /// Size of the growth against the load window's activity (module docs, step 2).
    pub score: f64,
    /// Whether it went away.
    pub recovery: Recovery,
    /// Window length, seconds.
    pub window_seconds: f64,
}

impl Finding {
    fn amount(&self, v: f64) -> String {
        let text = format_value(v, &self.unit);
        if v >= 0.0 && !text.starts_with('-') {
            format!("+{text}")
        } else {
            text
        }
    }

    /// The code that grew, named by the program's own function: `` `owner` (in `point`) `` when
    /// the growth sits in a library below it, else the point.
    pub fn subject(&self) -> String {
        let point = self.path.last().map_or("?", String::as_str);
        match &self.owner {
            // A step of the owner's own loop (`Range::next`, `Vec::push`) says nothing more.
            Some(owner) if owner != point && is_generic_std(point) => format!("`{owner}`"),
            Some(owner) if owner != point => format!("`{owner}` (in `{point}`)"),
            _ => format!("`{point}`"),
        }
    }

    /// One sentence: where it shows, what grew, by how much, with the share change.
    pub fn sentence(&self) -> String {
        let per_second = if self.window_seconds > 0.0 {
            format!(" ({}/s)", self.amount(self.growth / self.window_seconds))
        } else {
            String::new()
        };
        format!(
            "the {} profile of {}: {} grew by {} ({}) over the {:.0} s window{per_second}, \
             {} → {} (share {:.1}% → {:.1}%, {:+.1} pp), load → fault; via {}",
            type_title(&self.profile_type),
            self.service,
            self.subject(),
            self.amount(self.growth),
            measure_words(&self.sample_type, &self.unit),
            self.window_seconds,
            format_value(self.load_value, &self.unit),
            format_value(self.fault_value, &self.unit),
            self.load_percent,
            self.fault_percent,
            self.fault_percent - self.load_percent,
            if self.chain.len() > 1 {
                let owner = self.owner.as_ref().map(|o| format!("`{o}`"));
                let callers: Vec<&str> = self.chain[1..]
                    .iter()
                    .filter(|c| Some(*c) != owner.as_ref())
                    .map(String::as_str)
                    .collect();
                if callers.is_empty() {
                    "(no caller of note)".to_owned()
                } else {
                    callers.join(" ← ")
                }
            } else {
                "(no caller of note)".to_owned()
            }
        )
    }

    /// What happened to it in recovery.
    pub fn recovery_sentence(&self) -> String {
        let Some(recovered) = self.recovery_value else {
            return "unknown: there is no recovery profile.".to_owned();
        };
        let left = recovered - self.load_value;
        let state = match self.recovery {
            Recovery::Gone => "gone",
            Recovery::Reduced => "reduced, not gone",
            Recovery::Persists => "STILL THERE",
            Recovery::Unknown => "unknown",
        };
        let delta_kind = matches!(self.profile_type.as_str(), "heap" | "goroutine");
        format!(
            "{state}: the same path is {} in the recovery window ({} over load){}.",
            format_value(recovered, &self.unit),
            self.amount(left),
            if delta_kind {
                " — a delta profile: it shows whether it still grows, not what is still held"
            } else {
                ""
            }
        )
    }
}

/// Standard-library code that does no work of its own kind (iterator steps, comparisons):
/// below the program's frame it is part of that frame's work.
fn is_generic_std(frame: &str) -> bool {
    matches!(crate_of(frame), "core" | "std" | "alloc") && classify(frame) == FrameClass::Library
}

/// Request-level numbers of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Folder name.
    pub name: String,
    /// The load generator's numbers (`None`: idle phase or no report).
    pub load: Option<LoadStats>,
}

/// The steady state and how the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within budget during the fault and after it.
    Completed,
    /// Out of budget during the fault.
    Failed,
    /// Within budget during the fault, not after it (or a fault was left active).
    Deviated,
}

impl Verdict {
    /// The word used in reports and exit codes.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Completed => "completed",
            Verdict::Failed => "failed",
            Verdict::Deviated => "deviated",
        }
    }
}

/// The whole diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run.
    pub run: RunInfo,
    /// The run directory's name (`chaos_cpu-burn_…`).
    pub name: String,
    /// Request-level numbers per phase.
    pub phases: Vec<Phase>,
    /// Growth findings, strongest first (only those scoring at least [`MIN_SCORE`]).
    pub findings: Vec<Finding>,
    /// The finding that is the report's answer: the first, unless a request-layer symptom
    /// outweighs every finding (see [`LEADS_OVER_SYMPTOM`]); `None` then.
    pub leading: Option<usize>,
    /// Per type and service: the function-level comparison load → fault.
    pub comparisons: Vec<TypeComparison>,
    /// The steady-state verdict.
    pub verdict: Verdict,
    /// The verdict's reasons, with numbers.
    pub verdict_reason: String,
    /// The report's answer in one sentence (the first finding, or the symptom).
    pub answer: String,
    /// Diff files written (relative to the output root).
    pub diffs: Vec<String>,
}

/// One type of one service, load → fault, function by function.
#[derive(Debug, Clone, Serialize)]
pub struct TypeComparison {
    /// The service.
    pub service: String,
    /// The profile type.
    pub profile_type: String,
    /// The comparison (absolute).
    pub comparison: Comparison,
    /// Flat value per function in the recovery window, for the regressions listed.
    pub recovery_flat: BTreeMap<String, i64>,
    /// Each phase's flamegraph, relative to the report's folder.
    pub flamegraphs: BTreeMap<String, String>,
}

/// Profiles of one service and type in each phase.
struct Windows {
    load: Option<Profile>,
    fault: Option<Profile>,
    recovery: Option<Profile>,
    files: BTreeMap<&'static str, PathBuf>,
}

/// The newest `{type}_profile_{service}_*.pb.gz` in `dir`.
fn profile_file(dir: &Path, profile_type: &str, service: &str) -> Option<PathBuf> {
    let prefix = format!("{profile_type}_profile_{service}_");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".pb.gz"))
        })
        .collect();
    found.sort();
    found.pop()
}

fn windows(dir: &Path, profile_type: &str, service: &str) -> Windows {
    let mut files = BTreeMap::new();
    let mut profiles = PHASES.map(|phase| {
        let path = profile_file(&dir.join(phase), profile_type, service)?;
        // The profiles' own cost (symbolizing a large task dump, encoding) is not a finding.
        let profile = Profile::from_path(&path)
            .ok()
            .map(|p| provenance::without_profiler_work(&p));
        files.insert(phase, path);
        profile
    });
    Windows {
        load: profiles[1].take(),
        fault: profiles[2].take(),
        recovery: profiles[3].take(),
        files,
    }
}

/// The smallest growth per second of window that counts, by profile type: 5% of a core or of
/// one waiting task for times, 2 MiB/s of live heap, 1 MiB/s allocated, 5 tasks/s.
pub fn floor_per_second(profile_type: &str, unit: &str) -> f64 {
    match (profile_type, unit) {
        (_, "nanoseconds") => 0.05e9,
        // Buffers of a busy service come and go by a megabyte or two within seconds.
        ("heap", "bytes") => 2.0 * 1024.0 * 1024.0,
        (_, "bytes") => 1024.0 * 1024.0,
        ("goroutine", _) => 5.0,
        _ => 1.0,
    }
}

/// How much a growth says about a cause, by where it sits (module docs, step 2): a path of the
/// program's own code that did not run at all under the same load is what an injected or newly
/// triggered cause looks like (×2); a path with no frame of the program's own code (tasks
/// waiting in the runtime, buffers of the HTTP stack) is more often a consequence (×0.5).
pub fn attribution_weight(has_owner: bool, load_value: f64) -> f64 {
    match (has_owner, load_value <= 0.0) {
        (false, _) => 0.5,
        (true, true) => 2.0,
        (true, false) => 1.0,
    }
}

/// Sum of the values of every sample whose stack starts with `path` (root first).
fn value_on_path(profile: &Profile, index: usize, path: &[String]) -> f64 {
    profile
        .stacks
        .iter()
        .filter(|s| {
            s.frames.len() >= path.len()
                && s.frames
                    .iter()
                    .zip(path)
                    .all(|(&f, name)| profile.frame_name(f) == name)
        })
        .map(|s| s.values.get(index).copied().unwrap_or(0) as f64)
        .sum()
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Builds the report of the run in `dir` (no files written).
pub fn build(dir: &Path) -> Result<Report> {
    let run: RunInfo = read_json(&dir.join("run.json"))?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("chaos")
        .to_owned();
    let phases: Vec<Phase> = PHASES
        .iter()
        .map(|&phase| Phase {
            name: phase.to_owned(),
            load: read_json(&dir.join(format!("{phase}_load.json"))).ok(),
        })
        .collect();
    let window = run.seconds as f64;
    let mut findings = Vec::new();
    let mut comparisons = Vec::new();
    for service in &run.services {
        for profile_type in TYPES {
            let w = windows(dir, profile_type, service);
            let (Some(load), Some(fault)) = (&w.load, &w.fault) else {
                continue;
            };
            let (li, fi) = (load.default_index, fault.default_index);
            if load.sample_types.get(li) != fault.sample_types.get(fi) {
                continue;
            }
            let Ok(comparison) = Comparison::of_profiles(
                load,
                li,
                fault,
                fi,
                &CompareOptions {
                    limit: 8,
                    ..Default::default()
                },
            ) else {
                continue;
            };
            let windows = [Some(load), Some(fault), w.recovery.as_ref()];
            if let Some(path) = &comparison.growth_path {
                findings.push(finding(
                    service,
                    profile_type,
                    windows,
                    path,
                    &comparison,
                    window,
                ));
            }
            // The largest growth may sit in runtime-only stacks (connection tasks, HTTP
            // buffers) and hide a smaller one in the program's own code: look at that too.
            let (own_load, own_fault) = (
                provenance::own_code_samples(load),
                provenance::own_code_samples(fault),
            );
            let own_path = GrowthPath::find((&own_load, li, 1.0), (&own_fault, fi, 1.0));
            if let Some(path) = own_path.filter(|p| {
                comparison
                    .growth_path
                    .as_ref()
                    .is_none_or(|raw| raw.frames != p.frames)
            }) {
                findings.push(finding(
                    service,
                    profile_type,
                    windows,
                    &path,
                    &comparison,
                    window,
                ));
            }
            let recovery_flat = w
                .recovery
                .as_ref()
                .map(|r| {
                    let summary = StackSummary::new(r, r.default_index);
                    comparison
                        .regressions
                        .iter()
                        .map(|d| {
                            let flat = summary
                                .functions
                                .iter()
                                .find(|f| f.name == d.name)
                                .map_or(0, |f| f.flat);
                            (d.name.clone(), flat)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let root = dir.parent().unwrap_or(Path::new("."));
            let flamegraphs = w
                .files
                .iter()
                .map(|(phase, path)| (phase.to_string(), files::sibling(path, ".svg")))
                .filter(|(_, svg)| svg.is_file())
                .map(|(phase, svg)| (phase, relative(&svg, root)))
                .collect();
            comparisons.push(TypeComparison {
                service: service.clone(),
                profile_type: profile_type.to_owned(),
                comparison,
                recovery_flat,
                flamegraphs,
            });
        }
    }
    findings.retain(|f| f.score >= MIN_SCORE);
    findings.sort_by(|a, b| b.score.total_cmp(&a.score));
    let (verdict, verdict_reason) = verdict(&run, &phases);
    let leading = findings.first().and_then(|first| {
        let symptom = request_symptom(&phases).is_some();
        (!symptom || first.score >= LEADS_OVER_SYMPTOM).then_some(0)
    });
    let answer = answer(
        &run,
        &phases,
        leading.and_then(|i| findings.get(i)),
        &findings,
    );
    Ok(Report {
        run,
        name,
        phases,
        findings,
        leading,
        comparisons,
        verdict,
        verdict_reason,
        answer,
        diffs: Vec::new(),
    })
}

/// The finding of one service and type; `windows` are the load, fault and recovery profiles.
fn finding(
    service: &str,
    profile_type: &str,
    windows: [Option<&Profile>; 3],
    path: &GrowthPath,
    comparison: &Comparison,
    window: f64,
) -> Finding {
    let [load_value, fault_value, recovery_value] =
        windows.map(|p| p.map(|p| value_on_path(p, p.default_index, &path.frames)));
    let (load_value, fault_value) = (load_value.unwrap_or(0.0), fault_value.unwrap_or(0.0));
    // Heap and goroutine windows are deltas: a path that shrank under load (tasks or memory
    // of an earlier fault being released) and merely stopped shrinking did not grow.
    let growth = if matches!(profile_type, "heap" | "goroutine") {
        fault_value - load_value.max(0.0)
    } else {
        fault_value - load_value
    };
    let floor = floor_per_second(profile_type, &comparison.unit) * window.max(1.0);
    let score = growth / (comparison.base_total.max(0) as f64).max(floor)
        * attribution_weight(path.owner().is_some(), load_value);
    let recovery = match recovery_value {
        None => Recovery::Unknown,
        Some(r) if r - load_value <= 0.2 * growth => Recovery::Gone,
        Some(r) if r - load_value <= 0.6 * growth => Recovery::Reduced,
        Some(_) => Recovery::Persists,
    };
    let percent = |v: f64, total: i64| {
        if total == 0 || v == 0.0 {
            0.0
        } else {
            100.0 * v / total as f64
        }
    };
    Finding {
        service: service.to_owned(),
        profile_type: profile_type.to_owned(),
        sample_type: comparison.sample_type.clone(),
        unit: comparison.unit.clone(),
        chain: path.chain(),
        owner: path.owner().map(str::to_owned),
        path: path.frames.clone(),
        growth,
        load_value,
        fault_value,
        recovery_value,
        load_percent: percent(load_value, comparison.base_total),
        fault_percent: percent(fault_value, comparison.new_total),
        score,
        recovery,
        window_seconds: window,
    }
}

fn load_of<'a>(phases: &'a [Phase], name: &str) -> Option<&'a LoadStats> {
    phases.iter().find(|p| p.name == name)?.load.as_ref()
}

fn within_budget(stats: &LoadStats, budget: f64) -> bool {
    stats.latency_ms.p99 <= budget && stats.success_ratio >= MIN_SUCCESS
}

fn stats_text(stats: &LoadStats) -> String {
    format!(
        "p99 {:.1} ms, success {:.1}%",
        stats.latency_ms.p99,
        100.0 * stats.success_ratio
    )
}

/// The steady state during the fault and after it.
fn verdict(run: &RunInfo, phases: &[Phase]) -> (Verdict, String) {
    let budget = run.budget_p99_ms;
    let rule = format!(
        "steady state: p99 ≤ {budget:.0} ms and success ≥ {:.0}%",
        MIN_SUCCESS * 100.0
    );
    let load = load_of(phases, "load")
        .map(|s| format!(" (load phase: {})", stats_text(s)))
        .unwrap_or_default();
    let during = load_of(phases, "chaos");
    let after = load_of(phases, "recovery");
    let after_ok = after.is_some_and(|s| within_budget(s, budget)) && run.faults_left.is_empty();
    let mut after_text = match after {
        Some(s) => format!(
            "After removal: {}{}",
            stats_text(s),
            if within_budget(s, budget) {
                " — recovered"
            } else {
                " — NOT recovered"
            }
        ),
        None => "After removal: no load report".to_owned(),
    };
    if !run.faults_left.is_empty() {
        after_text.push_str(&format!(
            "; {} fault(s) still active",
            run.faults_left.len()
        ));
    }
    match during {
        Some(s) if !within_budget(s, budget) => {
            let mut broken = Vec::new();
            if s.latency_ms.p99 > budget {
                broken.push(format!(
                    "p99 {:.1} ms > budget {budget:.0} ms",
                    s.latency_ms.p99
                ));
            }
            if s.success_ratio < MIN_SUCCESS {
                broken.push(format!(
                    "success {:.1}% < {:.0}%",
                    100.0 * s.success_ratio,
                    MIN_SUCCESS * 100.0
                ));
            }
            (
                Verdict::Failed,
                format!(
                    "steady state FAILED during the fault: {}{load}. {after_text}. ({rule})",
                    broken.join(", ")
                ),
            )
        }
        Some(s) => (
            if after_ok {
                Verdict::Completed
            } else {
                Verdict::Deviated
            },
            format!(
                "steady state held during the fault: {}{load}. {after_text}. ({rule})",
                stats_text(s)
            ),
        ),
        None => (
            Verdict::Deviated,
            format!("no load report for the fault phase, so the steady state is unknown. {after_text}. ({rule})"),
        ),
    }
}

/// What the request layer shows, load → fault, when it shows something.
fn request_symptom(phases: &[Phase]) -> Option<String> {
    let (load, fault) = (load_of(phases, "load")?, load_of(phases, "chaos")?);
    let mut parts = Vec::new();
    let (lp, fp) = (load.latency_ms.p99, fault.latency_ms.p99);
    let (l50, f50) = (load.latency_ms.p50, fault.latency_ms.p50);
    // p99 of a short window is a handful of requests, and a busy machine moves it; a p50 that
    // doubles means most requests slowed, which noise does not do.
    if fp > 2.0 * lp + 10.0 || f50 > 2.0 * l50 + 10.0 {
        parts.push(format!(
            "request latency: p50 {l50:.1} → {f50:.1} ms ({:+.1} ms), p99 {lp:.1} → {fp:.1} ms \
             ({:+.1} ms)",
            f50 - l50,
            fp - lp
        ));
    }
    if fault.success_ratio < MIN_SUCCESS.min(load.success_ratio - 0.005) {
        let errors: Vec<String> = fault
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind} × {n}"))
            .collect();
        parts.push(format!(
            "errors: success {:.1}% → {:.1}% ({})",
            100.0 * load.success_ratio,
            100.0 * fault.success_ratio,
            errors.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The report's answer: the leading finding, else the request-level symptom, said as such.
fn answer(
    run: &RunInfo,
    phases: &[Phase],
    leading: Option<&Finding>,
    findings: &[Finding],
) -> String {
    if let Some(first) = leading {
        return first.sentence();
    }
    let in_profiles = if findings.is_empty() {
        "No profile type shows a matching growth".to_owned()
    } else {
        format!(
            "The profiles show only growth too small to cause it (strongest: {} of {}, score \
             {:.2} < {LEADS_OVER_SYMPTOM:.1}, listed below)",
            type_title(&findings[0].profile_type),
            findings[0].service,
            findings[0].score
        )
    };
    match request_symptom(phases) {
        Some(symptom) => format!(
            "{symptom}. {in_profiles}: the cause acts in the request layer, not in CPU, memory, \
             locks or tasks{}.",
            if matches!(run.scenario.as_str(), "latency" | "errors") {
                format!(
                    " — as the injected `{}` fault does (chaos's request layer answers or \
                     delays before the handler runs)",
                    run.scenario
                )
            } else {
                String::new()
            }
        ),
        None => "nothing: no profile type grew beyond noise, and request latency and errors \
                 stayed as in the load phase."
            .to_owned(),
    }
}

fn type_title(profile_type: &str) -> &'static str {
    match profile_type {
        "cpu" => "CPU",
        "mutex" => "mutex (lock contention)",
        "block" => "block (blocking waits)",
        "heap" => "heap (live memory, delta)",
        "allocs" => "allocs (allocations)",
        "goroutine" => "goroutine (tasks, delta)",
        _ => "other",
    }
}

fn type_explanation(profile_type: &str) -> &'static str {
    match profile_type {
        "cpu" => "CPU time sampled over each window.",
        "mutex" => "Time tasks waited for contended locks during each window (`/debug/pprof/mutex?seconds=N`, a delta, not since start), charged as Go does to the holder, where it unlocked.",
        "block" => "Time spent blocked on channels and condition variables during each window (`/debug/pprof/block?seconds=N`).",
        "heap" => "Change of live memory during each window (`/debug/pprof/heap?seconds=N`): positive is growth, negative is memory freed.",
        "allocs" => "Bytes allocated during each window (`/debug/pprof/allocs?seconds=N`).",
        "goroutine" => "Change in the number of live tasks during each window (`/debug/pprof/goroutine?seconds=N`): a leak is a steady positive count.",
        _ => "",
    }
}

/// Renders the diffs (load → fault, fault → recovery) of every service and type into `dir`;
/// returns their paths relative to `root`. A pair with an empty side has no diff.
pub fn write_diffs(dir: &Path, root: &Path, report: &mut Report) {
    for service in &report.run.services {
        for profile_type in TYPES {
            let w = windows(dir, profile_type, service);
            for (from, to, a, b) in [
                ("load", "chaos", &w.load, &w.fault),
                ("chaos", "recovery", &w.fault, &w.recovery),
            ] {
                let (Some(a), Some(b)) = (a, b) else { continue };
                let svg = dir.join(format!("diff_{profile_type}_{service}_{from}_to_{to}.svg"));
                let title = format!("{} · {service} · {from} → {to}", type_title(profile_type));
                let Ok(bytes) =
                    flamegraph::render_diff(a, a.default_index, b, b.default_index, &title)
                else {
                    continue;
                };
                if files::write_atomically(&svg, &bytes).is_err() {
                    continue;
                }
                if let Ok(c) = Comparison::of_profiles(
                    a,
                    a.default_index,
                    b,
                    b.default_index,
                    &CompareOptions::default(),
                ) {
                    let text = format!("{service} {profile_type}: {from} → {to}\n{}", c.to_text());
                    let _ = files::write_atomically(&svg.with_extension("txt"), text.as_bytes());
                }
                report.diffs.push(relative(&svg, root));
            }
        }
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

impl Report {
    /// The finding that is the answer, if one is (see [`Report::leading`]).
    pub fn leading_finding(&self) -> Option<&Finding> {
        self.leading.and_then(|i| self.findings.get(i))
    }

    /// The one line printed at the end of `make chaos-flamegraph`.
    pub fn summary_line(&self, report_path: &Path) -> String {
        let cause = match self.leading_finding() {
            Some(f) => format!(
                "{} of {}: {} {} in {}, {} in recovery",
                type_title(&f.profile_type),
                f.service,
                f.amount(f.growth),
                measure_words(&f.sample_type, &f.unit),
                f.subject().replace('`', ""),
                match f.recovery {
                    Recovery::Gone => "gone",
                    Recovery::Reduced => "reduced",
                    Recovery::Persists => "still there",
                    Recovery::Unknown => "unknown",
                }
            ),
            None => self
                .answer
                .split(". ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        let why = self
            .verdict_reason
            .split(". ")
            .next()
            .unwrap_or_default()
            .to_owned();
        format!(
            "chaos-flamegraph {}: {} ({why}) · {cause} · report {}",
            self.run.scenario,
            self.verdict.as_str().to_uppercase(),
            report_path.display()
        )
    }

    /// The Markdown report; links are relative to the folder the report is written in.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = self.write_markdown(&mut md);
        md
    }

    fn write_markdown(&self, md: &mut String) -> std::fmt::Result {
        let run = &self.run;
        writeln!(
            md,
            "# Chaos report: `{}` in {} ({})",
            run.scenario, run.service, run.started
        )?;
        writeln!(md)?;
        writeln!(
            md,
            "**Verdict: {}** — {}",
            self.verdict.as_str(),
            self.verdict_reason
        )?;
        writeln!(md)?;
        writeln!(
            md,
            "1. **Injected:** `{}` into {} with params `{}`{}.",
            run.scenario,
            run.service,
            run.params,
            fault_state(run.fault.as_ref())
        )?;
        writeln!(md, "2. **Shows in:** {}", self.answer)?;
        match self.leading_finding() {
            Some(f) => writeln!(md, "3. **After removal:** {}", f.recovery_sentence())?,
            None => writeln!(
                md,
                "3. **After removal:** see the phases below (request latency and errors)."
            )?,
        }
        if let (Some(symptom), true) = (request_symptom(&self.phases), self.leading.is_some()) {
            writeln!(md, "4. **Symptom at the request layer:** {symptom}.")?;
        }
        writeln!(md)?;
        writeln!(md, "## Findings, strongest first")?;
        writeln!(md)?;
        writeln!(
            md,
            "Each profile type of each service, fault window against load window (same load, {} s each), in absolute terms. \
             Score: the growth over the larger of the load window's total and a floor (5% of a core or of one waiting task, \
             2 MiB/s live heap, 1 MiB/s allocated, 5 tasks/s), doubled for a path of the program's own code that did not run \
             under load and halved for a path with no frame of the program's own code; below {MIN_SCORE} it is noise and not listed.",
            run.seconds
        )?;
        writeln!(md)?;
        if self.findings.is_empty() {
            writeln!(md, "None: no profile type grew beyond noise.")?;
        }
        for (i, f) in self.findings.iter().take(8).enumerate() {
            writeln!(md, "{}. (score {:.2}) {}", i + 1, f.score, f.sentence())?;
            writeln!(md, "   After removal: {}", f.recovery_sentence())?;
        }
        writeln!(md)?;
        writeln!(md, "## Phases")?;
        writeln!(md)?;
        writeln!(
            md,
            "Load: {} orders/s from order-flow's open-model generator; `chaos` is the fault phase.",
            run.rate
        )?;
        writeln!(md)?;
        writeln!(
            md,
            "| phase | achieved/s | success | p50 ms | p99 ms | errors | profiles |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|---|---|")?;
        for phase in &self.phases {
            let link = format!("[{0}/]({1}/{0}/)", phase.name, self.name);
            match &phase.load {
                Some(s) => writeln!(
                    md,
                    "| {} | {:.0} | {:.1}% | {:.1} | {:.1}{} | {} | {link} |",
                    phase.name,
                    s.achieved_rate,
                    100.0 * s.success_ratio,
                    s.latency_ms.p50,
                    s.latency_ms.p99,
                    if s.latency_ms.p99 > run.budget_p99_ms {
                        " ⚠"
                    } else {
                        ""
                    },
                    if s.errors.is_empty() {
                        "—".to_owned()
                    } else {
                        s.errors
                            .iter()
                            .map(|(k, n)| format!("{k}×{n}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                )?,
                None => writeln!(md, "| {} | idle | — | — | — | — | {link} |", phase.name)?,
            }
        }
        writeln!(md)?;
        for profile_type in TYPES {
            let sections: Vec<&TypeComparison> = self
                .comparisons
                .iter()
                .filter(|c| c.profile_type == profile_type)
                .collect();
            if sections.is_empty() {
                continue;
            }
            writeln!(md, "## {}", type_title(profile_type))?;
            writeln!(md)?;
            writeln!(md, "{}", type_explanation(profile_type))?;
            writeln!(md)?;
            for tc in sections {
                self.write_type_section(md, tc)?;
            }
        }
        Ok(())
    }

    fn write_type_section(&self, md: &mut String, tc: &TypeComparison) -> std::fmt::Result {
        let c = &tc.comparison;
        writeln!(md, "### {}: load → fault", tc.service)?;
        writeln!(md)?;
        writeln!(md, "{}", c.totals_line())?;
        writeln!(md)?;
        let links: Vec<String> = self
            .diffs
            .iter()
            .filter(|d| d.contains(&format!("/diff_{}_{}_", tc.profile_type, tc.service)))
            .map(|d| {
                let file = Path::new(d)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(d);
                format!("[{file}]({d}) ([text]({}))", d.replace(".svg", ".txt"))
            })
            .collect();
        if !links.is_empty() {
            writeln!(md, "Differential flamegraphs: {}", links.join(", "))?;
            writeln!(md)?;
        }
        if !tc.flamegraphs.is_empty() {
            let each: Vec<String> = tc
                .flamegraphs
                .iter()
                .map(|(phase, svg)| format!("[{phase}]({svg})"))
                .collect();
            writeln!(md, "Flamegraphs: {}", each.join(" · "))?;
            writeln!(md)?;
        }
        if c.regressions.is_empty() {
            writeln!(md, "Nothing grew beyond noise.")?;
            writeln!(md)?;
            return Ok(());
        }
        writeln!(
            md,
            "| change (fault − load) | load | fault | recovery | share load → fault (Δ pp) | function |"
        )?;
        writeln!(md, "|---:|---:|---:|---:|---:|---|")?;
        for d in c.regressions.iter().take(5) {
            writeln!(
                md,
                "| {} | {} | {} | {} | {:.1}% → {:.1}% ({:+.1}) | `{}` |",
                c.amount(d.delta_value),
                format_value(d.base_value, &c.unit),
                format_value(d.new_value, &c.unit),
                tc.recovery_flat
                    .get(&d.name)
                    .map_or("—".to_owned(), |v| format_value(*v as f64, &c.unit)),
                d.base_percent,
                d.new_percent,
                d.delta_points,
                d.name.replace('|', "\\|").replace('`', "'")
            )?;
        }
        writeln!(md)?;
        if let Some(path) = &c.growth_path {
            writeln!(
                md,
                "Where it grew: {} in `{}` including callees{}, via {}.",
                c.amount(path.growth),
                path.point().replace('`', "'"),
                path.owner_clause(),
                path.chain().join(" ← ")
            )?;
            writeln!(md)?;
        }
        Ok(())
    }
}

fn fault_state(fault: Option<&serde_json::Value>) -> String {
    let Some(fault) = fault else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(p) = fault.get("progress").filter(|p| !p.is_null()) {
        parts.push(format!("progress when removed: {p}"));
    }
    if let Some(id) = fault.get("id").and_then(|v| v.as_str()) {
        parts.push(format!("id {id}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Writes the report of the run in `dir` beside it (`<dir>_report.md`) and its data
/// (`<dir>/report.json`), with the diffs; returns the report and its path.
pub fn write(dir: &Path) -> Result<(Report, PathBuf)> {
    let mut report = build(dir)?;
    let root = dir.parent().unwrap_or(Path::new("."));
    write_diffs(dir, root, &mut report);
    let path = root.join(format!("{}_report.md", report.name));
    files::write_atomically(&path, report.to_markdown().as_bytes())?;
    let json = serde_json::to_vec_pretty(&report).context("encoding the report")?;
    files::write_atomically(&dir.join("report.json"), &json)?;
    Ok((report, path))
}

/// `simex chaos report DIR`: (re)writes the report of a run and prints its summary line.
pub fn report_command(dir: &Path) -> Result<Verdict> {
    let (report, path) = write(dir)?;
    println!("{}", report.summary_line(&path));
    Ok(report.verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterator_steps_are_part_of_the_loop_above_them_library_work_is_not() {
        for frame in [
            "core::iter::range::<impl core::iter::traits::iterator::Iterator for core::ops::range::Range<A>>::next",
            "core::cmp::impls::<impl core::cmp::PartialOrd for u64>::lt",
        ] {
            assert!(is_generic_std(frame), "{frame}");
        }
        for frame in [
            "hashbrown::map::HashMap<K,V,S,A>::insert",
            "serde_json::de::from_str",
            "trading_api::journal::Journal::append",
        ] {
            assert!(!is_generic_std(frame), "{frame}");
        }
    }
}
