//! Interactive SVG flamegraphs drawn by inferno (used as a library): one profile, or the
//! differential of two.
//!
//! inferno's embedded script gives click-to-zoom and search (Ctrl+F, or `?s=term` in the URL);
//! we choose the title, palette and what a frame's hover line says. Three decisions make the
//! pictures readable:
//! - **Runtime plumbing is collapsed by default** ([`is_plumbing`]): a tokio service's stack has
//!   ~50 frames of task harness, `Future::poll` chains, hyper/axum/tower layers and
//!   thread-start/`catch_unwind` shims above the first line of the application. The leading run
//!   becomes one `[runtime plumbing]` frame, runs between application frames disappear, and the
//!   leaf is always kept, so time spent *in* the runtime still shows. `full_stacks` shows all.
//! - **Hover says what a frame costs** in the profile's unit: `1.23 s CPU · 4.50% · 122 samples`
//!   rather than inferno's raw `123,000,000 nanoseconds`. The text stays in the trailing
//!   parentheses inferno's script strips when it labels and searches frames.
//! - **Diffs are absolute by default**: the two folded inputs go to inferno as they are, so red
//!   is "more of the unit than before" and blue "less". Normalising the base to the new total is
//!   [`DiffConfig::normalize`], and the subtitle says which one the picture is.

use std::collections::BTreeMap;
use std::io::BufRead;

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Options};

use crate::profile::{Profile, ProfileKind, SampleType};
use crate::stacks::StackSummary;
use crate::Error;

/// The frame that stands for a collapsed leading run of runtime plumbing.
pub const PLUMBING_FRAME: &str = "[runtime plumbing]";

/// inferno's title is drawn at 17 px on a 1200 px canvas: longer titles are clipped, so the
/// rest goes to the subtitle (12 px, about 165 characters).
const TITLE_MAX_CHARS: usize = 95;
const SUBTITLE_MAX_CHARS: usize = 160;

/// What to put on a flamegraph besides the stacks.
#[derive(Debug, Clone, Default)]
pub struct FlamegraphConfig {
    /// Overrides the generated title.
    pub title: Option<String>,
    /// The service the profile came from, shown in the title.
    pub service: Option<String>,
    /// Draw every frame, runtime plumbing included (default: collapsed, see [`is_plumbing`]).
    pub full_stacks: bool,
}

/// How to draw a differential flamegraph.
#[derive(Debug, Clone, Default)]
pub struct DiffConfig {
    /// The title; long titles are split and the rest goes to the subtitle.
    pub title: String,
    /// Scale the base to the new profile's total before comparing (shares, not amounts).
    /// Off by default: the picture then shows absolute change in the profile's unit.
    pub normalize: bool,
    /// Draw every frame, runtime plumbing included.
    pub full_stacks: bool,
}

/// Renders the sample type at `index` of `profile` as an SVG flamegraph.
pub fn render(
    profile: &Profile,
    index: usize,
    config: &FlamegraphConfig,
) -> Result<Vec<u8>, Error> {
    let sample_type = &profile.sample_types[index.min(profile.sample_types.len() - 1)];
    let summary = StackSummary::new(profile, index);
    if summary.folded.is_empty() {
        return Err(Error::Empty {
            sample_type: sample_type.name.clone(),
        });
    }
    let measure = Measure::of(profile, sample_type);
    let drawn = total_of(&summary.folded);
    let folded = if config.full_stacks {
        summary.folded
    } else {
        collapse_plumbing(&summary.folded)
    };
    let title = config.title.clone().unwrap_or_else(|| {
        format!(
            "{} · {}",
            default_title(profile, config.service.as_deref()),
            measure.amount(drawn as f64)
        )
    });
    let mut detail = format!(
        "{}: {} in {} samples",
        sample_type.name,
        measure.amount(drawn as f64),
        summary.sample_count,
    );
    detail.push_str(plumbing_note(config.full_stacks));
    let mut options = base_options(profile.kind, &title, &detail);
    // `folded` is a BTreeMap, so the lines are already in the order inferno would sort them
    // into (stacks sharing a prefix are adjacent): skip its sort, and build one buffer rather
    // than a String per line.
    options.no_sort = true;
    let mut text = String::with_capacity(folded.keys().map(|k| k.len() + 22).sum());
    for (stack, value) in &folded {
        text.push_str(stack);
        text.push(' ');
        text.push_str(&value.to_string());
        text.push('\n');
    }
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut options, text.lines(), &mut svg)
        .map_err(|e| Error::Render(e.to_string()))?;
    Ok(rewrite_hover(&svg, drawn, &measure, false))
}

/// Renders a differential flamegraph with the default [`DiffConfig`] (absolute change,
/// plumbing collapsed) and `title`.
pub fn render_diff(
    base: &Profile,
    base_index: usize,
    new: &Profile,
    new_index: usize,
    title: &str,
) -> Result<Vec<u8>, Error> {
    let config = DiffConfig {
        title: title.to_owned(),
        ..DiffConfig::default()
    };
    render_diff_with(base, base_index, new, new_index, &config)
}

/// Renders a differential flamegraph: frame widths from `new`, colour from the change since
/// `base` (red grew, blue shrank). By default the change is absolute; with
/// [`DiffConfig::normalize`] the base is first scaled to the new total.
pub fn render_diff_with(
    base: &Profile,
    base_index: usize,
    new: &Profile,
    new_index: usize,
    config: &DiffConfig,
) -> Result<Vec<u8>, Error> {
    let base_summary = StackSummary::new(base, base_index);
    let new_summary = StackSummary::new(new, new_index);
    let sample_type = &new.sample_types[new_index.min(new.sample_types.len() - 1)];
    if base_summary.folded.is_empty() || new_summary.folded.is_empty() {
        return Err(Error::Empty {
            sample_type: sample_type.name.clone(),
        });
    }
    let measure = Measure::of(new, sample_type);
    let (base_folded, new_folded) = if config.full_stacks {
        (base_summary.folded, new_summary.folded)
    } else {
        (
            collapse_plumbing(&base_summary.folded),
            collapse_plumbing(&new_summary.folded),
        )
    };
    let (base_total, new_total) = (total_of(&base_folded), total_of(&new_folded));
    let before = folded_text(&base_folded);
    let after = folded_text(&new_folded);
    let mut merged = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: config.normalize,
            strip_hex: false,
        },
        before.as_bytes(),
        after.as_bytes(),
        &mut merged,
    )
    .map_err(|e| Error::Render(e.to_string()))?;
    let mut lines: Vec<String> = merged.lines().collect::<Result<_, _>>()?;
    lines.sort();
    let change = new_total as f64 - base_total as f64;
    let mode = if config.normalize {
        "NORMALISED (base scaled to new total; colour = change of share)"
    } else {
        "absolute change"
    };
    let mut detail = format!(
        "{mode} · base {}, new {} ({})",
        measure.amount(base_total as f64),
        measure.amount(new_total as f64),
        measure.signed_amount(change),
    );
    detail.push_str(plumbing_note(config.full_stacks));
    let title = if config.normalize && !config.title.contains("normalised") {
        format!("{} (normalised)", config.title)
    } else {
        config.title.clone()
    };
    let mut options = base_options(new.kind, &title, &detail);
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
        .map_err(|e| Error::Render(e.to_string()))?;
    Ok(rewrite_hover(&svg, new_total, &measure, true))
}

/// `CPU profile · trading-api · 30s`, or `heap profile · snapshot` when unnamed.
pub fn default_title(profile: &Profile, service: Option<&str>) -> String {
    let mut title = match profile.kind {
        ProfileKind::Cpu => "CPU profile".to_owned(),
        kind => format!("{} profile", kind.as_str()),
    };
    if let Some(service) = service {
        title.push_str(" · ");
        title.push_str(service);
    }
    title.push_str(" · ");
    match profile.duration {
        Some(d) => title.push_str(&format!("{:.1}s", d.as_secs_f64())),
        None => title.push_str("snapshot"),
    }
    title
}

/// True for frames that only carry a call to the application: the async runtime's task
/// harness and scheduler, `Future::poll` combinator chains, hyper/axum/tower service layers,
/// closure-call shims, thread start and `catch_unwind` wrappers. Decided by name prefix (and the
/// `as Future>::poll` suffix), so an application function never matches by accident.
pub fn is_plumbing(frame: &str) -> bool {
    const PREFIXES: &[&str] = &[
        // tokio: task harness, scheduler, context, blocking pool.
        "tokio::runtime::task::",
        "<tokio::runtime::task::",
        "tokio::runtime::scheduler::",
        "<tokio::runtime::scheduler::",
        "tokio::runtime::context::",
        "tokio::runtime::runtime::",
        "tokio::runtime::park::",
        "tokio::runtime::coop::",
        "tokio::runtime::blocking::pool::",
        "<tokio::runtime::blocking::",
        "tokio::loom::",
        "tokio::task::",
        "<tokio::task::",
        // hyper / axum / tower / futures: connection dispatch, routing and middleware layers.
        "hyper::proto::h1::dispatch::",
        "<hyper::proto::h1::dispatch::",
        "hyper::server::conn::",
        "<hyper::server::conn::",
        "hyper_util::server::",
        "<hyper_util::server::",
        "<hyper_util::service::",
        "axum::serve::",
        "<axum::serve::",
        "axum::routing::",
        "<axum::routing::",
        "axum::middleware::from_fn::",
        "<axum::middleware::from_fn::",
        "<axum::util::",
        "<axum::handler::future::",
        "<axum::error_handling::",
        "<F as axum::handler::Handler",
        "<tower::",
        "tower::util::",
        "<tower_http::",
        "<futures_util::future::",
        "<F as futures_core::future::TryFuture>",
        "<core::future::poll_fn::",
        // Closure shims, thread start, panic boundaries.
        "core::ops::function::",
        "<alloc::boxed::Box<dyn core::ops::function::",
        "<core::panic::unwind_safe::AssertUnwindSafe",
        "std::panicking::",
        "std::panic::catch_unwind",
        "std::thread::",
        "std::sys::backtrace::",
        "<std::sys::thread::",
        "std::sys::pal::unix::thread::",
        "<std::sys::pal::unix::thread::",
    ];
    const EXACT: &[&str] = &["start_thread", "clone3", "__clone3", "__clone", "clone"];
    frame.ends_with(" as core::future::future::Future>::poll")
        || PREFIXES.iter().any(|p| frame.starts_with(p))
        || EXACT.contains(&frame)
}

/// Collapses runtime plumbing in folded stacks (see the module header): the leading run becomes
/// [`PLUMBING_FRAME`], runs between application frames are dropped, the leaf is always kept, and
/// when nothing of the application is left the frame that called the leaf stays for context.
pub fn collapse_plumbing(folded: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    let mut kept: Vec<&str> = Vec::new();
    for (stack, &value) in folded {
        let frames: Vec<&str> = stack.split(';').collect();
        let leaf = frames.len() - 1;
        kept.clear();
        let mut application = false;
        for (i, frame) in frames.iter().enumerate() {
            if i < leaf && is_plumbing(frame) {
                if i == 0 {
                    kept.push(PLUMBING_FRAME);
                }
                continue;
            }
            application |= i < leaf;
            kept.push(frame);
        }
        if !application && leaf >= 1 && is_plumbing(frames[leaf - 1]) {
            kept.insert(kept.len() - 1, frames[leaf - 1]);
        }
        *out.entry(kept.join(";")).or_default() += value;
    }
    out
}

fn plumbing_note(full_stacks: bool) -> &'static str {
    if full_stacks {
        " · all frames"
    } else {
        " · runtime plumbing collapsed"
    }
}

fn total_of(folded: &BTreeMap<String, u64>) -> u64 {
    folded.values().sum()
}

fn folded_text(folded: &BTreeMap<String, u64>) -> String {
    let mut text = String::new();
    for (stack, value) in folded {
        text.push_str(stack);
        text.push(' ');
        text.push_str(&value.to_string());
        text.push('\n');
    }
    text
}

/// How one sample type reads to a person: `1.23 s CPU`, `4.5 MB in use`, `12 goroutines`.
#[derive(Debug, Clone)]
struct Measure {
    unit: String,
    /// What the amount is of (`CPU`, `waiting`, `allocated`, …), after the number.
    word: &'static str,
    /// Value of one sample, for CPU profiles whose values are `samples × period`.
    per_sample: Option<f64>,
}

impl Measure {
    fn of(profile: &Profile, sample_type: &SampleType) -> Self {
        let word = match sample_type.name.as_str() {
            "cpu" => "CPU",
            "delay" => "waiting",
            "inuse_space" => "in use",
            "alloc_space" => "allocated",
            "inuse_objects" => "objects in use",
            "alloc_objects" => "objects allocated",
            "contentions" => "contentions",
            "goroutine" | "goroutines" => "goroutines",
            "threadcreate" => "threads",
            "samples" => "samples",
            _ => "",
        };
        let per_sample = (profile.kind == ProfileKind::Cpu
            && sample_type.unit == "nanoseconds"
            && profile.period > 0)
            .then_some(profile.period as f64);
        Self {
            unit: sample_type.unit.clone(),
            word,
            per_sample,
        }
    }

    fn number(&self, value: f64) -> String {
        let abs = value.abs();
        match self.unit.as_str() {
            "nanoseconds" => {
                if abs >= 1e9 {
                    format!("{:.2} s", value / 1e9)
                } else if abs >= 1e6 {
                    format!("{:.1} ms", value / 1e6)
                } else if abs >= 1e3 {
                    format!("{:.1} µs", value / 1e3)
                } else {
                    format!("{value:.0} ns")
                }
            }
            "bytes" => {
                const K: f64 = 1024.0;
                if abs >= K * K * K {
                    format!("{:.2} GB", value / (K * K * K))
                } else if abs >= K * K {
                    format!("{:.1} MB", value / (K * K))
                } else if abs >= K {
                    format!("{:.1} kB", value / K)
                } else {
                    format!("{value:.0} B")
                }
            }
            _ => crate::profile::group_digits(value.round() as i64),
        }
    }

    fn amount(&self, value: f64) -> String {
        let number = self.number(value);
        if self.word.is_empty() {
            number
        } else {
            format!("{number} {}", self.word)
        }
    }

    fn signed_amount(&self, value: f64) -> String {
        if value == 0.0 {
            return "unchanged".to_owned();
        }
        let amount = self.amount(value);
        if value >= 0.0 {
            format!("+{amount}")
        } else {
            amount
        }
    }
}

/// Rewrites inferno's hover titles, `name (1,234 units, 5.00%)` or with `; +1.00%` for a diff,
/// into `name (1.23 s CPU · 5.00% · 122 samples)` (and `· +0.40 s CPU since base`). The text
/// stays in one trailing parenthesis, which inferno's script strips to get the frame's name.
fn rewrite_hover(svg: &[u8], total: u64, measure: &Measure, differential: bool) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(svg) else {
        return svg.to_vec();
    };
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut rest = text;
    while let Some(start) = rest.find("<title>") {
        let body_start = start + "<title>".len();
        let Some(len) = rest[body_start..].find("</title>") else {
            break;
        };
        out.push_str(&rest[..body_start]);
        let body = &rest[body_start..body_start + len];
        match hover_text(body, total, measure, differential) {
            Some(new) => out.push_str(&new),
            None => out.push_str(body),
        }
        rest = &rest[body_start + len..];
    }
    out.push_str(rest);
    out.into_bytes()
}

fn hover_text(body: &str, total: u64, measure: &Measure, differential: bool) -> Option<String> {
    let open = body.rfind(" (")?;
    let (name, tail) = (&body[..open], body[open + 2..].strip_suffix(')')?);
    let (value, rest) = tail.split_once(' ')?;
    let value: f64 = value.replace(',', "").parse().ok()?;
    let (_, percents) = rest.split_once(", ")?;
    let (share, delta) = match percents.split_once("; ") {
        Some((share, delta)) => (share, Some(delta)),
        None => (percents, None),
    };
    let mut text = format!("{name} ({} · {share}", measure.amount(value));
    if let Some(per_sample) = measure.per_sample {
        let samples = (value / per_sample).round() as i64;
        let word = if samples == 1 { "sample" } else { "samples" };
        text.push_str(&format!(
            " · {} {word}",
            crate::profile::group_digits(samples)
        ));
    }
    if differential {
        if let Some(delta) = delta {
            let points: f64 = delta.trim_end_matches('%').parse().ok()?;
            let change = points / 100.0 * total as f64;
            text.push_str(&format!(" · {} since base", measure.signed_amount(change)));
        }
    }
    text.push(')');
    Some(text)
}

/// Splits a title that would be clipped: the head stays the title, the tail opens the subtitle.
fn fit_title(title: &str, detail: &str) -> (String, String) {
    let mut head = title.to_owned();
    let mut tail = String::new();
    while head.chars().count() > TITLE_MAX_CHARS {
        match head.rfind(" · ") {
            Some(cut) if cut > 0 => {
                let moved = head[cut + " · ".len()..].to_owned();
                tail = if tail.is_empty() {
                    moved
                } else {
                    format!("{moved} · {tail}")
                };
                head.truncate(cut);
            }
            _ => {
                let keep: String = head.chars().take(TITLE_MAX_CHARS - 1).collect();
                head = format!("{keep}…");
            }
        }
    }
    // The detail (mode, totals) matters more than the tail of a long title: the tail is what
    // gets shortened, in its middle, so both of its ends stay readable.
    let subtitle = if tail.is_empty() {
        shorten_middle(detail, SUBTITLE_MAX_CHARS)
    } else {
        let room = SUBTITLE_MAX_CHARS
            .saturating_sub(detail.chars().count() + 3)
            .max(24);
        let subtitle = format!("{} · {detail}", shorten_middle(&tail, room));
        shorten_middle(&subtitle, SUBTITLE_MAX_CHARS)
    };
    (head, subtitle)
}

/// Cuts the middle out of `text` so it is at most `max` characters.
fn shorten_middle(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_owned();
    }
    let half = (max - 1) / 2;
    let head: String = chars[..half].iter().collect();
    let tail: String = chars[chars.len() - (max - 1 - half)..].iter().collect();
    format!("{head}…{tail}")
}

fn base_options(kind: ProfileKind, title: &str, detail: &str) -> Options<'static> {
    let (title, subtitle) = fit_title(title, detail);
    let mut options = Options::default();
    options.title = title;
    options.subtitle = Some(subtitle);
    // A token our hover rewrite recognises; it never reaches the reader.
    options.count_name = "units".to_owned();
    options.colors = Palette::Basic(match kind {
        ProfileKind::Cpu | ProfileKind::Other => BasicPalette::Hot,
        ProfileKind::Heap | ProfileKind::Allocs => BasicPalette::Mem,
        ProfileKind::Mutex | ProfileKind::Block => BasicPalette::Io,
        ProfileKind::Goroutine | ProfileKind::Threadcreate => BasicPalette::Aqua,
    });
    // Same function, same colour, across captures: makes before/after SVGs comparable by eye.
    options.hash = true;
    options.name_type = "Function:".to_owned();
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(lines: &[(&str, u64)]) -> BTreeMap<String, u64> {
        lines.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect()
    }

    #[test]
    fn plumbing_collapses_to_one_root_frame_and_keeps_the_leaf() {
        let input = folded(&[
            (
                "<std::sys::thread::unix::Thread>::new::thread_start;std::panicking::catch_unwind;\
                 tokio::runtime::task::harness::poll;<hyper::proto::h1::dispatch::Dispatcher<D> as core::future::future::Future>::poll;\
                 trading_api::api::submit_order::{{closure}};<tower::timeout::ResponseFuture<F> as core::future::future::Future>::poll;\
                 trading_api::venue::Venue::execute;memcpy",
                5,
            ),
            (
                "<std::sys::thread::unix::Thread>::new::thread_start;tokio::runtime::scheduler::multi_thread::worker::run;\
                 tokio::runtime::scheduler::multi_thread::worker::Context::park;epoll_wait",
                3,
            ),
        ]);
        let out = collapse_plumbing(&input);
        let lines: Vec<_> = out.iter().collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(out.contains_key(
            "[runtime plumbing];trading_api::api::submit_order::{{closure}};trading_api::venue::Venue::execute;memcpy"
        ), "{out:?}");
        // Only runtime frames: the leaf and the runtime frame that called it stay.
        assert!(out.contains_key(
            "[runtime plumbing];tokio::runtime::scheduler::multi_thread::worker::Context::park;epoll_wait"
        ), "{out:?}");
        assert_eq!(out.values().sum::<u64>(), 8, "no value is lost");
    }

    #[test]
    fn application_frames_are_not_plumbing() {
        for name in [
            "trading_api::venue::Venue::execute",
            "chaos::scenarios::cpu_burn::spin",
            "tokio::runtime::io::driver::Driver::turn",
            "serde_json::de::from_str",
            "hyper::proto::h1::role::Server::parse",
            "runtime.mallocgc",
        ] {
            assert!(!is_plumbing(name), "{name}");
        }
    }

    #[test]
    fn hover_text_reads_in_units_samples_and_percent() {
        let cpu = Measure {
            unit: "nanoseconds".into(),
            word: "CPU",
            per_sample: Some(10_101_010.0),
        };
        assert_eq!(
            hover_text(
                "Venue::execute (1,232,323,220 units, 4.10%)",
                0,
                &cpu,
                false
            )
            .as_deref(),
            Some("Venue::execute (1.23 s CPU · 4.10% · 122 samples)")
        );
        assert_eq!(
            hover_text(
                "f (a) (50,505,050 units, 50.00%; +25.00%)",
                1_000_000_000,
                &cpu,
                true
            )
            .as_deref(),
            Some("f (a) (50.5 ms CPU · 50.00% · 5 samples · +250.0 ms CPU since base)")
        );
        let heap = Measure {
            unit: "bytes".into(),
            word: "in use",
            per_sample: None,
        };
        assert_eq!(
            hover_text("all (3,145,728 units, 100%)", 0, &heap, false).as_deref(),
            Some("all (3.0 MB in use · 100%)")
        );
    }

    #[test]
    fn long_titles_move_their_tail_into_the_subtitle() {
        let title = format!(
            "Differential CPU profile · trading-api · {} → {}",
            "x".repeat(50),
            "y".repeat(50)
        );
        let (head, sub) = fit_title(&title, "absolute change");
        assert_eq!(head, "Differential CPU profile · trading-api");
        assert!(sub.starts_with("xxxx"), "{sub}");
        assert!(sub.ends_with("absolute change"), "{sub}");
        assert!(sub.chars().count() <= SUBTITLE_MAX_CHARS);
    }
}
