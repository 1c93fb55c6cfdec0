//! The running executable's ELF symbol table, to name the function an address lies in with its
//! full path even when the debug info carries only short names; and the vDSO's, whose code
//! (`clock_gettime` under every `Instant::now`) has no file on disk for any symbolizer to read.
//!
//! Release builds here use `debug = "line-tables-only"`: DWARF then names functions without
//! their module path (`demo_contend_on_book`, `{closure#0}`), while the symbol table always
//! has the mangled full path (`_ZN10pprof_demo20demo_contend_on_book17h...E`).

use std::sync::OnceLock;

use object::{Object as _, ObjectSegment as _, ObjectSymbol as _, SymbolKind};

/// Function symbols sorted by start address, plus the load bias of the executable.
struct SymbolTable {
    /// Runtime address minus link-time address (PIE executables load at a random base).
    load_bias: usize,
    /// (start, size, mangled name), sorted by start.
    functions: Vec<(u64, u64, String)>,
}

fn table() -> Option<&'static SymbolTable> {
    static TABLE: OnceLock<Option<SymbolTable>> = OnceLock::new();
    TABLE.get_or_init(load).as_ref()
}

fn vdso_table() -> Option<&'static SymbolTable> {
    static TABLE: OnceLock<Option<SymbolTable>> = OnceLock::new();
    TABLE.get_or_init(load_vdso).as_ref()
}

/// The vDSO's dynamic symbols, parsed from its image in our own memory (the kernel maps it into
/// every process and says where in the auxiliary vector).
fn load_vdso() -> Option<SymbolTable> {
    // SAFETY: getauxval has no preconditions; 0 means "not present".
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    if base == 0 {
        return None;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let (start, end) = maps.lines().find(|l| l.ends_with("[vdso]")).and_then(|l| {
        let range = l.split_whitespace().next()?;
        let (start, end) = range.split_once('-')?;
        Some((
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        ))
    })?;
    if start != base || end <= start {
        return None;
    }
    // SAFETY: [start, end) is the vDSO mapping, readable for the life of the process.
    let image = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
    let file = object::File::parse(image).ok()?;
    let first_segment = file.segments().map(|s| s.address()).min().unwrap_or(0);
    let load_bias = base.checked_sub(first_segment as usize)?;
    let mut functions: Vec<(u64, u64, String)> = file
        .dynamic_symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() != 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_owned())))
        .collect();
    functions.sort_by_key(|f| f.0);
    functions.dedup_by_key(|f| f.0);
    Some(SymbolTable {
        load_bias,
        functions,
    })
}

fn load() -> Option<SymbolTable> {
    let exe = std::fs::canonicalize("/proc/self/exe").ok()?;
    let data = std::fs::read(&exe).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let first_segment = file
        .segments()
        .filter(|s| s.file_range().0 == 0)
        .map(|s| s.address())
        .min()
        .unwrap_or(0);
    let load_bias = mapped_base(&exe)?.checked_sub(first_segment as usize & !0xfff)?;
    let mut functions: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0 && s.size() != 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_owned())))
        .collect();
    functions.sort_by_key(|f| f.0);
    Some(SymbolTable {
        load_bias,
        functions,
    })
}

/// Lowest address at which `exe` is mapped from file offset 0 (`/proc/self/maps`).
fn mapped_base(exe: &std::path::Path) -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let exe = exe.to_str()?;
    maps.lines()
        .filter(|l| l.ends_with(exe))
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let range = fields.next()?;
            let offset = fields.nth(1)?;
            (usize::from_str_radix(offset, 16).ok()? == 0)
                .then(|| usize::from_str_radix(range.split('-').next()?, 16).ok())
                .flatten()
        })
        .min()
}

/// Mangled name and runtime start address of the function containing runtime address `addr`,
/// if the executable's or the vDSO's symbol table knows it.
pub fn function_containing(addr: usize) -> Option<(&'static str, usize)> {
    table()
        .and_then(|t| t.function_containing(addr))
        .or_else(|| vdso_table().and_then(|t| t.function_containing(addr)))
}

impl SymbolTable {
    fn function_containing(&'static self, addr: usize) -> Option<(&'static str, usize)> {
        let table = self;
        let addr = addr.checked_sub(table.load_bias)? as u64;
        let idx = table
            .functions
            .partition_point(|f| f.0 <= addr)
            .checked_sub(1)?;
        let (start, size, name) = &table.functions[idx];
        // Sizeless symbols (`_fini`, linker markers) would swallow every address past the end of
        // the executable, e.g. libc's thread entry; only a symbol that covers `addr` names it.
        (addr < start + size).then(|| (name.as_str(), *start as usize + table.load_bias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_function_with_a_path() -> usize {
        std::hint::black_box(a_function_with_a_path as fn() -> usize as usize)
    }

    #[test]
    fn finds_the_function_around_an_address() {
        let start = a_function_with_a_path();
        let (name, entry) = function_containing(start + 1).expect("symbol found");
        assert_eq!(entry, start);
        let demangled = format!("{:#}", rustc_demangle::demangle(name));
        assert_eq!(
            demangled,
            "http_pprof::symtab::tests::a_function_with_a_path"
        );
    }

    #[test]
    fn names_vdso_functions() {
        // SAFETY: as in load_vdso.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        if base == 0 {
            eprintln!("no vDSO in this process; nothing to name");
            return;
        }
        // Take the vDSO's clock_gettime from its table; an address inside it must map back to
        // it through the public lookup (load bias applied, executable table missed first).
        let table = vdso_table().expect("the vDSO parses");
        let (_, size, name) = table
            .functions
            .iter()
            .find(|f| f.2.contains("clock_gettime"))
            .expect("the vDSO exports clock_gettime");
        let (start, ..) = table
            .functions
            .iter()
            .find(|f| &f.2 == name)
            .expect("found above");
        let inside = *start as usize + table.load_bias + (*size as usize) / 2;
        let (found, entry) = function_containing(inside).expect("named");
        assert_eq!(found, name.as_str());
        assert_eq!(entry, *start as usize + table.load_bias);
    }
}
