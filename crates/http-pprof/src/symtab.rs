//! The running executable's ELF symbol table, to name the function an address lies in with its
//! full path even when the debug info carries only short names.
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
/// if the executable's symbol table knows it.
pub fn function_containing(addr: usize) -> Option<(&'static str, usize)> {
    let table = table()?;
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
}
