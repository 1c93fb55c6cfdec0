//! From a decoded [`Profile`] and one sample type to the two views everything else uses:
//! folded stacks (`root;caller;leaf value`, what inferno draws) and per-function flat and
//! cumulative values (what `go tool pprof -top` prints).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::profile::Profile;

/// One function's share of a profile.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FunctionStat {
    /// The function (frame) name.
    pub name: String,
    /// Value spent in the function itself (it is the leaf).
    pub flat: i64,
    /// Value spent in the function and everything it calls (counted once per sample even when
    /// the function recurses).
    pub cum: i64,
}

/// A profile reduced to one sample type.
#[derive(Debug, Clone)]
pub struct StackSummary {
    /// Sum of the sample type over all samples.
    pub total: i64,
    /// Number of samples with a non-zero value.
    pub sample_count: usize,
    /// Folded stacks, sorted (inferno's `from_lines` requires sorted input), values summed.
    pub folded: BTreeMap<String, u64>,
    /// Per-function values, sorted by flat then cum, descending.
    pub functions: Vec<FunctionStat>,
}

impl StackSummary {
    /// Builds folded stacks and per-function values for the sample type at `index`.
    ///
    /// Zero and negative values are left out of the folded stacks: a flamegraph cannot draw
    /// them, and Go only writes negatives in `-base` diffs, which we compute ourselves.
    pub fn new(profile: &Profile, index: usize) -> Self {
        let mut folded: BTreeMap<String, u64> = BTreeMap::new();
        let mut flat: HashMap<u32, i64> = HashMap::new();
        let mut cum: HashMap<u32, i64> = HashMap::new();
        let mut total = 0i64;
        let mut sample_count = 0usize;
        let mut seen = HashSet::new();
        for stack in &profile.stacks {
            let value = stack.values.get(index).copied().unwrap_or(0);
            total += value;
            if value == 0 {
                continue;
            }
            sample_count += 1;
            if let Some(&leaf) = stack.frames.last() {
                *flat.entry(leaf).or_default() += value;
            }
            seen.clear();
            for &frame in &stack.frames {
                if seen.insert(frame) {
                    *cum.entry(frame).or_default() += value;
                }
            }
            if let Ok(positive) = u64::try_from(value) {
                let line = fold(profile, &stack.frames);
                *folded.entry(line).or_default() += positive;
            }
        }
        let mut functions: Vec<FunctionStat> = cum
            .iter()
            .map(|(&frame, &cum)| FunctionStat {
                name: profile.frame_name(frame).to_owned(),
                flat: flat.get(&frame).copied().unwrap_or(0),
                cum,
            })
            .collect();
        functions.sort_by(|a, b| {
            b.flat
                .cmp(&a.flat)
                .then(b.cum.cmp(&a.cum))
                .then(a.name.cmp(&b.name))
        });
        Self {
            total,
            sample_count,
            folded,
            functions,
        }
    }

    /// The folded stacks as text lines, ready for inferno.
    pub fn folded_lines(&self) -> Vec<String> {
        self.folded
            .iter()
            .map(|(stack, value)| format!("{stack} {value}"))
            .collect()
    }

    /// Flat value per function name.
    pub fn flat_by_name(&self) -> HashMap<&str, i64> {
        self.functions
            .iter()
            .map(|f| (f.name.as_str(), f.flat))
            .collect()
    }
}

/// Joins frames root-first with `;`, making names safe for the folded format (no `;`, no
/// newlines, and no trailing number that inferno would mistake for the count).
fn fold(profile: &Profile, frames: &[u32]) -> String {
    if frames.is_empty() {
        return "[no stack]".to_owned();
    }
    let mut line = String::new();
    for (i, &frame) in frames.iter().enumerate() {
        if i > 0 {
            line.push(';');
        }
        let name = profile.frame_name(frame);
        for c in name.chars() {
            line.push(match c {
                ';' => ':',
                '\n' | '\r' | '\t' => ' ',
                c => c,
            });
        }
    }
    line
}
