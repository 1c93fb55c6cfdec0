//! Decoding a pprof file (gzip'd or raw protobuf) into [`Profile`]: resolved strings, stacks
//! root-to-leaf with inlined frames expanded, and the chosen sample type.
//!
//! Architecture invariant: this module knows nothing about flamegraphs or reports; it only turns
//! bytes into stacks and values, the way `go tool pprof` sees them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::proto;
use crate::Error;

/// Larger decompressed profiles are refused: a real one is a few MB, a bigger one is a gzip bomb.
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// One measured quantity of a profile, e.g. `cpu`/`nanoseconds` or `inuse_space`/`bytes`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SampleType {
    /// The quantity's name (`samples`, `cpu`, `alloc_space`, `contentions`, `delay`, ...).
    pub name: String,
    /// Its unit (`count`, `nanoseconds`, `bytes`).
    pub unit: String,
}

impl SampleType {
    /// The word for one unit of this quantity in a flamegraph or report: samples, bytes,
    /// nanoseconds or count.
    pub fn count_name(&self) -> &str {
        match (self.name.as_str(), self.unit.as_str()) {
            ("samples", "count") => "samples",
            (_, "") => "count",
            (_, unit) => unit,
        }
    }
}

/// What kind of profile this is; decides the report's wording and advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProfileKind {
    /// On-CPU time sampled by a timer.
    Cpu,
    /// Live (in-use) memory at capture time.
    Heap,
    /// Everything allocated since start.
    Allocs,
    /// Time spent waiting for locks.
    Mutex,
    /// Time spent blocked on synchronisation or channels.
    Block,
    /// Live tasks (goroutines, tokio tasks) by stack.
    Goroutine,
    /// Threads created, by stack.
    Threadcreate,
    /// Anything else.
    Other,
}

impl ProfileKind {
    /// Parses the `{type}` part of our file names (`cpu`, `heap`, `allocs`, ...).
    pub fn from_type_name(name: &str) -> Option<Self> {
        Some(match name {
            "cpu" | "profile" => Self::Cpu,
            "heap" => Self::Heap,
            "allocs" => Self::Allocs,
            "mutex" => Self::Mutex,
            "block" => Self::Block,
            "goroutine" | "tasks" => Self::Goroutine,
            "threadcreate" => Self::Threadcreate,
            _ => return None,
        })
    }

    /// The short name used in file names and titles.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Heap => "heap",
            Self::Allocs => "allocs",
            Self::Mutex => "mutex",
            Self::Block => "block",
            Self::Goroutine => "goroutine",
            Self::Threadcreate => "threadcreate",
            Self::Other => "other",
        }
    }

    /// Guesses the kind from the sample types when the file name does not say.
    ///
    /// Go writes heap and allocs profiles identically except that allocs sets
    /// `default_sample_type` to `alloc_space`; mutex and block are likewise identical on the wire,
    /// so a bare contention profile is reported as `Mutex`.
    fn detect(types: &[SampleType], default_type: &str) -> Self {
        let has = |name: &str| types.iter().any(|t| t.name == name);
        if has("cpu") || (types.len() == 1 && has("samples") && types[0].unit == "count") {
            Self::Cpu
        } else if has("alloc_space") || has("inuse_space") || has("alloc_objects") {
            if default_type.starts_with("alloc") || !has("inuse_space") {
                Self::Allocs
            } else {
                Self::Heap
            }
        } else if has("contentions") || has("delay") {
            Self::Mutex
        } else if has("goroutine") || has("goroutines") || has("tasks") {
            Self::Goroutine
        } else if has("threadcreate") {
            Self::Threadcreate
        } else {
            Self::Other
        }
    }
}

/// Which sample type to read, like `go tool pprof -sample_index`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SampleIndex {
    /// The profile's `default_sample_type`, else the last one (pprof's rule).
    #[default]
    Default,
    /// A position in the sample type list.
    Position(usize),
    /// A sample type by name, e.g. `alloc_space`.
    Name(String),
}

impl std::str::FromStr for SampleIndex {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(n) => Self::Position(n),
            Err(_) => Self::Name(s.to_owned()),
        })
    }
}

/// One distinct call stack and its values (one per sample type).
#[derive(Debug, Clone)]
pub struct Stack {
    /// Indices into [`Profile::frame_names`], root first, leaf last, inlined frames expanded.
    pub frames: Vec<u32>,
    /// One value per [`Profile::sample_types`] entry.
    pub values: Vec<i64>,
}

/// A decoded profile with names resolved.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The sample types, in file order.
    pub sample_types: Vec<SampleType>,
    /// Position in `sample_types` that `go tool pprof` would show by default.
    pub default_index: usize,
    /// What kind of profile this is.
    pub kind: ProfileKind,
    /// Capture duration; `None` for snapshots.
    pub duration: Option<Duration>,
    /// Capture time, nanoseconds since the Unix epoch (0 if unknown).
    pub time_nanos: i64,
    /// Sampling period (in `period_type` units), e.g. 10 ms for a 100 Hz CPU profile.
    pub period: i64,
    /// Interned frame (function) names; a frame name is the function name, or the address when
    /// the profile was not symbolized.
    pub frame_names: Vec<String>,
    /// The source file of each frame name (same index; empty when the profile does not say):
    /// tells the program's own code from its dependencies (see [`crate::provenance`]).
    pub frame_files: Vec<String>,
    /// Every sample, as a stack and its values.
    pub stacks: Vec<Stack>,
    /// The profile's free-form comments (`go tool pprof -comments`): our CPU profiles say which
    /// clock sampled them and how much of the process's CPU the samples cover.
    pub comments: Vec<String>,
}

impl Profile {
    /// Reads and decodes a profile file; the kind comes from our file-name convention when the
    /// name follows it, otherwise from the sample types.
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut profile = Self::decode(&bytes).map_err(|e| match e {
            Error::Corrupt { reason, .. } => Error::Corrupt {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })?;
        let named_kind = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(crate::files::ArtifactName::parse)
            .and_then(|a| a.kind);
        if let Some(kind) = named_kind {
            // The name wins: mutex/block and heap/allocs are identical on the wire.
            profile.kind = kind;
        }
        Ok(profile)
    }

    /// Decodes profile bytes, gzip'd (as served by `/debug/pprof/*`) or raw protobuf.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let corrupt = |reason: String| Error::Corrupt {
            path: Default::default(),
            reason,
        };
        if bytes.is_empty() {
            return Err(corrupt("the file is empty".into()));
        }
        let message =
            proto::decode(bytes, MAX_DECODED_BYTES).map_err(|e| corrupt(e.to_string()))?;
        Self::from_message(message).map_err(corrupt)
    }

    fn from_message(p: proto::Profile) -> Result<Self, String> {
        let strings = &p.string_table;
        if strings.first().is_some_and(|s| !s.is_empty()) {
            return Err("string table must start with the empty string".into());
        }
        let string = |i: i64| -> Result<&str, String> {
            usize::try_from(i)
                .ok()
                .and_then(|i| strings.get(i))
                .map(String::as_str)
                .ok_or_else(|| format!("string index {i} out of range"))
        };
        if p.sample_type.is_empty() {
            return Err("no sample types (is this really a pprof profile?)".into());
        }
        let sample_types = p
            .sample_type
            .iter()
            .map(|t| {
                Ok(SampleType {
                    name: string(t.r#type)?.to_owned(),
                    unit: string(t.unit)?.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let default_name = string(p.default_sample_type)?;
        let default_index = sample_types
            .iter()
            .position(|t| !default_name.is_empty() && t.name == default_name)
            .unwrap_or(sample_types.len() - 1);
        let kind = ProfileKind::detect(&sample_types, default_name);

        let mut names = Interner::default();
        let functions: HashMap<u64, u32> = p
            .function
            .iter()
            .map(|f| {
                let name = string(f.name)?;
                let name = if name.is_empty() {
                    string(f.system_name)?
                } else {
                    name
                };
                let id = names.intern(name);
                names.note_file(id, string(f.filename)?);
                Ok((f.id, id))
            })
            .collect::<Result<_, String>>()?;
        // Each location expands to its frames caller-first (the proto lists inlined callees first).
        let locations: HashMap<u64, Vec<u32>> = p
            .location
            .iter()
            .map(|loc| {
                let frames = if loc.line.is_empty() {
                    vec![names.intern(&format!("{:#x}", loc.address))]
                } else {
                    loc.line
                        .iter()
                        .rev()
                        .map(|l| {
                            functions
                                .get(&l.function_id)
                                .copied()
                                .ok_or_else(|| format!("unknown function id {}", l.function_id))
                        })
                        .collect::<Result<_, String>>()?
                };
                Ok((loc.id, frames))
            })
            .collect::<Result<_, String>>()?;

        // Like `go tool pprof`, samples without a single location are dropped: there is no code
        // to charge them to (pprof-rs writes them when unwinding failed).
        let stacks = p
            .sample
            .iter()
            .filter(|s| !s.location_id.is_empty())
            .map(|s| {
                if s.value.len() != sample_types.len() {
                    return Err(format!(
                        "a sample has {} values but there are {} sample types",
                        s.value.len(),
                        sample_types.len()
                    ));
                }
                let mut frames = Vec::new();
                for id in s.location_id.iter().rev() {
                    let loc = locations
                        .get(id)
                        .ok_or_else(|| format!("unknown location id {id}"))?;
                    frames.extend_from_slice(loc);
                }
                Ok(Stack {
                    frames,
                    values: s.value.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;

        let comments = p
            .comment
            .iter()
            .map(|&i| string(i).map(str::to_owned))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            comments,
            sample_types,
            default_index,
            kind,
            duration: u64::try_from(p.duration_nanos)
                .ok()
                .filter(|&n| n > 0)
                .map(Duration::from_nanos),
            time_nanos: p.time_nanos,
            period: p.period,
            frame_names: names.names,
            frame_files: names.files,
            stacks,
        })
    }

    /// The sampling clock (`perf`, `thread-timer`, `process-timer`) a CPU profile from our
    /// `/debug/pprof/profile` names in its comments, if it names one.
    pub fn sampling_clock(&self) -> Option<&str> {
        self.comments.iter().find_map(|c| {
            let (_, rest) = c.split_once(" Hz from the ")?;
            rest.split_whitespace().next()
        })
    }

    /// The percentage of the process's CPU time that a CPU profile from our
    /// `/debug/pprof/profile` says its samples cover (`samples cover 1.99 s of the 2.17 s of CPU
    /// the process used (92%)`), if it says so.
    pub fn sampled_cpu_percent(&self) -> Option<f64> {
        self.comments.iter().find_map(|c| {
            let percent = c.strip_prefix("samples cover ")?.rsplit_once('(')?.1;
            percent.strip_suffix("%)")?.parse().ok()
        })
    }

    /// Resolves a [`SampleIndex`] to a position in [`Profile::sample_types`].
    pub fn resolve_index(&self, index: &SampleIndex) -> Result<usize, Error> {
        let available = || {
            self.sample_types
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{i}={}", t.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match index {
            SampleIndex::Default => Ok(self.default_index),
            SampleIndex::Position(i) if *i < self.sample_types.len() => Ok(*i),
            SampleIndex::Name(name) => self
                .sample_types
                .iter()
                .position(|t| &t.name == name)
                .ok_or_else(|| Error::SampleIndex {
                    requested: name.clone(),
                    available: available(),
                }),
            SampleIndex::Position(i) => Err(Error::SampleIndex {
                requested: i.to_string(),
                available: available(),
            }),
        }
    }

    /// Sum of one sample type over all samples (what `go tool pprof -top` calls the total).
    pub fn total(&self, index: usize) -> i64 {
        self.stacks.iter().filter_map(|s| s.values.get(index)).sum()
    }

    /// The source file of a frame index, `""` when unknown.
    pub fn frame_file(&self, frame: u32) -> &str {
        self.frame_files
            .get(frame as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Source file by frame name, for code that holds names rather than indices.
    pub fn files_by_name(&self) -> HashMap<&str, &str> {
        self.frame_names
            .iter()
            .zip(&self.frame_files)
            .filter(|(_, file)| !file.is_empty())
            .map(|(name, file)| (name.as_str(), file.as_str()))
            .collect()
    }

    /// The name of a frame index.
    pub fn frame_name(&self, frame: u32) -> &str {
        self.frame_names
            .get(frame as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }
}

/// Deduplicates frame names so stacks are small vectors of integers.
#[derive(Default)]
struct Interner {
    names: Vec<String>,
    /// Source file per name; the first function of that name that has one decides.
    files: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.files.push(String::new());
        self.index.insert(name.to_owned(), i);
        i
    }

    fn note_file(&mut self, id: u32, file: &str) {
        if let Some(slot) = self.files.get_mut(id as usize) {
            if slot.is_empty() {
                *slot = file.to_owned();
            }
        }
    }
}

/// An integer with thousands separators: `-1234567` → `-1,234,567`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Formats a value of `unit` for people: `1.23s`, `45.6MB`, `1,234`.
pub fn format_value(value: f64, unit: &str) -> String {
    // -0.0 (a base subtracted from itself) prints as "-0ns" otherwise.
    let value = if value == 0.0 { 0.0 } else { value };
    match unit {
        "nanoseconds" => {
            let abs = value.abs();
            if abs >= 1e9 {
                format!("{:.2}s", value / 1e9)
            } else if abs >= 1e6 {
                format!("{:.2}ms", value / 1e6)
            } else if abs >= 1e3 {
                format!("{:.2}us", value / 1e3)
            } else {
                format!("{value:.0}ns")
            }
        }
        "bytes" => {
            let abs = value.abs();
            if abs >= 1024.0 * 1024.0 * 1024.0 {
                format!("{:.2}GB", value / (1024.0 * 1024.0 * 1024.0))
            } else if abs >= 1024.0 * 1024.0 {
                format!("{:.2}MB", value / (1024.0 * 1024.0))
            } else if abs >= 1024.0 {
                format!("{:.2}kB", value / 1024.0)
            } else {
                format!("{value:.0}B")
            }
        }
        _ => format!("{value:.0}"),
    }
}
