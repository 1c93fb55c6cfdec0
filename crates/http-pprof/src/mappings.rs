//! The objects mapped into this process (executable, shared libraries, the vDSO), as profile.proto
//! `Mapping`s: what `go tool pprof -disasm`/`-weblist` need to open the right file at the right
//! base, what puts a libc address under libc rather than the main binary, and what Parca needs
//! (the build id) to symbolize on its side.
//!
//! Like Go's `runtime/pprof` (`parseProcSelfMaps`), one mapping per executable line of
//! `/proc/self/maps`: start, limit, file offset and path, with `[vdso]` and `[vsyscall]` named as
//! the kernel names them, and unnamed anonymous code skipped. The build id is the GNU build-id
//! note as lower-case hex (Go's `%x`). Go reads it from the file on disk; here it is read from
//! the loaded image in memory (`dl_iterate_phdr`, the note segment), so a binary rebuilt on disk
//! after the service started cannot lend its build id to the running one, and the vDSO, which
//! has no file, gets its id too.
//!
//! One deliberate difference: the main executable is described in its own, link-time
//! addresses (mapping start, limit and the locations in it, minus the load bias), as if it
//! were loaded where it was linked. Go's binaries are not position-independent, so for them
//! run-time and link-time addresses are the same, and Go's `cmd/pprof` relies on it: its
//! `ObjAddr` does not translate ("no support for shared libraries"), so with a PIE binary's
//! run-time addresses `-disasm` finds no matches and `-weblist` shows no assembly. Readers that
//! do translate (google/pprof, Parca) compute a load bias of 0 from the same (start, offset)
//! and land on the same instructions. Shared libraries and the vDSO keep run-time addresses,
//! as Go writes them; they lie far above the executable's link range, so ranges never overlap.

use object::elf::{FileHeader64, ELF_NOTE_GNU, NT_GNU_BUILD_ID};
use object::read::elf::NoteIterator;
use object::NativeEndian;

/// One executable mapping of the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMapping {
    /// First mapped address.
    pub start: u64,
    /// End of the mapped range (exclusive).
    pub limit: u64,
    /// Offset in the file of `start`.
    pub file_offset: u64,
    /// Path of the mapped file, or the kernel's name (`[vdso]`).
    pub path: String,
    /// GNU build id, lower-case hex; empty when the object has none.
    pub build_id: String,
    /// Subtracted from the run-time addresses of this mapping (its range and its locations) in
    /// a profile: the load bias for the main executable, 0 otherwise (see the module comment).
    pub shift: u64,
}

impl ObjectMapping {
    /// The address a profile reports for run-time address `addr` in this mapping.
    pub fn profile_address(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.shift)
    }
}

/// The executable mappings of the process, sorted by address.
#[derive(Clone, Debug, Default)]
pub struct ProcessMappings {
    /// Sorted by `start`, non-overlapping (as the kernel lists them).
    mappings: Vec<ObjectMapping>,
    /// Path of the main executable, whose mappings come first in a profile.
    main_path: Option<String>,
}

impl ProcessMappings {
    /// The mappings of this process now; empty where `/proc/self/maps` cannot be read.
    pub fn current() -> Self {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let exe = std::fs::canonicalize("/proc/self/exe").ok();
        let main_path = exe.as_ref().and_then(|p| p.to_str());
        Self::parse(&maps, main_path, &loaded_objects())
    }

    /// Parses `/proc/self/maps` text; `main_path` is the executable's path, `objects` what the
    /// loader has loaded (for build ids and exact segment starts).
    pub fn parse(maps: &str, main_path: Option<&str>, objects: &[LoadedObject]) -> Self {
        let mut mappings: Vec<ObjectMapping> = maps
            .lines()
            .filter_map(parse_line)
            .map(|(start, limit, file_offset, path)| {
                let mut m = ObjectMapping {
                    start,
                    limit,
                    file_offset,
                    build_id: String::new(),
                    shift: 0,
                    path,
                };
                if let Some(object) = objects.iter().find(|o| o.overlaps(start, limit)) {
                    m.build_id.clone_from(&object.build_id);
                    object.align_start(&mut m);
                    if main_path == Some(m.path.as_str()) {
                        m.shift = object.bias;
                    }
                }
                m
            })
            .collect();
        mappings.sort_by_key(|m| m.start);
        Self {
            mappings,
            main_path: main_path.map(str::to_owned),
        }
    }

    /// All mappings, by address.
    pub fn all(&self) -> &[ObjectMapping] {
        &self.mappings
    }

    /// Indices into [`Self::all`] in the order a profile lists them: the main executable first
    /// (profile.proto: "mapping[0] will be the main binary"; Parca and Pyroscope take it as the
    /// profiled program), then by address.
    pub fn profile_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.mappings.len()).collect();
        order.sort_by_key(|&i| self.main_path.as_deref() != Some(self.mappings[i].path.as_str()));
        order
    }

    /// Index (into [`Self::all`]) of the mapping that contains `addr`.
    pub fn find(&self, addr: u64) -> Option<usize> {
        let idx = self
            .mappings
            .partition_point(|m| m.start <= addr)
            .checked_sub(1)?;
        (addr < self.mappings[idx].limit).then_some(idx)
    }
}

/// One line of `/proc/self/maps` as (start, limit, offset, path) if it is executable code that
/// Go would report: `7f..-7f.. r-xp 00028000 fd:01 1234  /usr/lib/x86_64-linux-gnu/libc.so.6`.
fn parse_line(line: &str) -> Option<(u64, u64, u64, String)> {
    let mut fields = line.splitn(6, ' ');
    let (start, limit) = fields.next()?.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let limit = u64::from_str_radix(limit, 16).ok()?;
    let perms = fields.next()?;
    if perms.as_bytes().get(2) != Some(&b'x') {
        return None;
    }
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let _device = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next().unwrap_or("").trim_start();
    // A file replaced on disk keeps its mapping; the name is still the best one to give.
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    // Huge-page text mappings list their unpopulated start as anonymous (inode 0, no name);
    // the vDSO and vsyscall pages are inode 0 too but have a name.
    if inode == "0" && path.is_empty() {
        return None;
    }
    Some((start, limit, offset, path.to_owned()))
}

/// An object the dynamic loader has loaded: its loadable segments and build id.
#[derive(Clone, Debug, Default)]
pub struct LoadedObject {
    /// Load bias: run-time address minus link-time address.
    pub bias: u64,
    /// Its `PT_LOAD` segments at run time: (first address, end, offset in the file).
    pub segments: Vec<(u64, u64, u64)>,
    /// GNU build id, lower-case hex, or empty.
    pub build_id: String,
}

impl LoadedObject {
    fn overlaps(&self, start: u64, limit: u64) -> bool {
        self.segments
            .iter()
            .any(|&(lo, hi, _)| lo < limit && start < hi)
    }

    /// Moves a mapping's start from its page boundary to where its segment really begins, when
    /// the two differ (lld and `-z noseparate-code` layouts do not page-align segments). Go's
    /// `cmd/pprof` takes `memory_start - p_vaddr of the code segment` as the load bias, so a
    /// page-rounded start would shift every `-disasm` address by the misalignment; google/pprof
    /// computes the bias from `memory_start - file_offset`, which the segment's own (start,
    /// offset) pair gives as well.
    fn align_start(&self, m: &mut ObjectMapping) {
        let segment = self.segments.iter().find(|&&(lo, hi, offset)| {
            m.start <= lo
                && lo < m.limit.min(hi)
                && lo - m.start == offset.wrapping_sub(m.file_offset)
        });
        if let Some(&(lo, _, offset)) = segment {
            m.start = lo;
            m.file_offset = offset;
        }
    }
}

/// Every object the loader knows (main executable, libraries, vDSO), with build ids read from
/// their note segments in memory.
fn loaded_objects() -> Vec<LoadedObject> {
    let mut objects: Vec<LoadedObject> = Vec::new();
    // SAFETY: the callback only reads the loader's `dl_phdr_info` during the call and pushes to
    // the Vec passed as `data`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(collect_object),
            (&raw mut objects).cast::<libc::c_void>(),
        );
    }
    objects
}

/// `dl_iterate_phdr` callback: records one object.
unsafe extern "C" fn collect_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: `data` is the `Vec<LoadedObject>` of `loaded_objects`, exclusively ours during
    // the iteration; `info` and its program headers are valid for the duration of the call.
    let (objects, info) = unsafe { (&mut *data.cast::<Vec<LoadedObject>>(), &*info) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: the loader gives `dlpi_phnum` headers at `dlpi_phdr`.
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let bias = info.dlpi_addr;
    let segments: Vec<(u64, u64, u64)> = headers
        .iter()
        .filter(|h| h.p_type == libc::PT_LOAD)
        .map(|h| {
            let lo = bias.wrapping_add(h.p_vaddr);
            (lo, lo.wrapping_add(h.p_memsz), h.p_offset)
        })
        .collect();
    let build_id = headers
        .iter()
        .filter(|h| h.p_type == libc::PT_NOTE && h.p_memsz > 0)
        .find_map(|h| {
            let lo = bias.wrapping_add(h.p_vaddr);
            let hi = lo.checked_add(h.p_memsz)?;
            // Only read notes that lie inside a loaded segment, i.e. memory that is mapped.
            if !segments.iter().any(|&(s, e, _)| s <= lo && hi <= e) {
                return None;
            }
            // SAFETY: [lo, hi) lies in a PT_LOAD segment of a loaded object, which stays mapped
            // while the loader lock of this iteration is held.
            let notes = unsafe { std::slice::from_raw_parts(lo as *const u8, (hi - lo) as usize) };
            gnu_build_id(notes, h.p_align)
        })
        .unwrap_or_default();
    objects.push(LoadedObject {
        bias,
        segments,
        build_id,
    });
    0
}

/// The GNU build id in a note segment, as lower-case hex.
fn gnu_build_id(notes: &[u8], align: u64) -> Option<String> {
    let mut notes =
        NoteIterator::<FileHeader64<NativeEndian>>::new(NativeEndian, align, notes).ok()?;
    while let Ok(Some(note)) = notes.next() {
        if note.name() == ELF_NOTE_GNU && note.n_type(NativeEndian) == NT_GNU_BUILD_ID {
            return Some(hex(note.desc()));
        }
    }
    None
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in Go's `parseProcSelfMaps`, plus a deleted file and huge-page text.
    const MAPS: &str = "\
00400000-0040b000 r-xp 00000000 fc:01 787766                             /bin/cat
0060a000-0060b000 r--p 0000a000 fc:01 787766                             /bin/cat
014ab000-014cc000 rw-p 00000000 00:00 0                                  [heap]
7f7d7797c000-7f7d77b36000 r-xp 00000000 fc:01 1180226                    /lib/x86_64-linux-gnu/libc-2.19.so
7f7d77b36000-7f7d77d36000 ---p 001ba000 fc:01 1180226                    /lib/x86_64-linux-gnu/libc-2.19.so
7f7d77d41000-7f7d77d64000 r-xp 00000000 fc:01 1180217                    /lib/x86_64-linux-gnu/ld-2.19.so
7f7d78000000-7f7d78200000 r-xp 00000000 00:00 0
7f7d78200000-7f7d78300000 r-xp 00200000 fc:01 4242                       /opt/app/server (deleted)
7ffc34343000-7ffc34345000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 r-xp 00000000 00:00 0                  [vsyscall]
";

    #[test]
    fn parses_executable_lines_like_go() {
        // Objects for /bin/cat (text segment page-aligned) and the deleted server (text starting
        // 0x80 into its first page, as lld lays it out).
        let objects = [
            LoadedObject {
                bias: 0,
                segments: vec![(0x400000, 0x40a800, 0), (0x60a000, 0x60b000, 0xa000)],
                build_id: "c0ffee".into(),
            },
            LoadedObject {
                bias: 0x7f7d78000000,
                segments: vec![(0x7f7d78200080, 0x7f7d782ff000, 0x200080)],
                build_id: "5e4e".into(),
            },
        ];
        let m = ProcessMappings::parse(MAPS, Some("/opt/app/server"), &objects);
        let got: Vec<(u64, u64, u64, &str, &str)> = m
            .all()
            .iter()
            .map(|m| {
                (
                    m.start,
                    m.limit,
                    m.file_offset,
                    m.path.as_str(),
                    m.build_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0x400000, 0x40b000, 0, "/bin/cat", "c0ffee"),
                (
                    0x7f7d7797c000,
                    0x7f7d77b36000,
                    0,
                    "/lib/x86_64-linux-gnu/libc-2.19.so",
                    ""
                ),
                (
                    0x7f7d77d41000,
                    0x7f7d77d64000,
                    0,
                    "/lib/x86_64-linux-gnu/ld-2.19.so",
                    ""
                ),
                (
                    0x7f7d78200080,
                    0x7f7d78300000,
                    0x200080,
                    "/opt/app/server",
                    "5e4e"
                ),
                (0x7ffc34343000, 0x7ffc34345000, 0, "[vdso]", ""),
                (0xffffffffff600000, 0xffffffffff601000, 0, "[vsyscall]", ""),
            ]
        );
        assert_eq!(m.find(0x400000), Some(0));
        assert_eq!(m.find(0x40afff), Some(0));
        assert_eq!(m.find(0x40b000), None, "limit is exclusive");
        assert_eq!(m.find(0x7f7d77a00000), Some(1));
        assert_eq!(m.find(0x7f7d78100000), None, "anonymous code is no object");
        assert_eq!(m.find(0x10), None);
        // The main executable reports link-time addresses, everything else run-time ones.
        let shifts: Vec<u64> = m.all().iter().map(|m| m.shift).collect();
        assert_eq!(shifts, vec![0, 0, 0, 0x7f7d78000000, 0, 0]);
        assert_eq!(m.all()[3].profile_address(0x7f7d78200085), 0x200085);
        assert_eq!(
            m.profile_order(),
            vec![3, 0, 1, 2, 4, 5],
            "main binary first"
        );
    }

    #[inline(never)]
    fn code_in_this_binary() -> usize {
        std::hint::black_box(code_in_this_binary as fn() -> usize as usize)
    }

    /// This test binary, libc and the vDSO each get their own mapping, with the build id the
    /// file on disk carries.
    #[test]
    fn the_running_process_maps_each_object_with_its_build_id() {
        let m = ProcessMappings::current();
        let ours = &m.all()[m
            .find(code_in_this_binary() as u64)
            .expect("our code is mapped")];
        let exe = std::fs::canonicalize("/proc/self/exe").expect("exe");
        assert_eq!(ours.path, exe.display().to_string());
        let on_disk = std::fs::read(&exe).expect("read exe");
        let on_disk = object::File::parse(&*on_disk).expect("parse exe");
        let expected = object::Object::build_id(&on_disk)
            .expect("notes readable")
            .map(hex)
            .unwrap_or_default();
        assert_eq!(ours.build_id, expected);
        // The mapping starts where the code segment does, page-aligned or not: (start, offset)
        // is that segment's (address + load bias, file offset).
        let segment = object::Object::segments(&on_disk)
            .find(|s| object::ObjectSegment::file_range(s).0 == ours.file_offset)
            .unwrap_or_else(|| panic!("no segment at file offset of {ours:?}"));
        assert_eq!(
            object::ObjectSegment::address(&segment) & 0xfff,
            ours.start & 0xfff,
            "{ours:?}"
        );
        assert!(
            ours.build_id.len() >= 16,
            "the binary has no GNU build id (link with --build-id): {ours:?}"
        );

        let libc_code = libc::getpid as *const () as usize as u64;
        let libc_map = &m.all()[m.find(libc_code).expect("libc is mapped")];
        assert_ne!(libc_map.path, ours.path);
        assert!(libc_map.path.contains("libc"), "{libc_map:?}");

        // SAFETY: getauxval has no preconditions.
        let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
        if vdso != 0 {
            let v = &m.all()[m.find(vdso).expect("the vDSO is mapped")];
            assert_eq!(v.path, "[vdso]");
            assert!(
                !v.build_id.is_empty(),
                "the vDSO has a build id note: {v:?}"
            );
        }
    }
}
