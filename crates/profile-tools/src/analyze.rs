//! The analyzer: from one profile (and optionally a base to compare with) to a report that
//! says what costs, where to fix it, how sure we are, and what to do.
//!
//! How a profile is read depends on its type ([`ProfileKind`]):
//! - **CPU**: each sample is judged by its whole stack (see [`crate::categories`] for the
//!   precedence rules) and charged to the *site*: the innermost frame of the program itself,
//!   below any runtime plumbing (tokio's task harness, `Future::poll` chains,
//!   `Box<dyn FnOnce>::call_once`, thread start, hyper/axum/tower layers, Go's
//!   `runtime.goexit`/`runtime.main`), so the journal writer is blamed, not a boxed closure.
//! - **heap/allocs**: every sample is memory; findings are allocation sites with bytes,
//!   objects and the kind of allocation (Vec growth, formatting, maps, boxes, …).
//! - **mutex/block**: every sample is waiting; by what the waiter waits on: a channel, a
//!   condition (or wait group), a lock. A Go contention profile does not say whether it is
//!   mutex or block; channel and condition waits only occur in block profiles, so they decide.
//! - **goroutine**: every sample is a parked task; findings are where tasks pile up and on
//!   what they wait.
//!
//! Advice is filtered by what the program already does (no "switch to jemalloc" when jemalloc
//! frames are present; no "add a BufWriter" when one is there). A confidence line states the
//! sample count and, for our CPU profiles, how much of the process's CPU the samples cover;
//! on a thin profile (fewer than [`MIN_SAMPLES`] samples or [`MIN_CPU_SECONDS`] s of CPU, or
//! less than [`MIN_COVERAGE`] % coverage) no finding is HIGH and the report says why.
//!
//! Priorities (documented in every report):
//! - a **hotspot** is HIGH when its flat share is at least [`HOTSPOT_HIGH`] %, MEDIUM from
//!   [`HOTSPOT_MEDIUM`] %, else LOW;
//! - a **category** is HIGH when its samples reach [`CATEGORY_HIGH`] %, MEDIUM from
//!   [`CATEGORY_MEDIUM`] %, LOW from [`CATEGORY_MIN`] %; smaller ones are not reported.
//!
//! Architecture invariant: this module reads no files and runs no tools; it takes a decoded
//! [`Profile`] and returns data that renders as Markdown or JSON.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::categories::{
    allocation_kind, classify, code_owner, decide, facts_of, syscall_kind, wait_kind,
    AllocationKind, Category, ChainFrame, Fact, FrameClass, Lang, Syscall,
};
use crate::diff::Comparison;
use crate::files::ArtifactName;
use crate::profile::{format_value, Profile, ProfileKind, SampleType};
use crate::stacks::StackSummary;

/// Flat share (percent) from which a hotspot is HIGH priority.
pub const HOTSPOT_HIGH: f64 = 10.0;
/// Flat share (percent) from which a hotspot is MEDIUM priority.
pub const HOTSPOT_MEDIUM: f64 = 5.0;
/// Attributed share (percent) from which a category is HIGH priority.
pub const CATEGORY_HIGH: f64 = 15.0;
/// Attributed share (percent) from which a category is MEDIUM priority.
pub const CATEGORY_MEDIUM: f64 = 5.0;
/// Categories below this share (percent) are left out of the report.
pub const CATEGORY_MIN: f64 = 1.0;
/// How many hotspots a report lists.
pub const HOTSPOT_COUNT: usize = 10;
/// A CPU profile with fewer samples is thin: a 20 % share of 100 samples is ±8 points.
pub const MIN_SAMPLES: i64 = 100;
/// A CPU profile with less CPU time than this (seconds) is thin.
pub const MIN_CPU_SECONDS: f64 = 1.0;
/// A CPU profile whose samples cover less of the process's CPU (percent) is skewed.
pub const MIN_COVERAGE: f64 = 50.0;
/// A contention profile with fewer wait events is thin.
pub const MIN_CONTENTIONS: i64 = 10;
/// Allocation sites (or wait sites) listed per category.
const SITES_PER_CATEGORY: usize = 3;

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    /// Worth fixing first.
    High,
    /// Worth a look.
    Medium,
    /// Small.
    Low,
}

impl Priority {
    fn label(self) -> &'static str {
        match self {
            Priority::High => "🔴 HIGH",
            Priority::Medium => "🟡 MEDIUM",
            Priority::Low => "🟢 LOW",
        }
    }

    fn of(percent: f64, high: f64, medium: f64, thin: bool) -> Self {
        if percent >= high && !thin {
            Priority::High
        } else if percent >= medium {
            Priority::Medium
        } else {
            Priority::Low
        }
    }
}

/// One function in the ranked hotspot list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hotspot {
    /// The function.
    pub function: String,
    /// Value in the function itself.
    pub flat: i64,
    /// Value in the function and its callees.
    pub cum: i64,
    /// `flat` as a percent of the total.
    pub flat_percent: f64,
    /// `cum` as a percent of the total.
    pub cum_percent: f64,
    /// Priority from the flat share.
    pub priority: Priority,
    /// The function's own kind of work (`malloc` is memory whoever called it); for the
    /// program's own functions, the category most of its samples were attributed to.
    pub category: Option<Category>,
}

/// A place in the program a category's samples come from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Site {
    /// The program's innermost frame on those stacks (`None`: no frame of the program, e.g.
    /// the garbage collector or an idle runtime thread).
    pub function: Option<String>,
    /// The library frame that decided the category (`crypto/sha256.(*digest).Write`,
    /// `runtime.chansend1`, `alloc::raw_vec::finish_grow`).
    pub via: Option<String>,
    /// Value charged to this site in the category.
    pub value: i64,
    /// `value` as a percent of the profile's total.
    pub percent: f64,
    /// Extra facts: objects allocated, the kind of allocation or wait.
    pub detail: Option<String>,
}

/// One category of work and what to do about it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CategoryFinding {
    /// The category.
    pub category: Category,
    /// Its title.
    pub title: &'static str,
    /// Value attributed to it.
    pub value: i64,
    /// That value as a percent of the total.
    pub percent: f64,
    /// Priority from the percent (never HIGH on a thin profile).
    pub priority: Priority,
    /// The frames that decided most of it, with their percent of the total.
    pub evidence: Vec<(String, f64)>,
    /// Where in the program it comes from, largest first.
    pub sites: Vec<Site>,
    /// One sentence: what it is and where.
    pub issue: String,
    /// Concrete advice that fits this program.
    pub advice: Vec<String>,
}

/// How far the report can be trusted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Confidence {
    /// True when the profile is too thin for priorities (no finding is HIGH then).
    pub low: bool,
    /// Samples (CPU), wait events (mutex/block), sampled stacks (heap/allocs) or tasks.
    pub samples: i64,
    /// CPU seconds sampled, for CPU profiles.
    pub cpu_seconds: Option<f64>,
    /// Share of the process's CPU the samples cover, when the profile says.
    pub coverage_percent: Option<f64>,
    /// Why it is low, if it is (empty otherwise).
    pub reasons: Vec<String>,
    /// The sentence the report shows.
    pub line: String,
}

/// The executive summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The function with the largest flat share.
    pub top_hotspot: Option<String>,
    /// Its flat share.
    pub top_hotspot_percent: f64,
    /// Number of HIGH-priority hotspots and categories.
    pub high_findings: usize,
    /// The program's function to look at first: the top site of the leading category.
    pub fix_site: Option<String>,
    /// One-paragraph verdict.
    pub assessment: String,
}

/// A complete analysis, serialisable as JSON and renderable as Markdown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    /// The analysed profile's path as given.
    pub profile: String,
    /// The service, when the file name says.
    pub service: Option<String>,
    /// The profile kind (a Go contention profile is told apart as mutex or block by its
    /// stacks).
    pub kind: ProfileKind,
    /// The language of the profiled program, from its frame names.
    pub lang: Lang,
    /// The sample type analysed.
    pub sample_type: SampleType,
    /// What the values measure, in words ("CPU time", "in-use memory").
    pub measure: String,
    /// Total of the sample type.
    pub total: i64,
    /// The total, human-formatted.
    pub total_display: String,
    /// Number of distinct stacks with a non-zero value.
    pub samples: usize,
    /// Capture duration in seconds; `None` for snapshots.
    pub duration_seconds: Option<f64>,
    /// How far the findings can be trusted.
    pub confidence: Confidence,
    /// What the program already does (jemalloc, buffered writes, …), read from its frames.
    pub facts: Vec<Fact>,
    /// The executive summary.
    pub summary: Summary,
    /// Functions ranked by flat share.
    pub hotspots: Vec<Hotspot>,
    /// Categories ranked by share.
    pub categories: Vec<CategoryFinding>,
    /// Share (percent) of samples spent in the application's own code (no recognised work
    /// between the leaf and the first application frame).
    pub application_percent: f64,
    /// Commands to run next.
    pub next_steps: Vec<String>,
    /// Before/after comparison when a base profile was given.
    pub comparison: Option<BaseComparison>,
    /// The profile's own comments (for our CPU profiles: the sampling clock and how much of the
    /// process's CPU the samples cover).
    pub notes: Vec<String>,
}

/// The before/after part of a report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaseComparison {
    /// Path of the base profile.
    pub base: String,
    /// Per-function changes.
    pub functions: Comparison,
    /// Category changes, in the profile's unit first (largest absolute change first), with the
    /// share change beside it.
    pub categories: Vec<CategoryChange>,
}

/// One category, base against new: absolute amounts and shares.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CategoryChange {
    /// The category.
    pub category: Category,
    /// Its value in the base profile, in the sample type's unit.
    pub base_value: i64,
    /// Its value in the new profile.
    pub new_value: i64,
    /// Share of the base profile's total, percent.
    pub base_percent: f64,
    /// Share of the new profile's total, percent.
    pub new_percent: f64,
}

impl CategoryChange {
    /// New minus base, in the unit.
    pub fn delta(&self) -> i64 {
        self.new_value - self.base_value
    }

    /// Change of share, percentage points.
    pub fn delta_points(&self) -> f64 {
        self.new_percent - self.base_percent
    }
}

/// A profile plus the sample type to read and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The decoded profile.
    pub profile: &'a Profile,
    /// Index of the sample type.
    pub index: usize,
    /// The file it was read from (used for names in the report).
    pub path: &'a Path,
}

/// Analyses `input`, comparing with `base` when given.
pub fn analyze(input: Input<'_>, base: Option<Input<'_>>) -> Analysis {
    let profile = input.profile;
    let index = input
        .index
        .min(profile.sample_types.len().saturating_sub(1));
    let sample_type = profile.sample_types[index].clone();
    let summary = StackSummary::new(profile, index);
    let total = summary.total;
    let percent = |v: i64| {
        if total == 0 {
            0.0
        } else {
            100.0 * v as f64 / total as f64
        }
    };
    let frames = FrameTable::new(profile);
    let kind = effective_kind(profile, input.path, &frames);
    let attribution = attribute(profile, index, kind, &frames);
    let confidence = confidence(profile, index, kind, total, summary.sample_count);
    let thin = confidence.low;
    let hotspots: Vec<Hotspot> = summary
        .functions
        .iter()
        .filter(|f| f.flat > 0)
        .take(HOTSPOT_COUNT)
        .map(|f| {
            let flat_percent = percent(f.flat);
            let own = match classify(&f.name) {
                FrameClass::Work(c) if kind == ProfileKind::Cpu => Some(c),
                _ => None,
            };
            Hotspot {
                function: f.name.clone(),
                flat: f.flat,
                cum: f.cum,
                flat_percent,
                cum_percent: percent(f.cum),
                priority: Priority::of(flat_percent, HOTSPOT_HIGH, HOTSPOT_MEDIUM, thin),
                category: own.or_else(|| attribution.leaf_category(&f.name, f.flat)),
            }
        })
        .collect();
    let facts = frames.facts(&attribution);
    let lang = frames.lang;
    let categories = category_findings(&attribution, total, kind, lang, &facts, thin, &sample_type);
    let service = service_of(input.path);
    let high_findings = hotspots
        .iter()
        .filter(|h| h.priority == Priority::High)
        .count()
        + categories
            .iter()
            .filter(|c| c.priority == Priority::High)
            .count();
    let measure = measure(kind, &sample_type);
    let top = hotspots.first();
    // When the program's own code outweighs every kind of library work, it is the place to
    // look: a hot loop of ours, not the largest library category.
    let own = attribution
        .top_application_site()
        .filter(|_| kind == ProfileKind::Cpu)
        .filter(|(_, v)| {
            let lead = categories.first().map_or(0, |c| c.value);
            percent(attribution.application) > CATEGORY_MIN && *v > lead
        })
        .map(|(f, v)| (f.to_owned(), percent(v)));
    let fix_site = own
        .as_ref()
        .map(|(f, _)| f.clone())
        .or_else(|| {
            categories
                .first()
                .and_then(|c| c.sites.iter().find_map(|s| s.function.clone()))
        })
        .or_else(|| top.map(|h| h.function.clone()));
    let summary_section = Summary {
        top_hotspot: top.map(|h| h.function.clone()),
        top_hotspot_percent: top.map_or(0.0, |h| h.flat_percent),
        high_findings,
        fix_site,
        assessment: assessment(
            kind,
            &measure,
            top,
            &categories,
            high_findings,
            &confidence,
            own.as_ref(),
        ),
    };
    let comparison = base.map(|b| {
        let base_summary = StackSummary::new(b.profile, b.index);
        let base_frames = FrameTable::new(b.profile);
        let base_attr = attribute(b.profile, b.index, kind, &base_frames);
        let functions = Comparison::new(&base_summary, &summary, &sample_type.unit, HOTSPOT_COUNT)
            .with_durations(b.profile.duration, profile.duration);
        let largest_total = total.max(base_summary.total).max(1) as f64;
        let mut cats: Vec<CategoryChange> = Category::ALL
            .iter()
            .map(|&category| {
                let value = |a: &Attribution| a.by_category.get(&category).copied().unwrap_or(0);
                let share = |v: i64, t: i64| {
                    if t == 0 {
                        0.0
                    } else {
                        100.0 * v as f64 / t as f64
                    }
                };
                let (base_value, new_value) = (value(&base_attr), value(&attribution));
                CategoryChange {
                    category,
                    base_value,
                    new_value,
                    base_percent: share(base_value, base_summary.total),
                    new_percent: share(new_value, total),
                }
            })
            // Worth a line when the amount moved by a significant part of the larger total, or
            // the share moved (a category can keep its amount and lose its share).
            .filter(|c| {
                c.delta().unsigned_abs() as f64 >= crate::diff::SIGNIFICANT_FRACTION * largest_total
                    || c.delta_points().abs() >= crate::diff::SIGNIFICANT_POINTS
            })
            .collect();
        cats.sort_by(|a, b| {
            b.delta()
                .unsigned_abs()
                .cmp(&a.delta().unsigned_abs())
                .then(b.delta_points().abs().total_cmp(&a.delta_points().abs()))
        });
        BaseComparison {
            base: b.path.display().to_string(),
            functions,
            categories: cats,
        }
    });
    let next_steps = next_steps(input.path, kind, &service, &hotspots, &categories);
    Analysis {
        profile: input.path.display().to_string(),
        service,
        kind,
        lang,
        total_display: format_value(total as f64, &sample_type.unit),
        sample_type,
        measure,
        total,
        samples: summary.sample_count,
        duration_seconds: profile.duration.map(|d| d.as_secs_f64()),
        confidence,
        facts,
        summary: summary_section,
        hotspots,
        categories,
        application_percent: percent(attribution.application),
        next_steps,
        comparison,
        notes: profile.comments.clone(),
    }
}

/// What each distinct frame of a profile is, computed once per frame rather than per stack.
struct FrameTable {
    /// The frame's class, with third-party crates (code that is never the outermost
    /// non-library frame of a stack) demoted to libraries.
    class: Vec<FrameClass>,
    syscall: Vec<Option<Syscall>>,
    wait: Vec<Option<Category>>,
    allocation: Vec<Option<AllocationKind>>,
    /// Facts per frame ([`facts_of`]).
    facts: Vec<Vec<Fact>>,
    lang: Lang,
}

impl FrameTable {
    fn new(profile: &Profile) -> Self {
        let names = &profile.frame_names;
        let mut class: Vec<FrameClass> = names.iter().map(|n| classify(n)).collect();
        // The program's own code is whichever crate or package is the outermost non-library
        // code in some stack (`trading_api` under tokio, `main` in Go); other unknown crates
        // (`nu_ansi_term` inside `tracing_subscriber`) are libraries to look through.
        let owners: Vec<Option<String>> = names
            .iter()
            .zip(&class)
            .map(|(n, c)| (*c == FrameClass::Application).then(|| code_owner(n)))
            .collect();
        let mut program: HashSet<&str> = HashSet::new();
        for stack in &profile.stacks {
            let outermost = stack
                .frames
                .iter()
                .find_map(|&f| owners.get(f as usize).and_then(|o| o.as_deref()));
            if let Some(owner) = outermost {
                program.insert(owner);
            }
        }
        for (c, owner) in class.iter_mut().zip(&owners) {
            if let Some(owner) = owner {
                if !program.contains(owner.as_str()) {
                    *c = FrameClass::Library;
                }
            }
        }
        let rust = names.iter().filter(|n| n.contains("::")).count();
        let go = names
            .iter()
            .filter(|n| n.starts_with("runtime.") || n.starts_with("main."))
            .count();
        let lang = if go > rust {
            Lang::Go
        } else if rust > 0 {
            Lang::Rust
        } else {
            Lang::Any
        };
        Self {
            syscall: names.iter().map(|n| syscall_kind(n)).collect(),
            wait: names.iter().map(|n| wait_kind(n)).collect(),
            allocation: names.iter().map(|n| allocation_kind(n)).collect(),
            facts: names.iter().map(|n| facts_of(n)).collect(),
            class,
            lang,
        }
    }

    fn class(&self, frame: u32) -> FrameClass {
        self.class
            .get(frame as usize)
            .copied()
            .unwrap_or(FrameClass::Library)
    }

    /// The program-wide facts: jemalloc and buffered writers whenever their frames occur;
    /// regex compilation and durability when they carry most of their category.
    fn facts(&self, attribution: &Attribution) -> Vec<Fact> {
        let mut out: Vec<Fact> = Vec::new();
        for fact in [Fact::Jemalloc, Fact::Buffered] {
            if self.facts.iter().any(|f| f.contains(&fact)) {
                out.push(fact);
            }
        }
        let share = |part: i64, c: Category| {
            let whole = attribution.by_category.get(&c).copied().unwrap_or(0);
            whole > 0 && part * 2 >= whole
        };
        if share(attribution.regex_compile, Category::Regex) {
            out.push(Fact::RegexCompile);
        }
        if share(attribution.durability, Category::IoAndSyscalls) {
            out.push(Fact::Durability);
        }
        out
    }
}

/// Mutex or block for a contention profile, from the file name when it follows our convention
/// (the capture knew), else from the stacks: channel, condition and sleep waits, and waits to
/// *acquire* a lock, only occur in block profiles (a Go mutex profile records the unlocker).
fn effective_kind(profile: &Profile, path: &Path, frames: &FrameTable) -> ProfileKind {
    if !matches!(profile.kind, ProfileKind::Mutex | ProfileKind::Block) {
        return profile.kind;
    }
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(ArtifactName::parse)
        .and_then(|a| a.kind);
    if let Some(kind) = named {
        return kind;
    }
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_lowercase();
    let tokens: Vec<&str> = file.split(|c: char| !c.is_alphanumeric()).collect();
    if tokens.contains(&"block") {
        return ProfileKind::Block;
    }
    if tokens.contains(&"mutex") {
        return ProfileKind::Mutex;
    }
    let blocking = profile.stacks.iter().any(|s| {
        s.frames.iter().any(|&f| {
            let name = profile.frame_name(f);
            matches!(
                frames.wait.get(f as usize).copied().flatten(),
                Some(Category::ChannelContention | Category::ConditionWait)
            ) || (name.starts_with("sync.(*Mutex).Lock")
                || name.starts_with("sync.(*RWMutex).RLock"))
        })
    });
    if blocking {
        ProfileKind::Block
    } else {
        profile.kind
    }
}

/// A program function (if any) and the library frame that decided the category (if any).
type SiteKey = (Option<String>, Option<String>);

/// Where each sample's value went.
#[derive(Default)]
struct Attribution {
    by_category: HashMap<Category, i64>,
    /// Per category, the deciding frame and its value.
    evidence: HashMap<Category, HashMap<String, i64>>,
    /// Per category, (site, deciding frame) and value and companion value (objects).
    sites: HashMap<Category, HashMap<SiteKey, (i64, i64)>>,
    /// Per category and site, the kind of allocation and its value (heap/allocs).
    site_allocations: HashMap<Option<String>, HashMap<AllocationKind, i64>>,
    application: i64,
    /// `application` per program function.
    application_sites: HashMap<String, i64>,
    /// Per leaf function, the value of its samples by attributed category.
    by_leaf: HashMap<String, HashMap<Category, i64>>,
    /// Regex samples that pass through a compile frame.
    regex_compile: i64,
    /// I/O samples that end in fsync/fdatasync.
    durability: i64,
}

impl Attribution {
    /// The category most of a function's own (leaf) samples were attributed to.
    /// `None` unless that category holds at least half of the function's `flat` value: an
    /// unsymbolized address is not "hashing" because a tenth of its samples were.
    fn leaf_category(&self, function: &str, flat: i64) -> Option<Category> {
        self.by_leaf
            .get(function)?
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .filter(|(_, &v)| v * 2 >= flat)
            .map(|(c, _)| *c)
    }

    /// The program function whose own code (no recognised work below it) holds the most.
    fn top_application_site(&self) -> Option<(&str, i64)> {
        self.application_sites
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(f, v)| (f.as_str(), *v))
    }
}

/// The index of the sample type counting objects that goes with a bytes type
/// (`alloc_space` → `alloc_objects`), for heap and allocs profiles.
fn companion_objects(profile: &Profile, index: usize) -> Option<usize> {
    let name = &profile.sample_types.get(index)?.name;
    let prefix = name.strip_suffix("_space")?;
    profile
        .sample_types
        .iter()
        .position(|t| t.name == format!("{prefix}_objects"))
}

/// Judges every sample by its stack and the profile type; see the module header.
fn attribute(
    profile: &Profile,
    index: usize,
    kind: ProfileKind,
    frames: &FrameTable,
) -> Attribution {
    let objects = companion_objects(profile, index);
    let mut out = Attribution::default();
    for stack in &profile.stacks {
        let value = stack.values.get(index).copied().unwrap_or(0);
        if value == 0 {
            continue;
        }
        let count = objects
            .and_then(|i| stack.values.get(i).copied())
            .unwrap_or(0);
        // Leaf first, up to (not including) the program's innermost frame: the site.
        let site_at = stack
            .frames
            .iter()
            .rposition(|&f| frames.class(f) == FrameClass::Application);
        let chain: &[u32] = match site_at {
            Some(i) => &stack.frames[i + 1..],
            None => &stack.frames,
        };
        let site = site_at.map(|i| profile.frame_name(stack.frames[i]).to_owned());
        let leaf_first = || chain.iter().rev().copied();
        let decided: Option<(Category, Option<u32>)> = match kind {
            ProfileKind::Heap | ProfileKind::Allocs => {
                // Every byte here was allocated; the outermost telling frame says how.
                let how = chain.iter().copied().find(|&f| {
                    frames
                        .allocation
                        .get(f as usize)
                        .copied()
                        .flatten()
                        .is_some()
                });
                let allocation = how
                    .and_then(|f| frames.allocation.get(f as usize).copied().flatten())
                    .unwrap_or(AllocationKind::Direct);
                *out.site_allocations
                    .entry(site.clone())
                    .or_default()
                    .entry(allocation)
                    .or_default() += value;
                Some((Category::Memory, how))
            }
            ProfileKind::Mutex | ProfileKind::Block => {
                let wait = leaf_first().find_map(|f| {
                    frames
                        .wait
                        .get(f as usize)
                        .copied()
                        .flatten()
                        .map(|c| (c, f))
                });
                Some(match wait {
                    Some((c, f)) => (c, Some(f)),
                    None if kind == ProfileKind::Mutex => {
                        (Category::LockContention, leaf_first().next())
                    }
                    None => (Category::ConditionWait, leaf_first().next()),
                })
            }
            ProfileKind::Goroutine => {
                // Where tasks pile up: the wait nearest the program names what they wait on.
                let wait = chain
                    .iter()
                    .copied()
                    .find(|&f| frames.wait.get(f as usize).copied().flatten().is_some())
                    .or_else(|| leaf_first().next());
                Some((Category::AsyncRuntime, wait))
            }
            _ => {
                let links: Vec<ChainFrame> = leaf_first()
                    .map(|f| ChainFrame {
                        category: match frames.class(f) {
                            FrameClass::Work(c) => Some(c),
                            _ => None,
                        },
                        syscall: frames.syscall.get(f as usize).copied().flatten(),
                    })
                    .collect();
                decide(&links).map(|(c, i)| {
                    let frame = chain[chain.len() - 1 - i];
                    if c == Category::IoAndSyscalls
                        && links.iter().any(|l| l.syscall == Some(Syscall::Durability))
                    {
                        out.durability += value;
                    }
                    if c == Category::Regex
                        && chain.iter().any(|&f| {
                            frames
                                .facts
                                .get(f as usize)
                                .is_some_and(|x| x.contains(&Fact::RegexCompile))
                        })
                    {
                        out.regex_compile += value;
                    }
                    (c, Some(frame))
                })
            }
        };
        match decided {
            Some((category, frame)) => {
                let via = frame.map(|f| profile.frame_name(f).to_owned());
                *out.by_category.entry(category).or_default() += value;
                if let Some(&leaf) = stack.frames.last() {
                    *out.by_leaf
                        .entry(profile.frame_name(leaf).to_owned())
                        .or_default()
                        .entry(category)
                        .or_default() += value;
                }
                if let Some(via) = &via {
                    *out.evidence
                        .entry(category)
                        .or_default()
                        .entry(via.clone())
                        .or_default() += value;
                }
                let slot = out
                    .sites
                    .entry(category)
                    .or_default()
                    .entry((site, via))
                    .or_default();
                slot.0 += value;
                slot.1 += count;
            }
            None => {
                if let Some(site) = site {
                    out.application += value;
                    *out.application_sites.entry(site).or_default() += value;
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn category_findings(
    attribution: &Attribution,
    total: i64,
    kind: ProfileKind,
    lang: Lang,
    facts: &[Fact],
    thin: bool,
    sample_type: &SampleType,
) -> Vec<CategoryFinding> {
    if total == 0 {
        return Vec::new();
    }
    let unit = sample_type.unit.as_str();
    let pct = |v: i64| 100.0 * v as f64 / total as f64;
    let heap = matches!(kind, ProfileKind::Heap | ProfileKind::Allocs);
    let mut findings: Vec<CategoryFinding> = attribution
        .by_category
        .iter()
        .filter(|(_, &v)| pct(v) >= CATEGORY_MIN)
        .map(|(&category, &value)| {
            let percent = pct(value);
            let mut evidence: Vec<(String, f64)> = attribution
                .evidence
                .get(&category)
                .map(|m| m.iter().map(|(n, &v)| (n.clone(), pct(v))).collect())
                .unwrap_or_default();
            evidence.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            evidence.truncate(3);
            let sites = sites_of(attribution, category, heap, unit, pct);
            let issue = issue(kind, category, percent, value, unit, &sites, facts);
            CategoryFinding {
                category,
                title: category.title(),
                value,
                percent,
                priority: Priority::of(percent, CATEGORY_HIGH, CATEGORY_MEDIUM, thin),
                evidence,
                sites,
                issue,
                advice: advice(category, kind, lang, facts, attribution),
            }
        })
        .collect();
    findings.sort_by(|a, b| b.value.cmp(&a.value).then(a.category.cmp(&b.category)));
    findings
}

/// The sites of one category, largest first; for heap profiles merged per function with the
/// kinds of allocation and the objects.
fn sites_of(
    attribution: &Attribution,
    category: Category,
    heap: bool,
    unit: &str,
    pct: impl Fn(i64) -> f64,
) -> Vec<Site> {
    let Some(map) = attribution.sites.get(&category) else {
        return Vec::new();
    };
    let mut sites: Vec<Site> = if heap {
        let mut merged: HashMap<&Option<String>, (i64, i64)> = HashMap::new();
        for ((site, _), (v, n)) in map {
            let slot = merged.entry(site).or_default();
            slot.0 += v;
            slot.1 += n;
        }
        merged
            .into_iter()
            .map(|(site, (value, objects))| {
                let mut kinds: Vec<(AllocationKind, i64)> = attribution
                    .site_allocations
                    .get(site)
                    .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
                    .unwrap_or_default();
                kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let how = kinds
                    .iter()
                    .filter(|(_, v)| *v * 5 >= value)
                    .map(|(k, v)| format!("{} ({})", k.describe(), format_value(*v as f64, unit)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let detail = if objects > 0 {
                    format!("{} objects; {how}", crate::profile::group_digits(objects))
                } else {
                    how
                };
                Site {
                    function: site.clone(),
                    via: None,
                    value,
                    percent: pct(value),
                    detail: Some(detail),
                }
            })
            .collect()
    } else {
        // One row per program function, through the library frame that carried most of it.
        let mut merged: HashMap<&Option<String>, (i64, Option<&String>, i64)> = HashMap::new();
        for ((site, via), (value, _)) in map {
            let slot = merged.entry(site).or_default();
            slot.0 += value;
            if *value > slot.2 {
                slot.1 = via.as_ref();
                slot.2 = *value;
            }
        }
        merged
            .into_iter()
            .map(|(site, (value, via, _))| Site {
                function: site.clone(),
                via: via.cloned(),
                value,
                percent: pct(value),
                detail: None,
            })
            .collect()
    };
    sites.sort_by(|a, b| {
        b.value
            .cmp(&a.value)
            .then_with(|| a.function.cmp(&b.function))
    });
    sites.truncate(SITES_PER_CATEGORY);
    sites
}

/// `name` for Markdown code spans.
fn code(name: &str) -> String {
    format!("`{}`", name.replace('`', "'"))
}

/// The program frame or, without one, what the samples are.
fn site_name(site: &Site) -> String {
    site.function
        .as_deref()
        .map(code)
        .unwrap_or_else(|| "no function of the program (runtime or background threads)".to_owned())
}

/// One sentence: how much, what, and where.
fn issue(
    kind: ProfileKind,
    category: Category,
    percent: f64,
    value: i64,
    unit: &str,
    sites: &[Site],
    facts: &[Fact],
) -> String {
    let amount = format!("{percent:.1}% ({})", format_value(value as f64, unit));
    let Some(top) = sites.first() else {
        return format!("{amount} is {}.", category.title().to_lowercase());
    };
    let via = top
        .via
        .as_deref()
        .map(|v| format!(" through {}", code(v)))
        .unwrap_or_default();
    let share = format!("{:.1}%", top.percent);
    match (kind, category) {
        (ProfileKind::Heap | ProfileKind::Allocs, _) => {
            let verb = if kind == ProfileKind::Heap { "holds" } else { "allocated" };
            format!(
                "Every sample is memory. The largest allocation site, {}, {verb} {} ({share}){}.",
                site_name(top),
                format_value(top.value as f64, unit),
                top.detail
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )
        }
        (ProfileKind::Mutex | ProfileKind::Block, _) => {
            let what = match category {
                Category::ChannelContention => "waiting on a channel",
                Category::ConditionWait => "waiting for a condition, wait group or notification",
                Category::LockContention => "waiting for a lock",
                Category::IoAndSyscalls => "waiting for I/O",
                _ => "waiting",
            };
            format!("{amount} of the delay is tasks {what}; most of it ({share}) is {} {what}{via}.", site_name(top))
        }
        (ProfileKind::Goroutine, _) => format!(
            "{} tasks ({percent:.1}%) are parked; the most, {} ({share}), in {}{}{via}.",
            crate::profile::group_digits(value),
            crate::profile::group_digits(top.value),
            site_name(top),
            match top.via.as_deref().and_then(wait_kind) {
                Some(Category::ChannelContention) => " waiting on a channel",
                Some(Category::ConditionWait) => " waiting for a condition or wait group",
                Some(Category::LockContention) => " waiting for a lock",
                Some(Category::AsyncRuntime) => " sleeping",
                Some(Category::IoAndSyscalls) => " waiting for network or file I/O",
                _ => "",
            }
        ),
        (_, Category::IoAndSyscalls) if facts.contains(&Fact::Durability) => format!(
            "{amount} of CPU time is I/O, mostly making data durable: {} calls {}{}, the cost of syncing its writes to disk ({share}).",
            site_name(top),
            top.via.as_deref().map(code).unwrap_or_else(|| "fsync".to_owned()),
            if top.via.as_deref().is_some_and(|v| v.contains("sync")) {
                String::new()
            } else {
                " (fsync/fdatasync)".to_owned()
            }
        ),
        _ => format!(
            "{amount} of CPU time is {}; most of it ({share}) in {}{via}.",
            category.title().to_lowercase(),
            site_name(top)
        ),
    }
}

/// The tips that fit this program, then the allocation-kind advice for heap profiles.
fn advice(
    category: Category,
    kind: ProfileKind,
    lang: Lang,
    facts: &[Fact],
    attribution: &Attribution,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if matches!(kind, ProfileKind::Heap | ProfileKind::Allocs) {
        let mut kinds: HashMap<AllocationKind, i64> = HashMap::new();
        for m in attribution.site_allocations.values() {
            for (k, v) in m {
                *kinds.entry(*k).or_default() += v;
            }
        }
        let mut kinds: Vec<_> = kinds.into_iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out.extend(kinds.iter().take(2).map(|(k, _)| k.advice().to_owned()));
        if kind == ProfileKind::Heap {
            out.push("In-use memory that keeps growing between two snapshots is a leak: compare them with `simex diff OLD NEW` and look at what the top site keeps (caches without bounds, maps never pruned, tasks never finished).".to_owned());
        }
    }
    if kind == ProfileKind::Goroutine {
        out.push("Many tasks parked at one place usually means a leak: each was started and never finished. Make sure every task has a way to end (close the channel it reads, cancel it with a context/`CancellationToken`, or bound how many exist).".to_owned());
        out.push("Compare two goroutine profiles a minute apart (`simex diff`): a site whose count only grows is the leak.".to_owned());
        return out;
    }
    for tip in category.tips() {
        let lang_fits = tip.lang == Lang::Any || lang == Lang::Any || tip.lang == lang;
        let fact_fits = tip
            .when
            .is_none_or(|(fact, wanted)| facts.contains(&fact) == wanted);
        if lang_fits && fact_fits {
            out.push(tip.text.to_owned());
        }
    }
    out
}

/// Sample count, CPU seconds and coverage, and whether they are enough.
fn confidence(
    profile: &Profile,
    index: usize,
    kind: ProfileKind,
    total: i64,
    stacks: usize,
) -> Confidence {
    let column = |name: &str| {
        profile
            .sample_types
            .iter()
            .position(|t| t.name == name)
            .map(|i| profile.total(i))
    };
    let unit = profile.sample_types.get(index).map(|t| t.unit.as_str());
    match kind {
        ProfileKind::Cpu => {
            let cpu_ns = if unit == Some("nanoseconds") {
                Some(total)
            } else {
                column("cpu")
            };
            let samples = column("samples").unwrap_or(stacks as i64);
            let cpu_seconds = cpu_ns.map(|n| n as f64 / 1e9);
            let coverage = profile.sampled_cpu_percent();
            let mut reasons = Vec::new();
            if let Some(c) = coverage.filter(|&c| c < MIN_COVERAGE) {
                reasons.push(format!(
                    "the samples cover only {c:.0}% of the CPU the process used (a tick-driven sampling clock; run the service as root, or with perf_event_paranoid <= 1, for the perf clock)"
                ));
            }
            if samples < MIN_SAMPLES {
                reasons.push(format!("only {samples} samples (fewer than {MIN_SAMPLES})"));
            }
            if let Some(s) = cpu_seconds.filter(|&s| s < MIN_CPU_SECONDS) {
                reasons.push(format!(
                    "only {s:.2} s of CPU (less than {MIN_CPU_SECONDS} s)"
                ));
            }
            let mut line = format!(
                "{} samples{}{}",
                crate::profile::group_digits(samples),
                cpu_seconds
                    .map(|s| format!(", {s:.2} s of CPU"))
                    .unwrap_or_default(),
                profile
                    .duration
                    .map(|d| format!(" in {:.1} s", d.as_secs_f64()))
                    .unwrap_or_default()
            );
            if let Some(c) = coverage {
                let _ = write!(
                    line,
                    "; the samples cover {c:.0}% of the CPU the process used"
                );
            }
            let low = !reasons.is_empty();
            if low {
                // Two standard errors of a 50 % share: the widest a share can be off.
                let error = if samples > 0 {
                    100.0 / (samples as f64).sqrt()
                } else {
                    100.0
                };
                let _ = write!(
                    line,
                    ". **Low:** {}; shares may be off by ±{error:.0} points, so no finding is rated HIGH. Capture longer (30 s) or under load.",
                    reasons.join("; ")
                );
            } else {
                line.push_str(". Enough to rank causes.");
            }
            Confidence {
                low,
                samples,
                cpu_seconds,
                coverage_percent: coverage,
                reasons,
                line,
            }
        }
        ProfileKind::Mutex | ProfileKind::Block => {
            let events = column("contentions").unwrap_or(stacks as i64);
            let low = events < MIN_CONTENTIONS;
            let reasons = if low {
                vec![format!(
                    "only {events} wait events (fewer than {MIN_CONTENTIONS})"
                )]
            } else {
                Vec::new()
            };
            let mut line = format!(
                "{} wait events at {} stacks",
                crate::profile::group_digits(events),
                stacks
            );
            if low {
                let _ = write!(line, ". **Low:** fewer than {MIN_CONTENTIONS} wait events; no finding is rated HIGH. Check that the block/mutex profile rate is set and capture under load.");
            } else {
                line.push_str(". Enough to rank causes.");
            }
            Confidence {
                low,
                samples: events,
                cpu_seconds: None,
                coverage_percent: None,
                reasons,
                line,
            }
        }
        _ => {
            let what = match kind {
                ProfileKind::Goroutine => {
                    format!(
                        "{} tasks at {stacks} distinct stacks",
                        crate::profile::group_digits(total)
                    )
                }
                ProfileKind::Heap | ProfileKind::Allocs if profile.period > 0 => format!(
                    "{stacks} sampled allocation stacks (about one sample per {} allocated)",
                    format_value(profile.period as f64, "bytes")
                ),
                _ => format!("{stacks} distinct stacks"),
            };
            let low = total == 0;
            Confidence {
                low,
                samples: stacks as i64,
                cpu_seconds: None,
                coverage_percent: None,
                reasons: if low {
                    vec!["the profile is empty".to_owned()]
                } else {
                    Vec::new()
                },
                line: if low {
                    format!("{what}. **Low:** the profile is empty.")
                } else {
                    format!("{what}.")
                },
            }
        }
    }
}

/// What the values measure, in the words that fit the profile type.
fn measure(kind: ProfileKind, t: &SampleType) -> String {
    let objects = t.unit == "count" || t.name.ends_with("objects");
    match kind {
        ProfileKind::Cpu => "CPU time".to_owned(),
        ProfileKind::Heap | ProfileKind::Allocs => {
            let live = t.name.starts_with("inuse")
                || (kind == ProfileKind::Heap && !t.name.starts_with("alloc"));
            match (live, objects) {
                (true, false) => "in-use memory (bytes)",
                (true, true) => "live objects",
                (false, false) => "allocated bytes",
                (false, true) => "allocated objects",
            }
            .to_owned()
        }
        ProfileKind::Mutex if t.unit == "nanoseconds" => "lock wait delay".to_owned(),
        ProfileKind::Mutex => "lock contention events".to_owned(),
        ProfileKind::Block if t.unit == "nanoseconds" => "blocking delay".to_owned(),
        ProfileKind::Block => "blocking events".to_owned(),
        ProfileKind::Goroutine => "task count".to_owned(),
        ProfileKind::Threadcreate => "thread count".to_owned(),
        _ => format!("{} ({})", t.name, t.count_name()),
    }
}

fn assessment(
    kind: ProfileKind,
    measure: &str,
    top: Option<&Hotspot>,
    categories: &[CategoryFinding],
    high: usize,
    confidence: &Confidence,
    own: Option<&(String, f64)>,
) -> String {
    let Some(top) = top else {
        let idle = if kind == ProfileKind::Cpu {
            " The program was idle or blocked off-CPU during the capture: capture under load, or look at where it waits (block, mutex and goroutine profiles)."
        } else {
            " Capture under load and try again."
        };
        return format!("The profile holds no {measure}.{idle}");
    };
    let mut out = match (own, categories.first()) {
        (Some((function, share)), lead) => format!(
            "The program's own code leads: {} holds {share:.1}% of {measure} in its own frames (no library frame below it in those samples): look at its loops, or at calls the profiler could not unwind into.{}",
            code(function),
            lead.map(|c| format!(" Next: {}: {}", c.title, c.issue))
                .unwrap_or_default()
        ),
        (None, lead) => match lead {
        Some(lead) => {
            let site = lead
                .sites
                .first()
                .and_then(|s| s.function.as_deref())
                .map(|f| format!(" Fix first: {}.", code(f)))
                .unwrap_or_default();
            format!("{}: {}{site}", lead.title, lead.issue)
        }
        None => format!(
            "No kind of work reaches {CATEGORY_MIN}% of {measure}; the time is in the program's own code."
        ),
        },
    };
    if top.flat_percent >= 30.0 {
        let _ = write!(
            out,
            " `{}` alone takes {:.1}% of {measure} directly.",
            top.function.replace('`', "'"),
            top.flat_percent
        );
    } else if high == 0 && !confidence.low {
        let _ = write!(
            out,
            " No function takes {HOTSPOT_HIGH}% or more directly and no category reaches {CATEGORY_HIGH}%: a healthy spread."
        );
    }
    if confidence.low {
        let _ = write!(
            out,
            " Caution: {}; treat the shares as rough.",
            confidence.reasons.join("; ")
        );
    }
    out
}

fn service_of(path: &Path) -> Option<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(ArtifactName::parse)
        .and_then(|a| a.service)
}

/// Quotes a string for a POSIX shell.
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A regex matching exactly `name`, for `go tool pprof -list`.
fn regex_escape(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn next_steps(
    path: &Path,
    kind: ProfileKind,
    service: &Option<String>,
    hotspots: &[Hotspot],
    categories: &[CategoryFinding],
) -> Vec<String> {
    let p = shell_quote(&path.display().to_string());
    let mut steps = vec![
        format!("`simex top {p} -n 20` (or `go tool pprof -top {p}`): the full ranked list."),
        format!("`simex flamegraph {p}`: the interactive flamegraph; `make profile-serve` lists everything at http://localhost:8888."),
    ];
    let site = categories
        .first()
        .and_then(|c| c.sites.first())
        .and_then(|s| s.function.clone())
        .or_else(|| hotspots.first().map(|h| h.function.clone()));
    if let Some(site) = site {
        steps.push(format!(
            "`go tool pprof -list {} {p}`: source lines of the function to fix first (needs the binary's line tables).",
            shell_quote(&regex_escape(&site))
        ));
    }
    let has = |c: Category| {
        categories
            .iter()
            .any(|f| f.category == c && f.priority != Priority::Low)
    };
    if has(Category::Memory) && kind == ProfileKind::Cpu {
        steps.push(
            "`make profile-heap` and `make profile-allocs`: see which call sites allocate."
                .to_owned(),
        );
    }
    if has(Category::LockContention) && kind == ProfileKind::Cpu {
        steps.push("`make profile-mutex` and `make profile-block`: measure how long tasks wait on those locks.".to_owned());
    }
    if has(Category::ChannelContention) || has(Category::ConditionWait) {
        steps.push("`make profile-cpu` while it happens: the waits end when the other side (the channel's consumer, the signalling producer) does its work; that side is what to speed up.".to_owned());
    }
    if has(Category::AsyncRuntime) && kind != ProfileKind::Goroutine {
        steps
            .push("`make profile-goroutine`: how many tasks exist and where they wait.".to_owned());
    }
    let (capture, type_name) = match kind {
        ProfileKind::Heap => ("make profile-heap", "heap"),
        ProfileKind::Allocs => ("make profile-allocs", "allocs"),
        ProfileKind::Mutex => ("make profile-mutex", "mutex"),
        ProfileKind::Block => ("make profile-block", "block"),
        ProfileKind::Goroutine => ("make profile-goroutine", "goroutine"),
        _ => ("make profile-cpu", "cpu"),
    };
    let service = service.as_deref().unwrap_or("SERVICE");
    steps.push(format!(
        "After a change: `{capture}`, then `simex diff {p} flamegraphs/{type_name}_profile_{service}_NEW.pb.gz` (or `simex analyze NEW --base {p}`) to confirm the improvement."
    ));
    steps
}

impl Analysis {
    /// Renders the report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = self.write_markdown(&mut md);
        md
    }

    fn write_markdown(&self, md: &mut String) -> std::fmt::Result {
        let unit = &self.sample_type.unit;
        writeln!(md, "# Profile analysis: {}", self.profile)?;
        writeln!(md)?;
        writeln!(
            md,
            "- **Type:** {} ({} / {}), measuring {}",
            self.kind.as_str(),
            self.sample_type.name,
            self.sample_type.unit,
            self.measure
        )?;
        if let Some(service) = &self.service {
            writeln!(md, "- **Service:** {service}")?;
        }
        match self.duration_seconds {
            Some(d) => writeln!(md, "- **Duration:** {d:.1}s")?,
            None => writeln!(md, "- **Duration:** snapshot")?,
        }
        writeln!(
            md,
            "- **Total:** {} in {} samples",
            self.total_display, self.samples
        )?;
        writeln!(md, "- **Confidence:** {}", self.confidence.line)?;
        for note in &self.notes {
            writeln!(md, "- **Profile note:** {note}")?;
        }
        writeln!(md)?;
        writeln!(md, "## 🎯 Executive summary")?;
        writeln!(md)?;
        if let Some(site) = &self.summary.fix_site {
            writeln!(md, "**Where to fix:** {}", code(site))?;
            writeln!(md)?;
        }
        if let Some(top) = self.hotspots.first() {
            writeln!(md, "**Top hotspot:** {}", code(&top.function))?;
            writeln!(
                md,
                "- **Direct {}:** {:.1}% ({})",
                self.measure,
                top.flat_percent,
                format_value(top.flat as f64, unit)
            )?;
            writeln!(
                md,
                "- **Including callees:** {:.1}% ({})",
                top.cum_percent,
                format_value(top.cum as f64, unit)
            )?;
            writeln!(md, "- **Priority:** {}", top.priority.label())?;
            writeln!(md)?;
        }
        writeln!(
            md,
            "**High-priority findings:** {}{}",
            self.summary.high_findings,
            if self.confidence.low {
                " (none can be HIGH: low confidence)"
            } else {
                ""
            }
        )?;
        writeln!(md)?;
        writeln!(md, "**Overall assessment:** {}", self.summary.assessment)?;
        writeln!(md)?;
        if let Some(cmp) = &self.comparison {
            write_comparison(md, cmp, unit)?;
        }
        writeln!(md, "## 🔥 Hotspots")?;
        writeln!(md)?;
        writeln!(
            md,
            "Ranked by flat share (the function itself). Priority: HIGH at {HOTSPOT_HIGH}% flat or more, MEDIUM from {HOTSPOT_MEDIUM}%, LOW below."
        )?;
        writeln!(md)?;
        writeln!(
            md,
            "| # | Priority | Flat % | Cum % | Flat | Category | Function |"
        )?;
        writeln!(md, "|---|---|---:|---:|---:|---|---|")?;
        for (i, h) in self.hotspots.iter().enumerate() {
            writeln!(
                md,
                "| {} | {} | {:.2} | {:.2} | {} | {} | `{}` |",
                i + 1,
                h.priority.label(),
                h.flat_percent,
                h.cum_percent,
                format_value(h.flat as f64, unit),
                h.category.map_or("—", |c| c.title()),
                h.function.replace('|', "\\|").replace('`', "'")
            )?;
        }
        writeln!(md)?;
        writeln!(md, "## 💡 Recommendations by category")?;
        writeln!(md)?;
        let how = match self.kind {
            ProfileKind::Heap | ProfileKind::Allocs => "Every sample of this profile is memory; sites are the program's functions that allocated it, with the kind of allocation.".to_owned(),
            ProfileKind::Mutex | ProfileKind::Block => "Every sample is waiting; it is sorted by what the task waited on (a channel, a condition or wait group, a lock) and charged to the program's function that waited.".to_owned(),
            ProfileKind::Goroutine => "Every sample is a live task; sites are where the tasks are parked and what they wait on.".to_owned(),
            _ => format!("Each sample is judged by the library frames between its leaf and the program's first frame (logging, then data syscalls, then the outermost library domain, then memory/locks/runtime) and charged to that program function. Time in the program's own code (no recognised work below it): {:.1}%.", self.application_percent),
        };
        writeln!(
            md,
            "{how} Priority: HIGH at {CATEGORY_HIGH}% of {} or more, MEDIUM from {CATEGORY_MEDIUM}%, LOW from {CATEGORY_MIN}%.",
            self.measure
        )?;
        writeln!(md)?;
        if self.categories.is_empty() {
            writeln!(
                md,
                "No category reaches {CATEGORY_MIN}% of {}.",
                self.measure
            )?;
            writeln!(md)?;
        }
        for (i, c) in self.categories.iter().enumerate() {
            writeln!(md, "### {}. {} — {}", i + 1, c.title, c.priority.label())?;
            writeln!(md)?;
            writeln!(md, "**Issue:** {}", c.issue)?;
            writeln!(md)?;
            writeln!(md, "**Where:**")?;
            for s in &c.sites {
                write!(
                    md,
                    "- {} — {:.1}% ({})",
                    site_name(s),
                    s.percent,
                    format_value(s.value as f64, unit)
                )?;
                if let Some(via) = &s.via {
                    write!(md, ", via {}", code(via))?;
                }
                if let Some(detail) = s.detail.as_deref().filter(|d| !d.is_empty()) {
                    write!(md, "; {detail}")?;
                }
                writeln!(md)?;
            }
            writeln!(md)?;
            writeln!(md, "**Suggested actions:**")?;
            for a in &c.advice {
                writeln!(md, "- {a}")?;
            }
            writeln!(md)?;
        }
        writeln!(md, "## ➡️ Next steps")?;
        writeln!(md)?;
        for (i, s) in self.next_steps.iter().enumerate() {
            writeln!(md, "{}. {s}", i + 1)?;
        }
        Ok(())
    }
}

/// The "compared with" section: absolute change per function in the profile's unit (what grew
/// is a regression), the share change in percentage points beside it.
fn write_comparison(md: &mut String, cmp: &BaseComparison, unit: &str) -> std::fmt::Result {
    writeln!(md, "## ⚖️ Compared with `{}`", cmp.base)?;
    writeln!(md)?;
    let f = &cmp.functions;
    writeln!(
        md,
        "Base total {}, this profile {} ({}). {}",
        format_value(f.base_total as f64, unit),
        format_value(f.new_total as f64, unit),
        f.amount((f.new_total - f.base_total) as f64),
        f.method_note()
    )?;
    if let Some(note) = f.duration_note() {
        writeln!(md)?;
        writeln!(md, "{note}")?;
    }
    writeln!(md)?;
    if f.is_unchanged() && cmp.categories.is_empty() {
        writeln!(
            md,
            "**No change:** no function moved by {}% of the total or more, and no category's share by {} percentage points.",
            crate::diff::SIGNIFICANT_FRACTION * 100.0,
            crate::diff::SIGNIFICANT_POINTS
        )?;
        writeln!(md)?;
        return Ok(());
    }
    for (title, list) in [
        ("Regressions (grew)", &f.regressions),
        ("Improvements (shrank)", &f.improvements),
    ] {
        writeln!(md, "### {title}")?;
        writeln!(md)?;
        if list.is_empty() {
            writeln!(md, "None.")?;
        } else {
            writeln!(
                md,
                "| Change | Base | New | Share base → new (Δ pp) | Function |"
            )?;
            writeln!(md, "|---:|---:|---:|---:|---|")?;
            for d in list {
                writeln!(
                    md,
                    "| {} | {} | {} | {:.2}% → {:.2}% ({:+.2}) | `{}` |",
                    f.amount(d.delta_value),
                    format_value(d.base_value, unit),
                    format_value(d.new_value, unit),
                    d.base_percent,
                    d.new_percent,
                    d.delta_points,
                    d.name.replace('|', "\\|").replace('`', "'")
                )?;
            }
        }
        writeln!(md)?;
    }
    if !cmp.categories.is_empty() {
        writeln!(md, "### Categories")?;
        writeln!(md)?;
        writeln!(
            md,
            "| Change | Base | New | Share base → new (Δ pp) | Category |"
        )?;
        writeln!(md, "|---:|---:|---:|---:|---|")?;
        for c in &cmp.categories {
            writeln!(
                md,
                "| {} | {} | {} | {:.2}% → {:.2}% ({:+.2}) | {} |",
                f.amount(c.delta() as f64),
                format_value(c.base_value as f64, unit),
                format_value(c.new_value as f64, unit),
                c.base_percent,
                c.new_percent,
                c.delta_points(),
                c.category.title()
            )?;
        }
        writeln!(md)?;
    }
    Ok(())
}
