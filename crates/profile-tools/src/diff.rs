//! Before/after comparison of two profiles, per function, in the profiles' own unit.
//!
//! By default amounts are **absolute**: `new − base` in seconds of CPU, bytes, seconds of lock
//! wait or counts, so a function that grew is a regression whatever happened to the others. The
//! share of each profile's total (percent) and its change (percentage points) come as a second
//! column: a function can grow while its share falls, when something else grew more.
//!
//! Normalising is a choice the caller makes and the output states ([`Normalize`]):
//! - `total`: the base is scaled to the new total before subtracting (what inferno's
//!   `--normalize` and the old `simex diff` did): amounts then show shifts in share, not growth;
//! - `rate`: each profile is divided by its duration, so a 30 s and a 10 s capture compare as
//!   "per second of wall time" (CPU seconds per second is cores busy). Snapshots have no
//!   duration and cannot be compared this way.
//!
//! [`GrowthPath`] answers "where did it grow": the call path, root first, that carries most of
//! the growth, down to the point where the growth splits.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::profile::{format_value, Profile};
use crate::stacks::StackSummary;

/// Changes smaller than this fraction of the larger profile's total are noise, not findings.
pub const SIGNIFICANT_FRACTION: f64 = 0.001;

/// Share changes (percentage points) below this are not worth a category line in a report.
pub const SIGNIFICANT_POINTS: f64 = 0.1;

/// Durations that differ by more than this fraction get a note in absolute comparisons.
const DURATION_MISMATCH: f64 = 0.05;

/// How the two profiles are made comparable before subtracting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Absolute amounts: `new − base`.
    #[default]
    None,
    /// The base scaled to the new profile's total: shifts in share, shown as amounts.
    Total,
    /// Both divided by their duration: amounts per second of wall time.
    Rate,
}

impl std::str::FromStr for Normalize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "absolute" => Ok(Self::None),
            "total" => Ok(Self::Total),
            "rate" => Ok(Self::Rate),
            other => Err(format!(
                "unknown normalisation {other:?}: use none, total or rate"
            )),
        }
    }
}

/// Why two profiles cannot be compared as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompareError(String);

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Absolute, share of total, or per second.
    pub normalize: Normalize,
    /// How many functions to keep in each direction.
    pub limit: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            normalize: Normalize::None,
            limit: 15,
        }
    }
}

/// How one function changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FunctionDelta {
    /// The function.
    pub name: String,
    /// Its flat value in the base, after normalisation (in the comparison's unit).
    pub base_value: f64,
    /// Its flat value in the new profile, after normalisation.
    pub new_value: f64,
    /// `new_value − base_value`: positive means it grew (a regression).
    pub delta_value: f64,
    /// Flat share of the base profile's total, in percent.
    pub base_percent: f64,
    /// Flat share of the new profile's total, in percent.
    pub new_percent: f64,
    /// `new_percent − base_percent`, in percentage points.
    pub delta_points: f64,
}

/// The result of comparing two profiles.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// The sample type compared (`cpu`, `inuse_space`, `delay`, ...).
    pub sample_type: String,
    /// Its unit (`nanoseconds`, `bytes`, `count`).
    pub unit: String,
    /// How the amounts were normalised.
    pub normalize: Normalize,
    /// Total of the base profile (raw, as captured).
    pub base_total: i64,
    /// Total of the new profile (raw).
    pub new_total: i64,
    /// The base's duration in seconds; `None` for snapshots or when unknown.
    pub base_seconds: Option<f64>,
    /// The new profile's duration in seconds.
    pub new_seconds: Option<f64>,
    /// Factor applied to the base's values before subtracting.
    pub base_scale: f64,
    /// Factor applied to the new profile's values.
    pub new_scale: f64,
    /// Functions that grew, largest growth first.
    pub regressions: Vec<FunctionDelta>,
    /// Functions that shrank, largest decrease first.
    pub improvements: Vec<FunctionDelta>,
    /// Where most of the growth happened, when something grew.
    pub growth_path: Option<GrowthPath>,
}

impl Comparison {
    /// Absolute comparison of flat values, keeping the `limit` largest changes each way. Use
    /// [`Comparison::with_durations`] to have a duration mismatch noted, or
    /// [`Comparison::of_profiles`] for normalised comparisons and the growth path.
    pub fn new(base: &StackSummary, new: &StackSummary, unit: &str, limit: usize) -> Self {
        Self::scaled(base, new, "", unit, Normalize::None, (1.0, 1.0), limit)
    }

    /// Records the two profiles' durations (for the note on mismatched durations).
    pub fn with_durations(mut self, base: Option<Duration>, new: Option<Duration>) -> Self {
        self.base_seconds = base.map(|d| d.as_secs_f64());
        self.new_seconds = new.map(|d| d.as_secs_f64());
        self
    }

    /// Compares sample type `base_index` of `base` with `new_index` of `new`, normalised as
    /// `options` says, with the growth path.
    pub fn of_profiles(
        base: &Profile,
        base_index: usize,
        new: &Profile,
        new_index: usize,
        options: &CompareOptions,
    ) -> Result<Self, CompareError> {
        let base_summary = StackSummary::new(base, base_index);
        let new_summary = StackSummary::new(new, new_index);
        let base_seconds = base.duration.map(|d| d.as_secs_f64());
        let new_seconds = new.duration.map(|d| d.as_secs_f64());
        let scales = match options.normalize {
            Normalize::None => (1.0, 1.0),
            Normalize::Total => (total_scale(base_summary.total, new_summary.total), 1.0),
            Normalize::Rate => match (base_seconds, new_seconds) {
                (Some(b), Some(n)) if b > 0.0 && n > 0.0 => (1.0 / b, 1.0 / n),
                _ => {
                    return Err(CompareError(
                        "--normalize=rate needs both profiles to have a duration; snapshots \
                         (heap, goroutine without ?seconds=) have none: compare them absolutely"
                            .to_owned(),
                    ))
                }
            },
        };
        let sample_type = &new.sample_types[new_index.min(new.sample_types.len() - 1)];
        let mut comparison = Self::scaled(
            &base_summary,
            &new_summary,
            &sample_type.name,
            &sample_type.unit,
            options.normalize,
            scales,
            options.limit,
        );
        comparison.base_seconds = base_seconds;
        comparison.new_seconds = new_seconds;
        comparison.growth_path =
            GrowthPath::find((base, base_index, scales.0), (new, new_index, scales.1));
        Ok(comparison)
    }

    fn scaled(
        base: &StackSummary,
        new: &StackSummary,
        sample_type: &str,
        unit: &str,
        normalize: Normalize,
        (base_scale, new_scale): (f64, f64),
        limit: usize,
    ) -> Self {
        let base_flat = base.flat_by_name();
        let new_flat = new.flat_by_name();
        let names: BTreeSet<&str> = base_flat.keys().chain(new_flat.keys()).copied().collect();
        let magnitude = |flat: &HashMap<&str, i64>, scale: f64| {
            flat.values().map(|v| v.unsigned_abs() as f64).sum::<f64>() * scale
        };
        let noise = SIGNIFICANT_FRACTION
            * magnitude(&base_flat, base_scale).max(magnitude(&new_flat, new_scale));
        let mut deltas: Vec<FunctionDelta> = names
            .into_iter()
            .filter_map(|name| {
                let b = base_flat.get(name).copied().unwrap_or(0);
                let n = new_flat.get(name).copied().unwrap_or(0);
                let base_value = b as f64 * base_scale;
                let new_value = n as f64 * new_scale;
                let delta_value = new_value - base_value;
                if delta_value == 0.0 || delta_value.abs() < noise {
                    return None;
                }
                let base_percent = percent(b, base.total);
                let new_percent = percent(n, new.total);
                Some(FunctionDelta {
                    name: name.to_owned(),
                    base_value,
                    new_value,
                    delta_value,
                    base_percent,
                    new_percent,
                    delta_points: new_percent - base_percent,
                })
            })
            .collect();
        deltas.sort_by(|a, b| {
            b.delta_value
                .abs()
                .total_cmp(&a.delta_value.abs())
                .then_with(|| a.name.cmp(&b.name))
        });
        let (mut regressions, mut improvements): (Vec<_>, Vec<_>) =
            deltas.into_iter().partition(|d| d.delta_value > 0.0);
        regressions.truncate(limit);
        improvements.truncate(limit);
        Self {
            sample_type: sample_type.to_owned(),
            unit: unit.to_owned(),
            normalize,
            base_total: base.total,
            new_total: new.total,
            base_seconds: None,
            new_seconds: None,
            base_scale,
            new_scale,
            regressions,
            improvements,
            growth_path: None,
        }
    }

    /// True when no function changed by a significant amount.
    pub fn is_unchanged(&self) -> bool {
        self.regressions.is_empty() && self.improvements.is_empty()
    }

    /// An amount of this comparison formatted with its sign and unit (`+2.00s`, `-4.44MB`,
    /// `+0.98s/s` per second of wall time).
    pub fn amount(&self, value: f64) -> String {
        let mut text = signed(format_value(value, &self.unit), value);
        if self.normalize == Normalize::Rate {
            text.push_str("/s");
        }
        text
    }

    /// A total of this comparison, unsigned, with its unit.
    fn plain(&self, value: f64) -> String {
        let mut text = format_value(value, &self.unit);
        if self.normalize == Normalize::Rate {
            text.push_str("/s");
        }
        text
    }

    /// One sentence saying how the amounts were computed; every rendering prints it.
    pub fn method_note(&self) -> String {
        let what = measure_words(&self.sample_type, &self.unit);
        match self.normalize {
            Normalize::None => format!(
                "Amounts are absolute: new minus base, in {what}; a positive amount grew. \
                 Share columns are each function's percent of its own profile's total."
            ),
            Normalize::Total => format!(
                "Amounts are NORMALISED to the new total (--normalize=total): the base was \
                 multiplied by {:.3} before subtracting, so they show shifts in share of {what}, \
                 not growth.",
                self.base_scale
            ),
            Normalize::Rate => format!(
                "Amounts are per second of wall time (--normalize=rate): each profile's {what} \
                 divided by its duration ({} and {}).",
                seconds_text(self.base_seconds),
                seconds_text(self.new_seconds)
            ),
        }
    }

    /// A warning when the profiles cover different durations and the amounts are absolute.
    pub fn duration_note(&self) -> Option<String> {
        let (Some(b), Some(n)) = (self.base_seconds, self.new_seconds) else {
            return None;
        };
        if self.normalize == Normalize::Rate || b <= 0.0 || n <= 0.0 {
            return None;
        }
        ((b - n).abs() / b.max(n) > DURATION_MISMATCH).then(|| {
            format!(
                "Note: the profiles cover different durations ({b:.1} s base, {n:.1} s new); \
                 absolute amounts favour the longer one. `--normalize=rate` compares per second."
            )
        })
    }

    /// The first line: both totals and their change.
    pub fn totals_line(&self) -> String {
        let base = self.base_total as f64 * self.base_scale;
        let new = self.new_total as f64 * self.new_scale;
        let change = if base == 0.0 {
            String::new()
        } else {
            format!(", {:+.1}%", 100.0 * (new - base) / base.abs())
        };
        format!(
            "{}: base {}{}, new {}{} ({}{change})",
            if self.sample_type.is_empty() {
                &self.unit
            } else {
                &self.sample_type
            },
            self.plain(base),
            over(self.base_seconds),
            self.plain(new),
            over(self.new_seconds),
            self.amount(new - base),
        )
    }

    /// Plain-text listing for the terminal and the `diff_….txt` file.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n{}\n", self.totals_line(), self.method_note());
        if let Some(note) = self.duration_note() {
            out.push_str(&note);
            out.push('\n');
        }
        if self.is_unchanged() {
            out.push_str(&format!(
                "No change: no function moved by {}% of the total or more.\n",
                SIGNIFICANT_FRACTION * 100.0
            ));
            return out;
        }
        for (title, list) in [
            ("Grew (regressions), largest first", &self.regressions),
            ("Shrank (improvements), largest first", &self.improvements),
        ] {
            out.push_str(&format!(
                "\n{title}:\n  {:>12}  {:>10}  {:>10}  {:<28}  function\n",
                "change", "base", "new", "share of total"
            ));
            if list.is_empty() {
                out.push_str("  (none)\n");
            }
            for d in list {
                out.push_str(&format!(
                    "  {:>12}  {:>10}  {:>10}  {:<28}  {}\n",
                    self.amount(d.delta_value),
                    self.plain(d.base_value),
                    self.plain(d.new_value),
                    share_change(d),
                    d.name
                ));
            }
        }
        if let Some(path) = &self.growth_path {
            out.push_str(&format!(
                "\nWhere it grew: {} in `{}` (including callees){}, via {}\n",
                self.amount(path.growth),
                path.point(),
                path.owner_clause(),
                path.chain().join(" <- ")
            ));
        }
        out
    }
}

/// `50.0% -> 75.0% (+25.0 pp)`.
pub fn share_change(d: &FunctionDelta) -> String {
    format!(
        "{:.1}% -> {:.1}% ({:+.1} pp)",
        d.base_percent, d.new_percent, d.delta_points
    )
}

/// What the values of a sample type measure, in words for a sentence.
pub fn measure_words(sample_type: &str, unit: &str) -> &'static str {
    match (sample_type, unit) {
        ("cpu", _) => "seconds of CPU",
        ("samples", _) => "CPU samples",
        ("delay", _) => "seconds of waiting",
        ("contentions", _) => "contention events",
        ("inuse_space", _) => "bytes in use",
        ("alloc_space", _) => "bytes allocated",
        ("inuse_objects", _) => "objects in use",
        ("alloc_objects", _) => "objects allocated",
        ("goroutine" | "goroutines" | "tasks", _) => "tasks",
        (_, "nanoseconds") => "seconds",
        (_, "bytes") => "bytes",
        _ => "counts",
    }
}

fn percent(v: i64, total: i64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * v as f64 / total as f64
    }
}

fn total_scale(base: i64, new: i64) -> f64 {
    if base == 0 {
        0.0
    } else {
        new as f64 / base as f64
    }
}

fn over(seconds: Option<f64>) -> String {
    seconds.map_or_else(String::new, |s| format!(" over {s:.1} s"))
}

fn seconds_text(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "snapshot".to_owned(), |s| format!("{s:.1} s"))
}

fn signed(text: String, value: f64) -> String {
    if value >= 0.0 && !text.starts_with('-') {
        format!("+{text}")
    } else {
        text
    }
}

/// The call path, root first, that carries most of the growth between two profiles.
///
/// Built from a tree of changes (every call path's value in the new profile minus the base):
/// from the root, always follow the child that grew most, and stop where no child carries at
/// least half of the largest growth seen on the way. The last frame is where the growth is
/// concentrated; above it, the callers that led there.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GrowthPath {
    /// Frames from the root to the point where the growth splits or ends.
    pub frames: Vec<String>,
    /// Growth of the last frame's subtree (including callees), after normalisation.
    pub growth: f64,
    /// Index in `frames` of the innermost frame of the program's own code
    /// ([`crate::provenance`]): whose code to change when the point is in a library.
    pub owner: Option<usize>,
}

/// A node of the change tree: growth of a call path and its children by frame name.
#[derive(Default)]
struct ChangeNode {
    growth: f64,
    children: HashMap<u32, ChangeNode>,
}

impl GrowthPath {
    /// The path between `(profile, sample index, scale)` pairs; `None` when nothing grew.
    pub fn find(base: (&Profile, usize, f64), new: (&Profile, usize, f64)) -> Option<Self> {
        // One name table for both profiles, so equal names share a tree node.
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut names: Vec<&str> = Vec::new();
        let mut root = ChangeNode::default();
        for (profile, index, sign) in [(base.0, base.1, -base.2), (new.0, new.1, new.2)] {
            let local: Vec<u32> = profile
                .frame_names
                .iter()
                .map(|name| {
                    *ids.entry(name.as_str()).or_insert_with(|| {
                        names.push(name.as_str());
                        (names.len() - 1) as u32
                    })
                })
                .collect();
            for stack in &profile.stacks {
                let value = stack.values.get(index).copied().unwrap_or(0);
                if value == 0 {
                    continue;
                }
                let change = value as f64 * sign;
                let mut node = &mut root;
                node.growth += change;
                for &frame in &stack.frames {
                    let id = local.get(frame as usize).copied().unwrap_or(u32::MAX);
                    node = node.children.entry(id).or_default();
                    node.growth += change;
                }
            }
        }
        let mut frames = Vec::new();
        let mut node = &root;
        let mut largest = 0.0f64;
        let mut growth = 0.0;
        while let Some((&id, child)) = node
            .children
            .iter()
            .max_by(|a, b| a.1.growth.total_cmp(&b.1.growth).then(b.0.cmp(a.0)))
        {
            if child.growth <= 0.0 || child.growth < 0.5 * largest {
                break;
            }
            largest = largest.max(child.growth);
            growth = child.growth;
            frames.push(names.get(id as usize).copied().unwrap_or("?").to_owned());
            node = child;
        }
        if frames.is_empty() {
            return None;
        }
        let mut files = base.0.files_by_name();
        files.extend(new.0.files_by_name());
        let owner = frames.iter().rposition(|frame| {
            crate::provenance::is_own_code(frame, files.get(frame.as_str()).unwrap_or(&""))
        });
        Some(Self {
            frames,
            growth,
            owner,
        })
    }

    /// `, in code called from the program's `owner`` when the point is not the program's own
    /// code; empty otherwise.
    pub fn owner_clause(&self) -> String {
        match self.owner() {
            Some(owner) if owner != self.point() => {
                format!(", called from the program's `{owner}`")
            }
            _ => String::new(),
        }
    }

    /// The program's own frame nearest the point (the point itself when it is own code).
    pub fn owner(&self) -> Option<&str> {
        self.owner
            .and_then(|i| self.frames.get(i))
            .map(String::as_str)
    }

    /// The frame where the growth is concentrated (the path's last).
    pub fn point(&self) -> &str {
        self.frames.last().map_or("?", String::as_str)
    }

    /// A short account of the path for one line, innermost first: the point, the outermost
    /// frame of its own crate, then for each crate further out the frame that called into the
    /// one below it (where a program's own code calls a library). Runtime and standard-library
    /// crates are skipped; at most four frames, and the program's own frame nearest the point
    /// ([`GrowthPath::owner`]) is always one of them, followed by up to two of its callers in
    /// the program's own crate.
    pub fn chain(&self) -> Vec<String> {
        let Some((point, callers)) = self.frames.split_last() else {
            return Vec::new();
        };
        let mut chain = vec![format!("`{point}`")];
        let point_crate = crate_of(point);
        let mut outer = callers.iter().rev().peekable();
        // The point's own crate: its outermost named frame directly above the point.
        let mut own_outermost = None;
        while let Some(frame) = outer.next_if(|f| crate_of(f) == point_crate) {
            if !is_closure(frame) {
                own_outermost = Some(frame);
            }
        }
        if let Some(frame) = own_outermost {
            chain.push(format!("`{frame}`"));
        }
        // Further out: each crate's innermost named frame, the call site into the crate below.
        let mut last_crate = point_crate;
        for frame in outer {
            let krate = crate_of(frame);
            if chain.len() >= 4 {
                break;
            }
            // Closures stay: an async fn's body is one (`leaked_task::{{closure}}`).
            if krate == last_crate || is_plumbing(frame) {
                continue;
            }
            chain.push(format!("`{frame}`"));
            last_crate = krate;
        }
        // The program's own frame is the one to act on: never cut off by the four-frame limit.
        if let Some(owner) = self.owner().filter(|o| *o != point) {
            let owner = format!("`{owner}`");
            if !chain.contains(&owner) {
                chain.truncate(3);
                chain.push(owner);
            }
        }
        // And who called it, in the program: the function that started this work
        // (`contend_for_book_locks` above `Venue::with_book` above `spin_for`).
        if let Some(i) = self.owner {
            let krate = crate_of(&self.frames[i]);
            let callers = self.frames[..i]
                .iter()
                .rev()
                .filter(|f| crate_of(f) == krate && !is_closure(f))
                .map(|f| format!("`{f}`"))
                .filter(|f| !chain.contains(f))
                .take(2);
            chain.extend(callers.collect::<Vec<_>>());
        }
        chain
    }
}

/// The crate (Rust) or package (Go) a frame name belongs to: `chaos` for
/// `chaos::scenarios::cpu_burn::spin`, `alloc` for `<alloc::vec::Vec<T> as Clone>::clone`,
/// `encoding/json` for `encoding/json.(*decodeState).object`; a C symbol is its own name.
pub fn crate_of(frame: &str) -> &str {
    let name = frame.trim_start_matches(['<', '&', '*', '(', ' ']);
    let name = name.strip_prefix("dyn ").unwrap_or(name);
    if let Some(end) = name.find("::") {
        return &name[..end];
    }
    // Go: the package is everything before the first '.' after the last '/'.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find('.') {
        Some(dot) => &name[..last_slash + dot],
        None => name,
    }
}

/// Runtime, standard-library and framework code, and C symbols (no `::`, no package): never
/// the answer to "whose code is this".
fn is_plumbing(frame: &str) -> bool {
    const PLUMBING: &[&str] = &[
        "std",
        "core",
        "alloc",
        "tokio",
        "tokio_util",
        "futures",
        "futures_util",
        "futures_core",
        "hyper",
        "hyper_util",
        "tower",
        "tower_http",
        "axum",
        "tracing",
        "tracing_core",
        "lock_api",
        "parking_lot",
        "parking_lot_core",
        "contention",
        "runtime",
        "sync",
        "syscall",
        "internal/poll",
    ];
    let krate = crate_of(frame);
    PLUMBING.contains(&krate) || krate == frame || frame.starts_with("0x")
}

fn is_closure(frame: &str) -> bool {
    frame.contains("{{closure}}") || frame.contains("{closure")
}
