//! Interactive SVG flamegraphs drawn by inferno (used as a library): one profile, or the
//! differential of two.
//!
//! inferno's embedded script gives click-to-zoom, search (Ctrl+F, or `?s=term` in the URL) and a
//! hover line with name, value, unit and percent; we choose the title, unit word and palette.

use std::io::BufRead;

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Options};

use crate::profile::{format_value, Profile, ProfileKind};
use crate::stacks::StackSummary;
use crate::Error;

/// What to put on a flamegraph besides the stacks.
#[derive(Debug, Clone, Default)]
pub struct FlamegraphConfig {
    /// Overrides the generated title.
    pub title: Option<String>,
    /// The service the profile came from, shown in the title.
    pub service: Option<String>,
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
    let title = config.title.clone().unwrap_or_else(|| {
        format!(
            "{} · total {}",
            default_title(profile, config.service.as_deref()),
            format_value(summary.total as f64, &sample_type.unit)
        )
    });
    let mut options = base_options(profile.kind, title, sample_type.count_name().to_owned());
    options.subtitle = Some(format!(
        "{}: total {} ({} {}) in {} samples",
        sample_type.name,
        format_value(summary.total as f64, &sample_type.unit),
        summary.total,
        sample_type.count_name(),
        summary.sample_count,
    ));
    // `folded` is a BTreeMap, so the lines are already in the order inferno would sort them
    // into (stacks sharing a prefix are adjacent): skip its sort, and build one buffer rather
    // than a String per line.
    options.no_sort = true;
    let mut text = String::with_capacity(summary.folded.keys().map(|k| k.len() + 22).sum());
    for (stack, value) in &summary.folded {
        text.push_str(stack);
        text.push(' ');
        text.push_str(&value.to_string());
        text.push('\n');
    }
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut options, text.lines(), &mut svg)
        .map_err(|e| Error::Render(e.to_string()))?;
    Ok(svg)
}

/// Renders a differential flamegraph: frame widths from `new`, colour from the change since
/// `base` (red grew, blue shrank), with `base` scaled to `new`'s total so a change in load does
/// not paint everything one colour.
pub fn render_diff(
    base: &Profile,
    base_index: usize,
    new: &Profile,
    new_index: usize,
    title: &str,
) -> Result<Vec<u8>, Error> {
    let base_summary = StackSummary::new(base, base_index);
    let new_summary = StackSummary::new(new, new_index);
    let sample_type = &new.sample_types[new_index.min(new.sample_types.len() - 1)];
    if base_summary.folded.is_empty() || new_summary.folded.is_empty() {
        return Err(Error::Empty {
            sample_type: sample_type.name.clone(),
        });
    }
    let before = base_summary.folded_lines().join("\n");
    let after = new_summary.folded_lines().join("\n");
    let mut merged = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: true,
            strip_hex: false,
        },
        before.as_bytes(),
        after.as_bytes(),
        &mut merged,
    )
    .map_err(|e| Error::Render(e.to_string()))?;
    let mut lines: Vec<String> = merged.lines().collect::<Result<_, _>>()?;
    lines.sort();
    let mut options = base_options(
        new.kind,
        title.to_owned(),
        sample_type.count_name().to_owned(),
    );
    options.subtitle = Some(format!(
        "{}: base total {}, new total {}; red grew, blue shrank (base normalized to new total)",
        sample_type.name,
        format_value(base_summary.total as f64, &sample_type.unit),
        format_value(new_summary.total as f64, &sample_type.unit),
    ));
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
        .map_err(|e| Error::Render(e.to_string()))?;
    Ok(svg)
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

fn base_options(kind: ProfileKind, title: String, count_name: String) -> Options<'static> {
    let mut options = Options::default();
    options.title = title;
    options.count_name = count_name;
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
