//! Hand-built pprof profiles for tests whose answers must be exact: every stack and value is
//! chosen by the test, encoded with the prost messages exactly as a real profile is.
//!
//! Shared by profile-tools' diff tests and simex's CLI tests (included there by `#[path]`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use profile_tools::proto;

/// A profile under construction: sample types, duration, stacks (root first) and values.
pub struct Handmade {
    sample_types: Vec<(String, String)>,
    duration_nanos: i64,
    samples: Vec<(Vec<String>, Vec<i64>)>,
    /// Source file by function name (none: the function has no file, as in a stripped build).
    files: HashMap<String, String>,
}

impl Handmade {
    /// A profile with these `(type, unit)` sample types; the last is the default.
    pub fn new(sample_types: &[(&str, &str)]) -> Self {
        Self {
            sample_types: sample_types
                .iter()
                .map(|(t, u)| ((*t).to_owned(), (*u).to_owned()))
                .collect(),
            duration_nanos: 0,
            samples: Vec::new(),
            files: HashMap::new(),
        }
    }

    /// A CPU profile (`samples/count`, `cpu/nanoseconds`) of `seconds`.
    pub fn cpu(seconds: f64) -> Self {
        Self::new(&[("samples", "count"), ("cpu", "nanoseconds")]).duration(seconds)
    }

    /// Sets the duration (0: a snapshot).
    pub fn duration(mut self, seconds: f64) -> Self {
        self.duration_nanos = (seconds * 1e9) as i64;
        self
    }

    /// Records `function`'s source file, as a symbolized profile does.
    pub fn file(mut self, function: &str, path: &str) -> Self {
        self.files.insert(function.to_owned(), path.to_owned());
        self
    }

    /// Adds a sample: `stack` is root first, `values` one per sample type.
    pub fn sample(mut self, stack: &[&str], values: &[i64]) -> Self {
        assert_eq!(values.len(), self.sample_types.len(), "one value per type");
        self.samples.push((
            stack.iter().map(|s| (*s).to_owned()).collect(),
            values.to_vec(),
        ));
        self
    }

    /// Adds a CPU sample of `seconds` (at 100 Hz) to a [`Handmade::cpu`] profile.
    pub fn cpu_sample(self, stack: &[&str], seconds: f64) -> Self {
        let nanos = (seconds * 1e9).round() as i64;
        self.sample(stack, &[nanos / 10_000_000, nanos])
    }

    /// The profile message.
    pub fn message(&self) -> proto::Profile {
        let mut strings = vec![String::new()];
        let mut index: HashMap<String, i64> = HashMap::new();
        let mut intern = |s: &str| -> i64 {
            *index.entry(s.to_owned()).or_insert_with(|| {
                strings.push(s.to_owned());
                strings.len() as i64 - 1
            })
        };
        let sample_type: Vec<proto::ValueType> = self
            .sample_types
            .iter()
            .map(|(t, u)| proto::ValueType {
                r#type: intern(t),
                unit: intern(u),
            })
            .collect();
        let mut functions: Vec<proto::Function> = Vec::new();
        let mut ids: HashMap<String, u64> = HashMap::new();
        let mut sample = Vec::new();
        for (stack, values) in &self.samples {
            let mut location_id = Vec::new();
            for name in stack.iter().rev() {
                let id = *ids.entry(name.clone()).or_insert_with(|| {
                    let id = functions.len() as u64 + 1;
                    let filename = self.files.get(name).map_or(0, |f| intern(f));
                    functions.push(proto::Function {
                        id,
                        name: intern(name),
                        system_name: 0,
                        filename,
                        start_line: 0,
                    });
                    id
                });
                location_id.push(id);
            }
            sample.push(proto::Sample {
                location_id,
                value: values.clone(),
                label: vec![],
            });
        }
        let location = functions
            .iter()
            .map(|f| proto::Location {
                id: f.id,
                mapping_id: 0,
                address: 0x1000 + f.id,
                line: vec![proto::Line {
                    function_id: f.id,
                    line: 1,
                    column: 0,
                }],
                is_folded: false,
            })
            .collect();
        proto::Profile {
            sample_type,
            sample,
            location,
            function: functions,
            string_table: strings,
            duration_nanos: self.duration_nanos,
            time_nanos: 1_700_000_000_000_000_000,
            ..Default::default()
        }
    }

    /// Encodes the profile (raw protobuf, which every reader accepts as well as gzip).
    pub fn encode(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&self.message())
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.encode()).expect("write profile");
    }
}
