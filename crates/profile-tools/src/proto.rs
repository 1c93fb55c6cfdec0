//! The pprof wire format: `profile.proto` from github.com/google/pprof, written out as prost
//! message structs so no build script or `protoc` is needed.
//!
//! Field numbers follow the upstream schema exactly; indices into `string_table` are `i64` as
//! upstream declares them. Only [`crate::profile`] should need these raw structs.

/// The top-level profile message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each entry of `Sample::value` measures (type and unit).
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The recorded samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Binary mappings the locations point into.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Code locations referenced by samples.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions referenced by location lines.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// All strings; index 0 is always the empty string.
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Regex of frames to drop (string index).
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// Regex of frames to keep (string index).
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// Capture time, nanoseconds since the epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// Capture duration in nanoseconds; 0 for snapshots.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// What one period of sampling measures.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The sampling period in `period_type` units.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Free-form comments (string indices).
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// Preferred sample type (string index of its `type`); 0 means "the last one".
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// A measured quantity: e.g. type "cpu", unit "nanoseconds".
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct ValueType {
    /// String index of the type name.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// String index of the unit.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// One stack with its measured values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location ids, leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per `Profile::sample_type`.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Extra labels (thread names, tags, allocation sizes).
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// A key/value attached to a sample.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Label {
    /// String index of the key.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// String index of a string value (0 if numeric).
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// Numeric value.
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// String index of the numeric value's unit.
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// A mapped binary region.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Start address of the mapping.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// End address of the mapping.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// File offset of the mapping start.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// String index of the binary's path.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// String index of the build id.
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Whether locations in this mapping carry function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Whether they carry file names.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Whether they carry line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Whether inlined frames are expanded.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// A program counter, possibly expanded into several (inlined) lines.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Mapping this address belongs to (0 if unknown).
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// The instruction address.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Lines at this address; the last is the caller, earlier ones were inlined into it.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Whether the frames were folded by the profiler.
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// A source line within a function.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Line {
    /// Id of the function.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Line number (0 if unknown).
    #[prost(int64, tag = "2")]
    pub line: i64,
    /// Column number (0 if unknown).
    #[prost(int64, tag = "3")]
    pub column: i64,
}

/// A function name and where it is defined.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Function {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// String index of the human-readable name.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// String index of the mangled/system name.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// String index of the source file.
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// First line of the function.
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}
