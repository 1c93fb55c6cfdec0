//! A builder that turns raw stacks into a symbolised profile.proto message, as Go's
//! `runtime/pprof` writes it: one `Mapping` per object loaded into the process (see
//! [`crate::mappings`]), each location under the mapping its address lies in, locations and
//! functions interned. The messages themselves are the shared `pprof-proto` crate's, re-exported
//! here.

use std::collections::HashMap;

pub use pprof_proto::{
    encode_gzip, Function, Label, Line, Location, Mapping, Profile, Sample, StringTable, ValueType,
};

use crate::mappings::ProcessMappings;
use crate::symbolize::{symbolize_stack, Frame, TrimFn};

/// What the locations of one mapping carry, for its `has_*` flags.
#[derive(Clone, Copy, Default)]
struct Resolved {
    functions: bool,
    filenames: bool,
    line_numbers: bool,
}

/// Builds a [`Profile`] from raw stacks, symbolising each address once and interning strings,
/// functions and locations.
pub struct ProfileBuilder {
    /// The profile under construction (its string table is filled in by [`Self::build`]).
    profile: Profile,
    /// The string table.
    strings: StringTable,
    /// Function id by (name, file).
    functions: HashMap<(String, String), u64>,
    /// Location id by (address, number of inlined frames trimmed from it).
    locations: HashMap<(usize, usize), u64>,
    /// The process's executable mappings; `mappings.all()[i]` has id `i + 1`.
    mappings: ProcessMappings,
    /// Per mapping, what our symbolizer found for its locations.
    resolved: Vec<Resolved>,
}

impl ProfileBuilder {
    /// Starts a profile with Go's header fields: sample types as (type, unit), period type and
    /// period; the mappings are those of the process now.
    pub fn new(sample_types: &[(&str, &str)], period_type: (&str, &str), period: i64) -> Self {
        Self::with_mappings(
            sample_types,
            period_type,
            period,
            ProcessMappings::current(),
        )
    }

    /// As [`Self::new`], with the mappings given (tests, or a process without `/proc`).
    pub fn with_mappings(
        sample_types: &[(&str, &str)],
        period_type: (&str, &str),
        period: i64,
        mappings: ProcessMappings,
    ) -> Self {
        let mut builder = Self {
            profile: Profile::default(),
            strings: StringTable::new(),
            functions: HashMap::new(),
            locations: HashMap::new(),
            resolved: vec![Resolved::default(); mappings.all().len()],
            mappings,
        };
        for (ty, unit) in sample_types {
            let vt = builder.value_type(ty, unit);
            builder.profile.sample_type.push(vt);
        }
        let pt = builder.value_type(period_type.0, period_type.1);
        builder.profile.period_type = Some(pt);
        builder.profile.period = period;
        for i in builder.mappings.profile_order() {
            let m = &builder.mappings.all()[i];
            let filename = builder.strings.intern(&m.path);
            let build_id = builder.strings.intern(&m.build_id);
            builder.profile.mapping.push(Mapping {
                id: i as u64 + 1,
                memory_start: m.profile_address(m.start),
                memory_limit: m.profile_address(m.limit),
                file_offset: m.file_offset,
                filename,
                build_id,
                // Set in `build` from what the locations carry.
                has_functions: false,
                has_filenames: false,
                has_line_numbers: false,
                has_inline_frames: false,
            });
        }
        if builder.profile.mapping.is_empty() {
            // No /proc/self/maps: like Go, one fake mapping that every location uses. Locations
            // are symbolised, so readers must not try again.
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let filename = builder.strings.intern(&exe);
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
        }
        builder
    }

    /// Sets the sample type pprof shows by default (Go sets "alloc_space" for allocs).
    pub fn default_sample_type(&mut self, ty: &str) {
        self.profile.default_sample_type = self.strings.intern(ty);
    }

    /// Sets collection time and duration.
    pub fn timing(&mut self, time_nanos: i64, duration_nanos: i64) {
        self.profile.time_nanos = time_nanos;
        self.profile.duration_nanos = duration_nanos;
    }

    /// Adds a free-form comment.
    pub fn comment(&mut self, text: &str) {
        let idx = self.strings.intern(text);
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
                key: self.strings.intern(k),
                str: self.strings.intern(v),
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
    ///
    /// A mapping's `has_functions`/`has_filenames`/`has_line_numbers` say that our symbolizer
    /// found names/files/lines for its locations, so pprof leaves them alone. Go sets
    /// `has_functions` only when every location was symbolized; here one is enough: the
    /// symbolizer read that object, an address it could not name no reader can, and pprof
    /// re-symbolizing the whole mapping would replace full Rust paths with DWARF's short names.
    /// Inlined frames come with the line tables, so `has_inline_frames` follows
    /// `has_line_numbers`.
    pub fn build(mut self) -> Profile {
        for mapping in &mut self.profile.mapping {
            let Some(resolved) = usize::try_from(mapping.id - 1)
                .ok()
                .and_then(|i| self.resolved.get(i))
            else {
                continue; // the fake mapping keeps its flags
            };
            mapping.has_functions = resolved.functions;
            mapping.has_filenames = resolved.filenames;
            mapping.has_line_numbers = resolved.line_numbers;
            mapping.has_inline_frames = resolved.line_numbers;
        }
        self.profile.string_table = self.strings.into_vec();
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
                column: 0,
            });
        }
        // Our stacks hold return addresses (the CPU leaf is recorded as pc + 1 for that
        // reason); Go writes `pc - 1`, inside the call instruction (or the interrupted
        // instruction itself), which is where pprof's -disasm charges the sample.
        let mut address = (ip as u64).saturating_sub(1);
        let mapping_id = match self.mappings.find(address) {
            Some(i) => {
                address = self.mappings.all()[i].profile_address(address);
                let r = &mut self.resolved[i];
                r.functions |= frames.iter().any(|f| !f.system_name.is_empty());
                r.filenames |= frames.iter().any(|f| !f.file.is_empty());
                r.line_numbers |= frames.iter().any(|f| f.line != 0);
                i as u64 + 1
            }
            // The fake catch-all mapping, when there are no real ones.
            None if self.mappings.all().is_empty() => 1,
            // Code outside any file-backed mapping (anonymous, JIT): mapping unknown, as Go.
            None => 0,
        };
        self.profile.location.push(Location {
            id,
            mapping_id,
            address,
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
        let name = self.strings.intern(&frame.function);
        let system_name = self.strings.intern(&frame.system_name);
        let filename = self.strings.intern(&frame.file);
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
            r#type: self.strings.intern(ty),
            unit: self.strings.intern(unit),
        }
    }
}

/// Nanoseconds since the Unix epoch, for `time_nanos`.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn code_in_this_binary() -> usize {
        std::hint::black_box(code_in_this_binary as fn() -> usize as usize)
    }

    /// A stack through our code and libc: each location under its own object's mapping, at
    /// Go's address (return address - 1), the main binary's in its link-time addresses (those of
    /// its symbol table, what `go tool pprof -disasm` compares with), libc's at run time; the
    /// main binary first, and flags set from what was symbolized.
    #[test]
    fn locations_point_into_their_objects_mappings() {
        let ours = code_in_this_binary();
        let getpid = libc::getpid as *const () as usize;
        let mut builder = ProfileBuilder::new(&[("samples", "count")], ("cpu", "nanoseconds"), 1);
        builder.add_sample(&[getpid + 1, ours + 1], vec![1], &[], None);
        let p = builder.build();
        let string = |i: i64| p.string_table[i as usize].as_str();
        let mapping = |id: u64| {
            p.mapping
                .iter()
                .find(|m| m.id == id)
                .unwrap_or_else(|| panic!("no mapping {id}"))
        };
        assert_eq!(p.location.len(), 2);
        let (in_libc, in_ours) = (&p.location[0], &p.location[1]);

        let exe = std::fs::canonicalize("/proc/self/exe").expect("exe");
        let data = std::fs::read(&exe).expect("read exe");
        let file = object::File::parse(&*data).expect("parse exe");
        let linked = object::Object::symbols(&file)
            .find(|s| {
                object::ObjectSymbol::name(s)
                    .is_ok_and(|n| n.contains("proto5tests19code_in_this_binary"))
            })
            .map(|s| object::ObjectSymbol::address(&s))
            .expect("symbol of code_in_this_binary");
        assert_eq!(
            in_ours.address, linked,
            "link-time address of the main binary"
        );
        let main = mapping(in_ours.mapping_id);
        assert_eq!(string(main.filename), exe.display().to_string());
        assert_eq!(p.mapping[0], *main, "the main binary comes first");
        assert!(!string(main.build_id).is_empty());
        assert!(main.has_functions && main.has_filenames && main.has_line_numbers);

        assert_eq!(in_libc.address, getpid as u64, "run-time address in libc");
        let libc_map = mapping(in_libc.mapping_id);
        assert_ne!(libc_map.id, main.id);
        assert!(string(libc_map.filename).contains("libc"));
        assert!(libc_map.has_functions, "libc's symbol table names getpid");
        for l in &p.location {
            let m = mapping(l.mapping_id);
            assert!(m.memory_start <= l.address && l.address < m.memory_limit);
        }
        // Mappings no location uses say nothing about symbols.
        assert!(p
            .mapping
            .iter()
            .filter(|m| m.id != main.id && m.id != libc_map.id)
            .all(|m| !m.has_functions));
    }
}
