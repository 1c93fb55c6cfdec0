//! Unwind rules for code built without frame pointers (libc, libgcc, pthread, the vDSO), so
//! the CPU sampler can find the callers of a sample interrupted there.
//!
//! Frame-pointer walking from such a pc goes wrong: `clock_gettime` in libc keeps no frame
//! record, and the vDSO's functions set one up only after their first instructions, so the
//! chain either skips the caller or stops at a return address inside libc. Under lock
//! contention that left 43% of samples as a bare `clock_gettime`.
//!
//! The rules come from each object's `.eh_frame`, which is mapped in memory (found through its
//! `PT_GNU_EH_FRAME` segment, the vDSO included, via `dl_iterate_phdr`). They are evaluated
//! once, outside any signal handler, into a flat sorted table of [`Row`]s: for a pc range, the
//! canonical frame address (CFA) as `rsp + N` or `rbp + N`, where the return address is, and
//! where the caller's `rbp` was saved. The signal handler then only binary-searches the table
//! and reads two stack words ([`Row::unwind`]'s caller does the reads after proving them
//! readable): no allocation, no locks, no DWARF interpretation at signal time.
//!
//! Rows whose CFA is a DWARF expression (PLT stubs, signal trampolines) are kept as
//! "unknown", which ends the stack there. x86-64 only; elsewhere the table is empty and the
//! sampler keeps its conservative scan.

use std::sync::OnceLock;

/// How the CFA is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfaBase {
    /// `rsp + offset`.
    Sp,
    /// `rbp + offset`.
    Fp,
    /// Not expressible here (a DWARF expression): no caller can be found.
    Unknown,
}

/// The unwind rule for one pc range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// First pc covered.
    pub start: usize,
    /// First pc after the range.
    pub end: usize,
    pub cfa_base: CfaBase,
    pub cfa_offset: i32,
    /// Where the return address is saved, relative to the CFA (-8 on x86-64).
    pub ra_offset: i32,
    /// Where the caller's `rbp` is saved, relative to the CFA; `None`: `rbp` still holds it.
    pub fp_offset: Option<i32>,
}

impl Row {
    /// The CFA for a frame whose stack pointer is `sp` and frame pointer `fp`.
    pub fn cfa(&self, sp: usize, fp: usize) -> Option<usize> {
        let base = match self.cfa_base {
            CfaBase::Sp => sp,
            CfaBase::Fp => fp,
            CfaBase::Unknown => return None,
        };
        base.checked_add_signed(self.cfa_offset as isize)
    }
}

/// The table, built by the first [`table`] call; empty if nothing could be read.
static TABLE: OnceLock<Box<[Row]>> = OnceLock::new();

/// The rows of every loaded object for which `wanted(any address of its code)` holds, sorted
/// by start. Built on the first call (call it outside signal handlers); later calls, including
/// from a signal handler, only read it.
pub fn table(wanted: impl Fn(usize) -> bool) -> &'static [Row] {
    TABLE.get_or_init(|| build(&wanted))
}

/// The table if already built (signal-safe: one atomic load).
pub fn built() -> &'static [Row] {
    TABLE.get().map_or(&[], |rows| rows)
}

/// The row covering `pc`.
pub fn find(rows: &[Row], pc: usize) -> Option<&Row> {
    let i = rows.partition_point(|r| r.start <= pc);
    let row = rows.get(i.checked_sub(1)?)?;
    (pc < row.end).then_some(row)
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn build(wanted: &dyn Fn(usize) -> bool) -> Box<[Row]> {
    let mut rows = Vec::new();
    for object in loaded_objects() {
        if object.code.iter().any(|&addr| wanted(addr)) {
            // A malformed .eh_frame costs that object its rows, nothing more.
            let _ = rows_of(&object, &mut rows);
        }
    }
    rows.sort_by_key(|r| r.start);
    rows.dedup_by(|next, prev| {
        let same = next.start == prev.end
            && (
                next.cfa_base,
                next.cfa_offset,
                next.ra_offset,
                next.fp_offset,
            ) == (
                prev.cfa_base,
                prev.cfa_offset,
                prev.ra_offset,
                prev.fp_offset,
            );
        if same {
            prev.end = next.end;
        }
        same
    });
    rows.into_boxed_slice()
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn build(_: &dyn Fn(usize) -> bool) -> Box<[Row]> {
    Box::default()
}

/// Where one loaded object's unwind data lies in memory.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
struct LoadedObject {
    /// Start of each executable segment.
    code: Vec<usize>,
    /// The `.eh_frame_hdr` section.
    eh_frame_hdr: Option<(usize, usize)>,
    /// Loaded segments (start, end), to bound `.eh_frame`, whose size the header omits.
    segments: Vec<(usize, usize)>,
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn loaded_objects() -> Vec<LoadedObject> {
    const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our `data`.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<LoadedObject>>()) };
        let mut object = LoadedObject {
            code: Vec::new(),
            eh_frame_hdr: None,
            segments: Vec::new(),
        };
        let base = info.dlpi_addr as usize;
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            let start = base.wrapping_add(ph.p_vaddr as usize);
            match ph.p_type {
                libc::PT_LOAD => {
                    object.segments.push((start, start + ph.p_memsz as usize));
                    if ph.p_flags & libc::PF_X != 0 {
                        object.code.push(start);
                    }
                }
                PT_GNU_EH_FRAME => object.eh_frame_hdr = Some((start, ph.p_memsz as usize)),
                _ => {}
            }
        }
        out.push(object);
        0
    }
    let mut objects: Vec<LoadedObject> = Vec::new();
    // SAFETY: the callback only reads the headers it is given and pushes to `objects`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut objects as *mut Vec<LoadedObject>).cast()) };
    objects
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn rows_of(object: &LoadedObject, rows: &mut Vec<Row>) -> gimli::Result<()> {
    use gimli::{
        BaseAddresses, CfaRule, CieOrFde, EhFrame, EhFrameHdr, LittleEndian, Pointer, RegisterRule,
        UnwindContext, UnwindSection, X86_64,
    };
    let Some((hdr_addr, hdr_len)) = object.eh_frame_hdr else {
        return Ok(());
    };
    // SAFETY: the segment is mapped for as long as the object is loaded; libc, libgcc and
    // the vDSO are never unloaded.
    let hdr = unsafe { std::slice::from_raw_parts(hdr_addr as *const u8, hdr_len) };
    let bases = BaseAddresses::default().set_eh_frame_hdr(hdr_addr as u64);
    let Pointer::Direct(eh_frame_addr) = EhFrameHdr::new(hdr, LittleEndian)
        .parse(&bases, 8)?
        .eh_frame_ptr()
    else {
        return Ok(());
    };
    let eh_frame_addr = eh_frame_addr as usize;
    let Some(&(_, segment_end)) = object
        .segments
        .iter()
        .find(|&&(s, e)| (s..e).contains(&eh_frame_addr))
    else {
        return Ok(());
    };
    // SAFETY: as above; the section ends at or before its segment's end (entries stop at
    // the zero terminator the linker appends).
    let data = unsafe {
        std::slice::from_raw_parts(eh_frame_addr as *const u8, segment_end - eh_frame_addr)
    };
    let eh_frame = EhFrame::new(data, LittleEndian);
    let bases = bases.set_eh_frame(eh_frame_addr as u64);
    let mut context = Box::new(UnwindContext::new());
    let mut entries = eh_frame.entries(&bases);
    while let Some(entry) = entries.next()? {
        let CieOrFde::Fde(partial) = entry else {
            continue;
        };
        let Ok(fde) = partial.parse(EhFrame::cie_from_offset) else {
            continue;
        };
        let Ok(mut table) = fde.rows(&eh_frame, &bases, &mut context) else {
            continue;
        };
        while let Ok(Some(row)) = table.next_row() {
            let (cfa_base, cfa_offset) = match row.cfa() {
                CfaRule::RegisterAndOffset { register, offset } => {
                    let base = match *register {
                        X86_64::RSP => CfaBase::Sp,
                        X86_64::RBP => CfaBase::Fp,
                        _ => CfaBase::Unknown,
                    };
                    (base, i32::try_from(*offset).unwrap_or(0))
                }
                CfaRule::Expression(_) => (CfaBase::Unknown, 0),
            };
            let ra_offset = match row.register(X86_64::RA) {
                Some(RegisterRule::Offset(n)) => i32::try_from(n).ok(),
                _ => None,
            };
            let fp_offset = match row.register(X86_64::RBP) {
                None | Some(RegisterRule::SameValue) => Some(None),
                Some(RegisterRule::Offset(n)) => i32::try_from(n).ok().map(Some),
                // rbp is not recoverable (undefined, in another register): the walk must stop.
                Some(_) => None,
            };
            let (cfa_base, ra_offset, fp_offset) = match (ra_offset, fp_offset) {
                (Some(ra), Some(fp)) => (cfa_base, ra, fp),
                _ => (CfaBase::Unknown, 0, None),
            };
            rows.push(Row {
                start: row.start_address() as usize,
                end: row.end_address() as usize,
                cfa_base,
                cfa_offset,
                ra_offset,
                fp_offset,
            });
        }
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// libc's `clock_gettime` and the vDSO's both have rows, and each row's rules are the
    /// x86-64 ones a compiler emits (return address just below the CFA).
    #[test]
    fn libc_and_vdso_have_unwind_rows() {
        let rows = build(&|_| true);
        let clock = libc::clock_gettime as *const () as usize;
        let row = find(&rows, clock).expect("a row for libc's clock_gettime");
        // At the first instruction nothing has been pushed: CFA = rsp + 8, return at CFA - 8.
        assert_eq!(
            (row.cfa_base, row.cfa_offset, row.ra_offset),
            (CfaBase::Sp, 8, -8)
        );
        // SAFETY: getauxval has no preconditions.
        let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        if vdso != 0 {
            assert!(
                rows.iter()
                    .any(|r| r.start > vdso && r.start < vdso + (1 << 20)),
                "no rows in the vDSO at {vdso:#x}"
            );
        }
        assert!(rows.windows(2).all(|w| w[0].end <= w[1].start));
    }
}
