//! [`RawProfile`]: what every collector (CPU, heap, goroutine, mutex, block, threadcreate)
//! returns before symbolisation, so deltas (`?seconds=N`), protobuf and Go's `debug=1` text
//! formats are written once for all of them.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::proto::{now_nanos, Profile, ProfileBuilder};
use crate::symbolize::{symbolize_stack, TrimFn};

/// Identity of a sample: its stack and labels.
type SampleKey = (Vec<usize>, Vec<(String, String)>);

/// How the `debug=1` text form of a profile looks; Go has one layout per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextLayout {
    /// `heap profile: a: b [c: d] @ heap/R`, then `a: b [c: d] @ pcs` per record.
    Heap,
    /// `<name> profile: total N`, then `count @ pcs` per record (goroutine, threadcreate).
    Count,
    /// `--- <name>:` / `cycles/second=` header, then `cycles count @ pcs` (mutex, block).
    Contention,
}

/// One sample before symbolisation.
#[derive(Clone, Debug)]
pub struct RawSample {
    /// Addresses, innermost first.
    pub stack: Vec<usize>,
    /// One value per sample type.
    pub values: Vec<i64>,
    /// Labels as (key, value).
    pub labels: Vec<(String, String)>,
}

/// A profile before symbolisation.
#[derive(Clone, Debug)]
pub struct RawProfile {
    /// Profile name as served (heap, mutex, ...).
    pub name: &'static str,
    /// Sample types as (type, unit), Go's names.
    pub sample_types: Vec<(&'static str, &'static str)>,
    /// Period type as (type, unit).
    pub period_type: (&'static str, &'static str),
    /// Sampling period.
    pub period: i64,
    /// Sample type pprof shows first, if not the last one.
    pub default_sample_type: Option<&'static str>,
    /// The samples, one per distinct stack (and labels).
    pub samples: Vec<RawSample>,
    /// Leading frames that are profiler/allocator/lock machinery.
    pub trim: Option<TrimFn>,
    /// Text layout for `debug=1`.
    pub layout: TextLayout,
    /// Collection time, nanoseconds since the epoch.
    pub time_nanos: i64,
    /// Collection duration (CPU and delta profiles).
    pub duration_nanos: i64,
    /// Comments carried into the profile (e.g. how it was collected).
    pub comments: Vec<String>,
    /// Heap profiles only: the sampled, unscaled counts per stack in Go's record order
    /// (inuse objects, inuse bytes, alloc objects, alloc bytes). `samples` hold the scaled
    /// estimates the protobuf needs; Go's `debug=1` text writes these raw counts instead, and
    /// scaling cannot be undone exactly (Go truncates the scaled object count).
    pub heap_sampled: HashMap<Vec<usize>, [i64; 4]>,
}

impl RawProfile {
    /// An empty profile stamped with the current time.
    pub fn new(
        name: &'static str,
        sample_types: Vec<(&'static str, &'static str)>,
        period_type: (&'static str, &'static str),
        period: i64,
        layout: TextLayout,
    ) -> Self {
        Self {
            name,
            sample_types,
            period_type,
            period,
            default_sample_type: None,
            samples: Vec::new(),
            trim: None,
            layout,
            time_nanos: now_nanos(),
            duration_nanos: 0,
            comments: Vec::new(),
            heap_sampled: HashMap::new(),
        }
    }

    /// `self - earlier` per stack, as Go's `serveDeltaProfile` computes it: samples whose values
    /// all become zero are dropped.
    pub fn delta(mut self, earlier: &RawProfile) -> RawProfile {
        let mut before: HashMap<SampleKey, &Vec<i64>> = HashMap::new();
        for s in &earlier.samples {
            before.insert((s.stack.clone(), s.labels.clone()), &s.values);
        }
        let mut seen: HashMap<SampleKey, ()> = HashMap::new();
        let mut out = Vec::with_capacity(self.samples.len());
        for mut s in self.samples.drain(..) {
            let key = (s.stack.clone(), s.labels.clone());
            if let Some(old) = before.get(&key) {
                for (v, o) in s.values.iter_mut().zip(old.iter()) {
                    *v -= *o;
                }
            }
            seen.insert(key, ());
            out.push(s);
        }
        // Stacks that disappeared contribute negative values (e.g. freed memory in `heap`).
        for s in &earlier.samples {
            if !seen.contains_key(&(s.stack.clone(), s.labels.clone())) {
                out.push(RawSample {
                    stack: s.stack.clone(),
                    values: s.values.iter().map(|v| -v).collect(),
                    labels: s.labels.clone(),
                });
            }
        }
        out.retain(|s| s.values.iter().any(|&v| v != 0));
        self.samples = out;
        self.duration_nanos = self.time_nanos - earlier.time_nanos;
        self
    }

    /// Symbolises and builds the protobuf profile.
    pub fn to_proto(&self) -> Profile {
        // Go writes contention profiles with period 1; our `period` there holds the mutex
        // fraction for the text header only.
        let period = if self.layout == TextLayout::Contention {
            1
        } else {
            self.period
        };
        let mut builder = ProfileBuilder::new(&self.sample_types, self.period_type, period);
        if let Some(ty) = self.default_sample_type {
            builder.default_sample_type(ty);
        }
        builder.timing(self.time_nanos, self.duration_nanos);
        for c in &self.comments {
            builder.comment(c);
        }
        for s in &self.samples {
            builder.add_sample(&s.stack, s.values.clone(), &s.labels, self.trim);
        }
        builder.build()
    }

    /// Go's `debug=1` text form.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut samples: Vec<&RawSample> = self.samples.iter().collect();
        match self.layout {
            TextLayout::Heap => {
                // Go's writeHeapInternal: per record the *sampled* counts, unscaled (pprof scales
                // them itself from the `heap/2*rate` header), records by inuse bytes, and a
                // `# runtime.MemStats` trailer, read first (as Go does) so that symbolising
                // this profile does not show in it.
                #[cfg(feature = "jemalloc")]
                let trailer = crate::jemalloc::memstats_text();
                let rate = self.period;
                let mut raw: Vec<([i64; 4], &RawSample)> = samples
                    .iter()
                    .map(|s| {
                        (
                            self.heap_sampled.get(&s.stack).copied().unwrap_or_default(),
                            *s,
                        )
                    })
                    .collect();
                raw.sort_by_key(|(v, _)| std::cmp::Reverse(v[1]));
                let total = raw.iter().fold([0i64; 4], |mut acc, (v, _)| {
                    for (a, x) in acc.iter_mut().zip(v) {
                        *a += x;
                    }
                    acc
                });
                // Go: pprof would read alloc == inuse as a 2-column profile; keep them apart.
                let alloc_bytes = if total[1] == total[3] {
                    total[3] + 1
                } else {
                    total[3]
                };
                let _ = writeln!(
                    out,
                    "heap profile: {}: {} [{}: {}] @ heap/{}",
                    total[0],
                    total[1],
                    total[2],
                    alloc_bytes,
                    2 * rate
                );
                for (v, s) in raw {
                    let _ = write!(out, "{}: {} [{}: {}] @", v[0], v[1], v[2], v[3]);
                    self.write_stack(&mut out, &s.stack);
                }
                #[cfg(feature = "jemalloc")]
                out.push_str(&trailer);
            }
            TextLayout::Count => {
                samples.sort_by_key(|s| std::cmp::Reverse(s.values.first().copied()));
                let total: i64 = samples.iter().filter_map(|s| s.values.first()).sum();
                let _ = writeln!(out, "{} profile: total {}", self.name, total);
                for s in samples {
                    let _ = write!(out, "{} @", s.values.first().copied().unwrap_or(0));
                    for (k, v) in &s.labels {
                        let _ = write!(out, " [{k}={v}]");
                    }
                    self.write_stack(&mut out, &s.stack);
                }
            }
            TextLayout::Contention => {
                // Go's writeProfileInternal: `--- mutex:` or `--- contention:` (the block
                // profile's legacy name), `cycles/second=`, for mutex `sampling period=`, then
                // `cycles count @ pcs` with the *recorded* values; the reader (pprof's
                // parseContention) multiplies by the sampling period itself. Our delays are
                // CLOCK_MONOTONIC nanoseconds, so one cycle is one nanosecond and the text's
                // totals equal the binary profile's exactly.
                samples.sort_by_key(|s| std::cmp::Reverse(s.values.get(1).copied()));
                let header = if self.name == "block" {
                    "contention"
                } else {
                    self.name
                };
                let _ = writeln!(out, "--- {header}:");
                let _ = writeln!(out, "cycles/second=1000000000");
                let divisor = if self.name == "mutex" {
                    let _ = writeln!(out, "sampling period={}", self.period);
                    self.period.max(1)
                } else {
                    1
                };
                for s in samples {
                    let v = |i: usize| s.values.get(i).copied().unwrap_or(0) / divisor;
                    let _ = write!(out, "{} {} @", v(1), v(0));
                    self.write_stack(&mut out, &s.stack);
                }
            }
        }
        out
    }

    /// ` 0x.. 0x..` then one `#\t0xpc\tfunc+0xoff\tfile:line` line per frame, then a blank line.
    fn write_stack(&self, out: &mut String, stack: &[usize]) {
        let entries = symbolize_stack(stack, self.trim);
        for e in &entries {
            let _ = write!(out, " {:#x}", e.ip);
        }
        out.push('\n');
        for e in &entries {
            for f in e.kept() {
                let offset = offset_in_function(e.ip, f.entry);
                let _ = writeln!(
                    out,
                    "#\t{:#x}\t{}+{:#x}\t{}:{}",
                    e.ip, f.function, offset, f.file, f.line
                );
            }
        }
        out.push('\n');
    }
}

/// `ip - entry` for Go's `func+0xoff`. Some symbolisers report the entry unrelocated (without
/// the load bias); an implausible distance is shown as 0 rather than as nonsense.
pub fn offset_in_function(ip: usize, entry: usize) -> usize {
    match ip.checked_sub(entry) {
        Some(off) if entry != 0 && off < (1 << 24) => off,
        _ => 0,
    }
}

/// Aggregates samples with equal stack and labels by adding their values.
pub fn merge_samples(samples: Vec<RawSample>) -> Vec<RawSample> {
    let mut index: HashMap<SampleKey, usize> = HashMap::new();
    let mut out: Vec<RawSample> = Vec::with_capacity(samples.len());
    for s in samples {
        let key = (s.stack.clone(), s.labels.clone());
        match index.get(&key) {
            Some(&i) => {
                for (a, v) in out[i].values.iter_mut().zip(&s.values) {
                    *a += v;
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(stack: &[usize], values: &[i64]) -> RawSample {
        RawSample {
            stack: stack.to_vec(),
            values: values.to_vec(),
            labels: Vec::new(),
        }
    }

    #[test]
    fn delta_subtracts_per_stack_and_drops_unchanged() {
        let mut p0 = RawProfile::new(
            "mutex",
            vec![("a", "count")],
            ("a", "count"),
            1,
            TextLayout::Contention,
        );
        p0.samples = vec![
            sample(&[1, 2], &[5]),
            sample(&[3], &[2]),
            sample(&[4], &[7]),
        ];
        let mut p1 = p0.clone();
        p1.samples = vec![
            sample(&[1, 2], &[8]),
            sample(&[3], &[2]),
            sample(&[5], &[1]),
        ];
        let d = p1.delta(&p0);
        let mut got: Vec<(Vec<usize>, i64)> = d
            .samples
            .iter()
            .map(|s| (s.stack.clone(), s.values[0]))
            .collect();
        got.sort();
        assert_eq!(got, vec![(vec![1, 2], 3), (vec![4], -7), (vec![5], 1)]);
    }

    #[test]
    fn merge_adds_equal_stacks() {
        let merged = merge_samples(vec![
            sample(&[1], &[1, 10]),
            sample(&[2], &[1, 1]),
            sample(&[1], &[2, 5]),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].values, vec![3, 15]);
    }
}
