//! From a decoded [`Profile`] and one sample type to the two views everything else uses:
//! folded stacks (`root;caller;leaf value`, what inferno draws) and per-function flat and
//! cumulative values (what `go tool pprof -top` prints).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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
        // Frames are dense indices into `frame_names`, so per-frame tallies are vectors, not
        // hash maps: hashing was a tenth of `simex flamegraph` on a 50,000-stack profile.
        let frame_count = profile
            .stacks
            .iter()
            .flat_map(|s| s.frames.iter())
            .map(|&f| f as usize + 1)
            .max()
            .unwrap_or(0)
            .max(profile.frame_names.len());
        let mut flat = vec![0i64; frame_count];
        let mut cum = vec![0i64; frame_count];
        let mut present = vec![false; frame_count];
        // The last stack that counted a frame's cum: recursion counts once per stack.
        let mut counted_in = vec![usize::MAX; frame_count];
        let names = folded_names(profile, frame_count);
        let mut folded: BTreeMap<String, u64> = BTreeMap::new();
        let mut total = 0i64;
        let mut sample_count = 0usize;
        for (n, stack) in profile.stacks.iter().enumerate() {
            let value = stack.values.get(index).copied().unwrap_or(0);
            total += value;
            if value == 0 {
                continue;
            }
            sample_count += 1;
            if let Some(&leaf) = stack.frames.last() {
                flat[leaf as usize] += value;
            }
            for &frame in &stack.frames {
                let f = frame as usize;
                present[f] = true;
                if counted_in[f] != n {
                    counted_in[f] = n;
                    cum[f] += value;
                }
            }
            if let Ok(positive) = u64::try_from(value) {
                let line = fold(&names, &stack.frames);
                *folded.entry(line).or_default() += positive;
            }
        }
        let mut functions: Vec<FunctionStat> = (0..frame_count)
            .filter(|&f| present[f])
            .map(|f| FunctionStat {
                name: profile.frame_name(f as u32).to_owned(),
                flat: flat[f],
                cum: cum[f],
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

/// Every frame's name made safe for the folded format (no `;`, no newlines), computed once per
/// frame rather than once per stack it appears in.
fn folded_names(profile: &Profile, frame_count: usize) -> Vec<Cow<'_, str>> {
    (0..frame_count)
        .map(|f| {
            let name = profile.frame_name(f as u32);
            if name.contains([';', '\n', '\r', '\t']) {
                Cow::Owned(
                    name.chars()
                        .map(|c| match c {
                            ';' => ':',
                            '\n' | '\r' | '\t' => ' ',
                            c => c,
                        })
                        .collect(),
                )
            } else {
                Cow::Borrowed(name)
            }
        })
        .collect()
}

/// Joins frames root-first with `;`.
fn fold(names: &[Cow<'_, str>], frames: &[u32]) -> String {
    if frames.is_empty() {
        return "[no stack]".to_owned();
    }
    let len = frames.iter().map(|&f| names[f as usize].len() + 1).sum();
    let mut line = String::with_capacity(len);
    for (i, &frame) in frames.iter().enumerate() {
        if i > 0 {
            line.push(';');
        }
        line.push_str(&names[frame as usize]);
    }
    line
}
