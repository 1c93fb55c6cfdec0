//! The analyzer: from one profile (and optionally a base to compare with) to a report with an
//! executive summary, ranked hotspots, recommendations by category and next steps.
//!
//! Priorities (documented in every report):
//! - a **hotspot** is HIGH when its flat share is at least [`HOTSPOT_HIGH`] %, MEDIUM from
//!   [`HOTSPOT_MEDIUM`] %, else LOW;
//! - a **category** is HIGH when the samples attributed to it (see [`crate::categories`]) reach
//!   [`CATEGORY_HIGH`] %, MEDIUM from [`CATEGORY_MEDIUM`] %, LOW from [`CATEGORY_MIN`] %; smaller
//!   ones are not reported.
//!
//! Architecture invariant: this module reads no files and runs no tools; it takes a decoded
//! [`Profile`] and returns data that renders as Markdown or JSON.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::categories::{classify, code_owner, Category, FrameClass};
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
    /// The category most of this function's own samples were attributed to (else the category
    /// of its name), if any.
    pub category: Option<Category>,
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
    /// Priority from the percent.
    pub priority: Priority,
    /// The frames that attributed most of it, with their percent of the total.
    pub evidence: Vec<(String, f64)>,
    /// Concrete advice.
    pub advice: Vec<&'static str>,
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
    /// The profile kind.
    pub kind: ProfileKind,
    /// The sample type analysed.
    pub sample_type: SampleType,
    /// What the values measure, in words ("CPU time", "in-use memory").
    pub measure: String,
    /// Total of the sample type.
    pub total: i64,
    /// The total, human-formatted.
    pub total_display: String,
    /// Number of samples with a non-zero value.
    pub samples: usize,
    /// Capture duration in seconds; `None` for snapshots.
    pub duration_seconds: Option<f64>,
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
    /// Category share changes in percentage points (new minus base), largest first.
    pub categories: Vec<(Category, f64)>,
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
    let sample_type = profile.sample_types[input.index.min(profile.sample_types.len() - 1)].clone();
    let summary = StackSummary::new(profile, input.index);
    let total = summary.total;
    let percent = |v: i64| {
        if total == 0 {
            0.0
        } else {
            100.0 * v as f64 / total as f64
        }
    };
    let attribution = attribute(profile, input.index);
    let hotspots: Vec<Hotspot> = summary
        .functions
        .iter()
        .filter(|f| f.flat > 0)
        .take(HOTSPOT_COUNT)
        .map(|f| {
            let flat_percent = percent(f.flat);
            Hotspot {
                function: f.name.clone(),
                flat: f.flat,
                cum: f.cum,
                flat_percent,
                cum_percent: percent(f.cum),
                priority: if flat_percent >= HOTSPOT_HIGH {
                    Priority::High
                } else if flat_percent >= HOTSPOT_MEDIUM {
                    Priority::Medium
                } else {
                    Priority::Low
                },
                category: attribution
                    .leaf_category(&f.name)
                    .or(match classify(&f.name) {
                        FrameClass::Work(c) => Some(c),
                        _ => None,
                    }),
            }
        })
        .collect();
    let categories = category_findings(&attribution, total);
    let service = service_of(input.path);
    let high_findings = hotspots
        .iter()
        .filter(|h| h.priority == Priority::High)
        .count()
        + categories
            .iter()
            .filter(|c| c.priority == Priority::High)
            .count();
    let measure = measure(profile.kind, &sample_type);
    let top = hotspots.first();
    let summary_section = Summary {
        top_hotspot: top.map(|h| h.function.clone()),
        top_hotspot_percent: top.map_or(0.0, |h| h.flat_percent),
        high_findings,
        assessment: {
            let mut verdict = assessment(&measure, top, &categories, high_findings);
            if let Some(coverage) = profile.sampled_cpu_percent().filter(|&c| c < 50.0) {
                verdict.push_str(&format!(
                    " Caution: the samples cover only {coverage:.0}% of the CPU the process \
                     used, so shares may be skewed; the profile was taken with a tick-driven \
                     sampling clock (run the service as root, or with perf_event_paranoid <= 1, \
                     to get the perf clock)."
                ));
            }
            verdict
        },
    };
    let comparison = base.map(|b| {
        let base_summary = StackSummary::new(b.profile, b.index);
        let base_attr = attribute(b.profile, b.index);
        let functions = Comparison::new(&base_summary, &summary, &sample_type.unit, HOTSPOT_COUNT)
            .with_durations(b.profile.duration, profile.duration);
        let mut cats: Vec<(Category, f64)> = Category::ALL
            .iter()
            .map(|&c| {
                let share = |a: &Attribution, t: i64| {
                    if t == 0 {
                        0.0
                    } else {
                        100.0 * a.by_category.get(&c).copied().unwrap_or(0) as f64 / t as f64
                    }
                };
                (
                    c,
                    share(&attribution, total) - share(&base_attr, base_summary.total),
                )
            })
            .filter(|(_, d)| d.abs() >= crate::diff::SIGNIFICANT_POINTS)
            .collect();
        cats.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        BaseComparison {
            base: b.path.display().to_string(),
            functions,
            categories: cats,
        }
    });
    let next_steps = next_steps(input.path, profile.kind, &service, &hotspots, &categories);
    Analysis {
        profile: input.path.display().to_string(),
        service,
        kind: profile.kind,
        total_display: format_value(total as f64, &sample_type.unit),
        sample_type,
        measure,
        total,
        samples: summary.sample_count,
        duration_seconds: profile.duration.map(|d| d.as_secs_f64()),
        summary: summary_section,
        hotspots,
        categories,
        application_percent: percent(attribution.application),
        next_steps,
        comparison,
        notes: profile.comments.clone(),
    }
}

/// Where each sample's value went, by category.
struct Attribution {
    by_category: HashMap<Category, i64>,
    /// Per category, the deciding frame and its value.
    evidence: HashMap<Category, HashMap<String, i64>>,
    application: i64,
    /// Per leaf function, the value of its samples by attributed category.
    by_leaf: HashMap<String, HashMap<Category, i64>>,
}

impl Attribution {
    /// The category most of a function's own (leaf) samples were attributed to.
    fn leaf_category(&self, function: &str) -> Option<Category> {
        self.by_leaf
            .get(function)?
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| *c)
    }
}

/// Walks each stack leaf-to-root through work and library frames up to the first application
/// frame; the outermost category seen decides (see [`crate::categories`]).
///
/// The program's own code is whichever crate or package is the outermost non-library code in
/// some stack (`trading_api` under tokio, `main` in Go); other unknown crates (`nu_ansi_term`
/// inside `tracing_subscriber`) are treated as libraries and looked through.
fn attribute(profile: &Profile, index: usize) -> Attribution {
    let mut classes: Vec<FrameClass> = profile.frame_names.iter().map(|n| classify(n)).collect();
    let owners: Vec<Option<String>> = profile
        .frame_names
        .iter()
        .zip(&classes)
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
    for (class, owner) in classes.iter_mut().zip(&owners) {
        if let Some(owner) = owner {
            if !program.contains(owner.as_str()) {
                *class = FrameClass::Library;
            }
        }
    }
    let mut out = Attribution {
        by_category: HashMap::new(),
        evidence: HashMap::new(),
        application: 0,
        by_leaf: HashMap::new(),
    };
    for stack in &profile.stacks {
        let value = stack.values.get(index).copied().unwrap_or(0);
        if value == 0 {
            continue;
        }
        let mut decided: Option<(Category, u32)> = None;
        let mut reached_application = false;
        for &frame in stack.frames.iter().rev() {
            match classes.get(frame as usize) {
                Some(FrameClass::Work(c)) => decided = Some((*c, frame)),
                Some(FrameClass::Application) => {
                    reached_application = true;
                    break;
                }
                _ => {}
            }
        }
        // Every sample of a mutex profile is time spent waiting for a lock, whatever the frames
        // say: our profiles (and Go's) record the waiting caller, not lock internals.
        if decided.is_none() && profile.kind == ProfileKind::Mutex {
            decided = stack
                .frames
                .last()
                .map(|&leaf| (Category::LockContention, leaf));
        }
        if let Some((category, frame)) = decided {
            *out.by_category.entry(category).or_default() += value;
            if let Some(&leaf) = stack.frames.last() {
                *out.by_leaf
                    .entry(profile.frame_name(leaf).to_owned())
                    .or_default()
                    .entry(category)
                    .or_default() += value;
            }
            *out.evidence
                .entry(category)
                .or_default()
                .entry(profile.frame_name(frame).to_owned())
                .or_default() += value;
        } else if reached_application {
            out.application += value;
        }
    }
    out
}

fn category_findings(attribution: &Attribution, total: i64) -> Vec<CategoryFinding> {
    if total == 0 {
        return Vec::new();
    }
    let pct = |v: i64| 100.0 * v as f64 / total as f64;
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
            CategoryFinding {
                category,
                title: category.title(),
                value,
                percent,
                priority: if percent >= CATEGORY_HIGH {
                    Priority::High
                } else if percent >= CATEGORY_MEDIUM {
                    Priority::Medium
                } else {
                    Priority::Low
                },
                evidence,
                advice: category.advice().to_vec(),
            }
        })
        .collect();
    findings.sort_by(|a, b| b.value.cmp(&a.value).then(a.category.cmp(&b.category)));
    findings
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
        ProfileKind::Other => format!("{} ({})", t.name, t.count_name()),
    }
}

fn assessment(
    measure: &str,
    top: Option<&Hotspot>,
    categories: &[CategoryFinding],
    high: usize,
) -> String {
    let Some(top) = top else {
        return format!("The profile holds no {measure}; capture under load and try again.");
    };
    let lead_category = categories
        .first()
        .map(|c| format!(" The largest category is {} at {:.1}%.", c.title, c.percent))
        .unwrap_or_default();
    if high == 0 {
        format!(
            "Healthy spread: no function takes {HOTSPOT_HIGH}% or more of {measure} directly and no category reaches {CATEGORY_HIGH}%.{lead_category}"
        )
    } else if top.flat_percent >= 30.0 {
        format!(
            "Concentrated: `{}` alone takes {:.1}% of {measure}; that is the biggest single win.{lead_category}",
            top.function, top.flat_percent
        )
    } else {
        format!(
            "{high} high-priority finding(s); start with `{}` ({:.1}% of {measure} directly).{lead_category}",
            top.function, top.flat_percent
        )
    }
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
    if let Some(top) = hotspots.first() {
        steps.push(format!(
            "`go tool pprof -list {} {p}`: source lines of the top hotspot (needs the binary's line tables).",
            shell_quote(&regex_escape(&top.function))
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
    if has(Category::AsyncRuntime) {
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
        for note in &self.notes {
            writeln!(md, "- **Profile note:** {note}")?;
        }
        writeln!(md)?;
        writeln!(md, "## 🎯 Executive summary")?;
        writeln!(md)?;
        if let Some(top) = self.hotspots.first() {
            writeln!(md, "**Top hotspot:** `{}`", top.function)?;
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
            "**High-priority findings:** {}",
            self.summary.high_findings
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
        writeln!(
            md,
            "Each sample is attributed to the outermost recognised kind of work between its leaf and the first application frame. Priority: HIGH at {CATEGORY_HIGH}% of {} or more, MEDIUM from {CATEGORY_MEDIUM}%, LOW from {CATEGORY_MIN}%. Time in the application's own code (no recognised work below it): {:.1}%.",
            self.measure, self.application_percent
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
            writeln!(
                md,
                "**Issue:** {:.1}% of {} ({}) is {}.",
                c.percent,
                self.measure,
                format_value(c.value as f64, unit),
                c.title.to_lowercase()
            )?;
            writeln!(md)?;
            writeln!(md, "**Where:**")?;
            for (frame, pct) in &c.evidence {
                writeln!(md, "- `{}` ({pct:.1}%)", frame.replace('`', "'"))?;
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
        writeln!(
            md,
            "### Categories (change in share of the total, percentage points)"
        )?;
        writeln!(md)?;
        for (c, d) in &cmp.categories {
            writeln!(md, "- {}: {d:+.2} pp", c.title())?;
        }
        writeln!(md)?;
    }
    Ok(())
}
