//! The pprof wire format: `perftools.profiles` from google/pprof's `proto/profile.proto`,
//! declared with prost's derive so no build script or `protoc` is needed, shared by the crate
//! that writes profiles (`http-pprof`) and the one that reads them (`profile-tools`).
//!
//! - the messages ([`Profile`] and its parts), field numbers exactly as upstream; indices into
//!   `string_table` are `i64` as upstream declares them;
//! - [`StringTable`]: interning for `string_table`, index 0 always `""`;
//! - [`encode_gzip`] and [`decode`]: the gzip'd form served by `/debug/pprof/*` and read by
//!   `go tool pprof`, and raw protobuf.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};

use prost::Message as _;

/// The top-level profile message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each entry of `Sample::value` measures (type and unit).
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The recorded samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Binaries (and the vDSO) the locations' addresses lie in; `mapping[0]` is the main binary.
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
    /// Extra context (thread or task ids, routes, allocation sizes).
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

/// One object mapped into the process (executable, shared library, vDSO).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Address at which the mapped range starts.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// End (exclusive) of the mapped range.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// Offset in the file of the first mapped byte.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// String index of the object's path, or a name such as `[vdso]`.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// String index of the build id (GNU build-id note, lower-case hex as Go writes it).
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Locations in this mapping already carry function names: readers must not re-symbolize.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// They carry file names.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// They carry line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Inlined frames are expanded into separate lines.
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
    /// The instruction address (a caller's may lie inside its call instruction).
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Lines at this address: innermost inlined function first, the caller it was inlined
    /// into last.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Several symbols share this address (identical code folding).
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
    /// Column number (0 if unknown); upstream's later addition, unused by Go 1.19.
    #[prost(int64, tag = "3")]
    pub column: i64,
}

/// A function name and where it is defined.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Function {
    /// Unique non-zero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// String index of the human-readable (demangled) name.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// String index of the name as in the binary (mangled).
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// String index of the source file.
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// First line of the function (0 if unknown).
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// Builds `Profile::string_table`: each distinct string once, `""` at index 0 as the format
/// requires.
#[derive(Debug, Clone)]
pub struct StringTable {
    /// The table in index order.
    strings: Vec<String>,
    /// Index of each string already in the table.
    index: HashMap<String, i64>,
}

impl Default for StringTable {
    fn default() -> Self {
        Self::new()
    }
}

impl StringTable {
    /// A table holding only `""` (index 0).
    pub fn new() -> Self {
        let mut table = Self {
            strings: Vec::new(),
            index: HashMap::new(),
        };
        table.intern("");
        table
    }

    /// The index of `s`, adding it if it is new.
    pub fn intern(&mut self, s: &str) -> i64 {
        if let Some(&idx) = self.index.get(s) {
            return idx;
        }
        let idx = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), idx);
        idx
    }

    /// The finished table, for `Profile::string_table`.
    pub fn into_vec(self) -> Vec<String> {
        self.strings
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

/// Why profile bytes could not be decoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes start like gzip but do not decompress.
    Gzip(std::io::Error),
    /// The (decompressed) bytes are not a `Profile` message.
    Protobuf(prost::DecodeError),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gzip(e) => write!(f, "gzip data is damaged: {e}"),
            Self::Protobuf(e) => write!(f, "protobuf decoding failed: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a profile, gzip'd (as served by `/debug/pprof/*`) or raw protobuf. At most
/// `max_decoded_bytes` are decompressed, so a gzip bomb cannot exhaust memory (the cut-off
/// message then fails to decode).
pub fn decode(bytes: &[u8], max_decoded_bytes: u64) -> Result<Profile, DecodeError> {
    let raw;
    let body: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(max_decoded_bytes)
            .read_to_end(&mut out)
            .map_err(DecodeError::Gzip)?;
        raw = out;
        &raw
    } else {
        bytes
    };
    Profile::decode(body).map_err(DecodeError::Protobuf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_table_starts_empty_and_interns_once() {
        let mut t = StringTable::new();
        assert_eq!(t.intern(""), 0);
        let cpu = t.intern("cpu");
        assert_eq!(t.intern("nanoseconds"), cpu + 1);
        assert_eq!(t.intern("cpu"), cpu);
        assert_eq!(t.into_vec(), vec!["", "cpu", "nanoseconds"]);
    }

    /// Field numbers are the format: a hand-encoded message with upstream's tags must come back
    /// in the right fields.
    #[test]
    fn decodes_upstream_field_numbers() {
        // Mapping{id=1 (tag 1), memory_start=0x1000 (tag 2), build_id=3 (tag 6),
        // has_functions=true (tag 7), has_inline_frames=true (tag 10)}.
        let mapping: Vec<u8> = vec![
            0x08, 0x01, 0x10, 0x80, 0x20, 0x30, 0x03, 0x38, 0x01, 0x50, 0x01,
        ];
        // Profile{mapping (tag 3), period (tag 12) = 7, default_sample_type (tag 14) = 2}.
        let mut profile = vec![0x1a, mapping.len() as u8];
        profile.extend_from_slice(&mapping);
        profile.extend_from_slice(&[0x60, 0x07, 0x70, 0x02]);
        let p = decode(&profile, 1 << 20).expect("decodes");
        assert_eq!(p.period, 7);
        assert_eq!(p.default_sample_type, 2);
        let m = &p.mapping[0];
        assert_eq!((m.id, m.memory_start, m.build_id), (1, 0x1000, 3));
        assert!(m.has_functions && m.has_inline_frames);
        assert!(!m.has_filenames && !m.has_line_numbers);
    }

    #[test]
    fn gzip_round_trip_and_damage() {
        let mut strings = StringTable::new();
        let profile = Profile {
            sample_type: vec![ValueType {
                r#type: strings.intern("samples"),
                unit: strings.intern("count"),
            }],
            sample: vec![Sample {
                location_id: vec![1],
                value: vec![3],
                label: vec![],
            }],
            string_table: strings.into_vec(),
            ..Default::default()
        };
        let gz = encode_gzip(&profile);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert_eq!(decode(&gz, 1 << 20).expect("round trip"), profile);
        let raw = profile.encode_to_vec();
        assert_eq!(decode(&raw, 1 << 20).expect("raw protobuf"), profile);
        let damaged = decode(&gz[..gz.len() / 2], 1 << 20).expect_err("truncated gzip");
        assert!(damaged.to_string().starts_with("gzip data is damaged"));
    }
}
