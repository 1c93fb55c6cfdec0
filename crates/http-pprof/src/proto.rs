//! The pprof wire format (`profile.proto` from github.com/google/pprof) and a builder that turns
//! raw stacks into a symbolised, gzip-compressed profile, as Go's `runtime/pprof` writes it.
//!
//! Messages are declared by hand with prost's derive (no protoc at build time); field numbers
//! follow profile.proto exactly.

use std::collections::HashMap;
use std::io::Write as _;

use prost::Message as _;

use crate::symbolize::{symbolize_stack, Frame, TrimFn};

/// `perftools.profiles.Profile`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each value of a sample measures.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The measurements.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Binaries the addresses belong to.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Code addresses referenced by samples.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions referenced by locations.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// All strings; index 0 is "".
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Regexp of frames to drop (string index).
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// Regexp of frames to keep (string index).
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// Collection time, nanoseconds since the epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// Collection duration.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// What the sampling period counts.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// Sampling period.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Free-form comments (string indices).
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// Sample type shown by default (string index).
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// `perftools.profiles.ValueType`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    /// String index of the type, e.g. "cpu".
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// String index of the unit, e.g. "nanoseconds".
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// `perftools.profiles.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location ids, leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per sample type.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Extra context such as a thread or task id.
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// `perftools.profiles.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// String index of the key.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// String index of a string value.
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// Numeric value.
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// String index of the numeric value's unit.
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// `perftools.profiles.Mapping`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Unique nonzero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Start of the mapped range.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// End of the mapped range.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// Offset in the file.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// String index of the file name.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// String index of the build id.
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Locations already carry function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Locations already carry file names.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Locations already carry line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Locations already carry inlined frames.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// `perftools.profiles.Location`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Unique nonzero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Mapping the address belongs to.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// Instruction address.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Source lines at this address: innermost inlined function first, caller last.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Frames were folded (not used).
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// `perftools.profiles.Line`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// Function id.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Line number in the source file.
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// `perftools.profiles.Function`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// Unique nonzero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// String index of the demangled name.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// String index of the symbol name as in the binary.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// String index of the source file.
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// First line of the function (unknown: 0).
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// Builds a [`Profile`] from raw stacks, symbolising each address once and interning strings,
/// functions and locations.
pub struct ProfileBuilder {
    /// The profile under construction.
    profile: Profile,
    /// String table index by content.
    strings: HashMap<String, i64>,
    /// Function id by (name, file).
    functions: HashMap<(String, String), u64>,
    /// Location id by (address, number of inlined frames trimmed from it).
    locations: HashMap<(usize, usize), u64>,
}

impl ProfileBuilder {
    /// Starts a profile with Go's header fields: sample types as (type, unit), period type and
    /// period.
    pub fn new(sample_types: &[(&str, &str)], period_type: (&str, &str), period: i64) -> Self {
        let mut builder = Self {
            profile: Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
            locations: HashMap::new(),
        };
        builder.string("");
        for (ty, unit) in sample_types {
            let vt = builder.value_type(ty, unit);
            builder.profile.sample_type.push(vt);
        }
        let pt = builder.value_type(period_type.0, period_type.1);
        builder.profile.period_type = Some(pt);
        builder.profile.period = period;
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let filename = builder.string(&exe);
        // One mapping covering the address space: locations are already symbolised (names,
        // files, lines, inlines), so pprof must not try to symbolise them again.
        builder.profile.mapping.push(Mapping {
            id: 1,
            memory_start: 0,
            memory_limit: u64::MAX,
            file_offset: 0,
            filename,
            build_id: 0,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        });
        builder
    }

    /// Sets the sample type pprof shows by default (Go sets "alloc_space" for allocs).
    pub fn default_sample_type(&mut self, ty: &str) {
        self.profile.default_sample_type = self.string(ty);
    }

    /// Sets collection time and duration.
    pub fn timing(&mut self, time_nanos: i64, duration_nanos: i64) {
        self.profile.time_nanos = time_nanos;
        self.profile.duration_nanos = duration_nanos;
    }

    /// Adds a free-form comment.
    pub fn comment(&mut self, text: &str) {
        let idx = self.string(text);
        self.profile.comment.push(idx);
    }

    /// Adds one sample: `stack` is innermost first; leading frames for which `trim` holds
    /// are dropped (see [`symbolize_stack`]).
    pub fn add_sample(
        &mut self,
        stack: &[usize],
        values: Vec<i64>,
        labels: &[(String, String)],
        trim: Option<TrimFn>,
    ) {
        let location_id = symbolize_stack(stack, trim)
            .iter()
            .map(|entry| self.location(entry.ip, entry.kept(), entry.skip))
            .collect();
        let label = labels
            .iter()
            .map(|(k, v)| Label {
                key: self.string(k),
                str: self.string(v),
                num: 0,
                num_unit: 0,
            })
            .collect();
        self.profile.sample.push(Sample {
            location_id,
            value: values,
            label,
        });
    }

    /// Finishes the profile.
    pub fn build(self) -> Profile {
        self.profile
    }

    fn location(&mut self, ip: usize, frames: &[Frame], skip: usize) -> u64 {
        if let Some(&id) = self.locations.get(&(ip, skip)) {
            return id;
        }
        let id = self.profile.location.len() as u64 + 1;
        let mut line = Vec::with_capacity(frames.len());
        for frame in frames {
            line.push(Line {
                function_id: self.function(frame),
                line: i64::from(frame.line),
            });
        }
        self.profile.location.push(Location {
            id,
            mapping_id: 1,
            address: ip as u64,
            line,
            is_folded: false,
        });
        self.locations.insert((ip, skip), id);
        id
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let key = (frame.function.clone(), frame.file.clone());
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        let name = self.string(&frame.function);
        let system_name = self.string(&frame.system_name);
        let filename = self.string(&frame.file);
        self.profile.function.push(Function {
            id,
            name,
            system_name,
            filename,
            start_line: 0,
        });
        self.functions.insert(key, id);
        id
    }

    fn value_type(&mut self, ty: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(ty),
            unit: self.string(unit),
        }
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&idx) = self.strings.get(s) {
            return idx;
        }
        let idx = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_owned());
        self.strings.insert(s.to_owned(), idx);
        idx
    }
}

/// Serialises and gzips a profile, the form `go tool pprof` expects on the wire.
pub fn encode_gzip(profile: &Profile) -> Vec<u8> {
    let raw = profile.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 2),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(&raw);
    gz.finish().unwrap_or_default()
}

/// Nanoseconds since the Unix epoch, for `time_nanos`.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
