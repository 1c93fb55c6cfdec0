//! Addresses to source frames, in-process, with inlined functions as separate frames.
//!
//! The same symboliser serves every profile (CPU, heap, goroutine, mutex, block), so a function
//! has one name everywhere: the full demangled path without the hash suffix, e.g.
//! `matching::book::OrderBook::insert`. Results are cached per address because profiles repeat
//! the same return addresses many times and DWARF lookups are slow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// One source frame at an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function path without the `::h0123...` hash.
    pub function: String,
    /// Symbol as in the binary (mangled), for pprof's `system_name`.
    pub system_name: String,
    /// Source file, as recorded in the debug info ("" when unknown).
    pub file: String,
    /// Line in `file` (0 when unknown).
    pub line: u32,
    /// Start address of the enclosing symbol (0 when unknown), for Go's `func+0xoff` text form.
    pub entry: usize,
}

/// Cache of symbolised addresses. A std mutex: held only around map access, never across a
/// DWARF lookup of another address, and never on a hot path of the service.
fn cache() -> &'static Mutex<HashMap<usize, Arc<[Frame]>>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<[Frame]>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The frames at return address `ip`, innermost inlined function first, its outermost caller
/// (the function the address lies in) last. Unknown addresses give one frame named by address.
pub fn symbolize(ip: usize) -> Arc<[Frame]> {
    if let Some(hit) = cache().lock().ok().and_then(|c| c.get(&ip).cloned()) {
        return hit;
    }
    let mut frames = Vec::new();
    // `resolve` looks up `ip - 1`: our addresses are return addresses (or, for the CPU leaf,
    // the interrupted instruction), and the call instruction is the one to attribute.
    backtrace::resolve(ip as *mut std::ffi::c_void, |symbol| {
        let system_name = symbol
            .name()
            .and_then(|n| n.as_str().map(str::to_owned))
            .unwrap_or_default();
        frames.push(Frame {
            function: demangle(&system_name),
            system_name,
            file: symbol
                .filename()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            line: symbol.lineno().unwrap_or(0),
            entry: symbol.addr().map_or(0, |a| a as usize),
        });
    });
    // The last frame is the function the address really lies in (the others were inlined into
    // it); the symbol table names it with its full path even when DWARF has only a short name.
    if let Some((mangled, entry)) = crate::symtab::function_containing(ip.wrapping_sub(1)) {
        let function = demangle(mangled);
        match frames.last_mut() {
            Some(outer) => {
                outer.function = function;
                outer.system_name = mangled.to_owned();
                outer.entry = entry;
            }
            None => frames.push(Frame {
                function,
                system_name: mangled.to_owned(),
                file: String::new(),
                line: 0,
                entry,
            }),
        }
    }
    if frames.is_empty() {
        frames.push(Frame {
            function: format!("{ip:#x}"),
            system_name: String::new(),
            file: String::new(),
            line: 0,
            entry: 0,
        });
    }
    let frames: Arc<[Frame]> = frames.into();
    if let Ok(mut c) = cache().lock() {
        c.insert(ip, Arc::clone(&frames));
    }
    frames
}

/// Decides which leading (innermost) frames of a stack are machinery rather than the caller,
/// e.g. the allocator under a heap sample or the lock implementation under a mutex sample.
pub type TrimFn = fn(&Frame) -> bool;

/// One address of a symbolised stack.
pub struct StackEntry {
    /// The address.
    pub ip: usize,
    /// Its frames, innermost inlined function first.
    pub frames: Arc<[Frame]>,
    /// How many leading frames of `frames` were trimmed.
    pub skip: usize,
}

impl StackEntry {
    /// The frames kept after trimming.
    pub fn kept(&self) -> &[Frame] {
        &self.frames[self.skip..]
    }
}

/// Symbolises `stack` (innermost first), dropping leading frames for which `trim` holds: whole
/// addresses, then the inlined frames of the first address that is kept.
pub fn symbolize_stack(stack: &[usize], trim: Option<TrimFn>) -> Vec<StackEntry> {
    let mut out = Vec::with_capacity(stack.len());
    let mut trimming = trim;
    for &ip in stack {
        let frames = symbolize(ip);
        let mut skip = 0;
        if let Some(trim) = trimming {
            skip = frames.iter().take_while(|f| trim(f)).count();
            if skip == frames.len() {
                continue;
            }
            trimming = None;
        }
        out.push(StackEntry { ip, frames, skip });
    }
    out
}

/// Rust symbols to their path without hash; anything else (C, C++) unchanged.
fn demangle(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_owned(),
    }
}

/// The name Go's `runtime.FuncForPC` would give: the function containing `ip` (not an inlined
/// callee), used by `/debug/pprof/symbol`.
pub fn function_name(ip: usize) -> Option<String> {
    let frames = symbolize(ip + 1);
    frames
        .last()
        .filter(|f| !f.system_name.is_empty())
        .map(|f| f.function.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn known_function() -> usize {
        std::hint::black_box(known_function as fn() -> usize as usize)
    }

    #[test]
    fn names_carry_the_module_path_and_no_hash() {
        let start = known_function();
        let frames = symbolize(start + 2);
        let last = frames.last().expect("at least one frame");
        assert!(
            last.function.ends_with("symbolize::tests::known_function"),
            "got {:?}",
            last.function
        );
        assert!(last.file.ends_with("symbolize.rs"), "got {:?}", last.file);
        assert!(last.line > 0);
    }
}
