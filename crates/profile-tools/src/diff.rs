//! Before/after comparison of two profiles: per-function flat share, normalised to each
//! profile's total so a longer or busier capture does not look like a regression everywhere.

use std::collections::BTreeSet;

use crate::profile::format_value;
use crate::stacks::StackSummary;

/// Changes smaller than this many percentage points are noise, not findings.
pub const SIGNIFICANT_POINTS: f64 = 0.1;

/// How one function's share moved.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FunctionDelta {
    /// The function.
    pub name: String,
    /// Flat share of the base profile's total, in percent.
    pub base_percent: f64,
    /// Flat share of the new profile's total, in percent.
    pub new_percent: f64,
    /// `new_percent - base_percent`, in percentage points (positive: regression).
    pub delta_points: f64,
    /// The change in the new profile's units: `new_flat - base_flat * new_total / base_total`.
    pub delta_value: f64,
}

/// The result of comparing two profiles.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Total of the base profile.
    pub base_total: i64,
    /// Total of the new profile.
    pub new_total: i64,
    /// Unit of both totals.
    pub unit: String,
    /// Functions whose share grew by at least [`SIGNIFICANT_POINTS`], largest first.
    pub regressions: Vec<FunctionDelta>,
    /// Functions whose share shrank by at least [`SIGNIFICANT_POINTS`], largest first.
    pub improvements: Vec<FunctionDelta>,
}

impl Comparison {
    /// Compares flat shares, keeping the `limit` largest changes each way.
    pub fn new(base: &StackSummary, new: &StackSummary, unit: &str, limit: usize) -> Self {
        let base_flat = base.flat_by_name();
        let new_flat = new.flat_by_name();
        let names: BTreeSet<&str> = base_flat.keys().chain(new_flat.keys()).copied().collect();
        let share = |v: i64, total: i64| {
            if total == 0 {
                0.0
            } else {
                100.0 * v as f64 / total as f64
            }
        };
        let scale = if base.total == 0 {
            0.0
        } else {
            new.total as f64 / base.total as f64
        };
        let mut deltas: Vec<FunctionDelta> = names
            .into_iter()
            .map(|name| {
                let b = base_flat.get(name).copied().unwrap_or(0);
                let n = new_flat.get(name).copied().unwrap_or(0);
                let base_percent = share(b, base.total);
                let new_percent = share(n, new.total);
                FunctionDelta {
                    name: name.to_owned(),
                    base_percent,
                    new_percent,
                    delta_points: new_percent - base_percent,
                    delta_value: n as f64 - b as f64 * scale,
                }
            })
            .filter(|d| d.delta_points.abs() >= SIGNIFICANT_POINTS)
            .collect();
        deltas.sort_by(|a, b| {
            b.delta_points
                .abs()
                .total_cmp(&a.delta_points.abs())
                .then_with(|| a.name.cmp(&b.name))
        });
        let (mut regressions, mut improvements): (Vec<_>, Vec<_>) =
            deltas.into_iter().partition(|d| d.delta_points > 0.0);
        regressions.truncate(limit);
        improvements.truncate(limit);
        Self {
            base_total: base.total,
            new_total: new.total,
            unit: unit.to_owned(),
            regressions,
            improvements,
        }
    }

    /// True when no function's share moved by a significant amount.
    pub fn is_unchanged(&self) -> bool {
        self.regressions.is_empty() && self.improvements.is_empty()
    }

    /// Plain-text listing for the terminal and the `diff_….txt` file.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "base total {}, new total {} ({})\n",
            format_value(self.base_total as f64, &self.unit),
            format_value(self.new_total as f64, &self.unit),
            total_change(self.base_total, self.new_total),
        );
        if self.is_unchanged() {
            out.push_str(&format!(
                "No change: no function's share moved by {SIGNIFICANT_POINTS} percentage points or more.\n"
            ));
            return out;
        }
        for (title, list) in [
            ("Largest regressions (share grew)", &self.regressions),
            ("Largest improvements (share shrank)", &self.improvements),
        ] {
            out.push_str(&format!("\n{title}:\n"));
            if list.is_empty() {
                out.push_str("  (none)\n");
            }
            for d in list {
                out.push_str(&format!(
                    "  {:+7.2} pp  {:6.2}% -> {:6.2}%  {:>12}  {}\n",
                    d.delta_points,
                    d.base_percent,
                    d.new_percent,
                    signed(format_value(d.delta_value, &self.unit), d.delta_value),
                    d.name
                ));
            }
        }
        out
    }
}

fn signed(text: String, value: f64) -> String {
    if value >= 0.0 && !text.starts_with('-') {
        format!("+{text}")
    } else {
        text
    }
}

fn total_change(base: i64, new: i64) -> String {
    if base == 0 {
        return "base is empty".to_owned();
    }
    format!("{:+.1}%", 100.0 * (new as f64 - base as f64) / base as f64)
}
