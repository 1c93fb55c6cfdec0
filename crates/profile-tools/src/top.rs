//! Top-N text in the layout of `go tool pprof -top`: flat, flat%, running sum%, cum, cum%.

use std::fmt::Write as _;

use crate::profile::{format_value, Profile};
use crate::stacks::StackSummary;

/// Formats the `n` functions with the largest flat value of the sample type at `index`.
pub fn top_text(profile: &Profile, index: usize, n: usize) -> String {
    let sample_type = &profile.sample_types[index.min(profile.sample_types.len() - 1)];
    let unit = sample_type.unit.as_str();
    let summary = StackSummary::new(profile, index);
    let total = summary.total;
    let pct = |v: i64| {
        if total == 0 {
            0.0
        } else {
            100.0 * v as f64 / total as f64
        }
    };
    let shown: Vec<_> = summary.functions.iter().take(n).collect();
    let shown_flat: i64 = shown.iter().map(|f| f.flat).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Type: {} ({})",
        sample_type.name,
        sample_type.count_name()
    );
    if let Some(d) = profile.duration {
        let _ = writeln!(out, "Duration: {:.2}s", d.as_secs_f64());
    }
    let _ = writeln!(
        out,
        "Showing top {} of {} functions, accounting for {}, {:.2}% of {} total",
        shown.len(),
        summary.functions.len(),
        format_value(shown_flat as f64, unit),
        pct(shown_flat),
        format_value(total as f64, unit)
    );
    let _ = writeln!(
        out,
        "{:>10} {:>7} {:>7} {:>10} {:>7}  function",
        "flat", "flat%", "sum%", "cum", "cum%"
    );
    let mut running = 0i64;
    for f in shown {
        running += f.flat;
        let _ = writeln!(
            out,
            "{:>10} {:>6.2}% {:>6.2}% {:>10} {:>6.2}%  {}",
            format_value(f.flat as f64, unit),
            pct(f.flat),
            pct(running),
            format_value(f.cum as f64, unit),
            pct(f.cum),
            f.name
        );
    }
    out
}
