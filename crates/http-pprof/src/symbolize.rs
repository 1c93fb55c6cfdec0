//! Addresses to source frames, in-process, with inlined functions as separate frames.
//!
//! The same symboliser serves every profile (CPU, heap, goroutine, mutex, block), so a function
//! has one name everywhere: the full demangled path without the hash suffix, e.g.
//! `matching::book::OrderBook::insert`. Results are cached per address because profiles repeat
//! the same return addresses many times and DWARF lookups are slow.
//!
//! The profiler must not distort the service it profiles, so the symboliser:
//! - allocates with jemalloc's sampling off on its thread ([`unsampled`]): its DWARF caches and
//!   results never show up in the heap and allocs profiles;
//! - keeps its memory only while it is in use: [`IDLE_DROP`] after the last lookup, a
//!   background thread drops the address cache and `backtrace`'s DWARF caches (which hold the
//!   parsed debug info, tens of MB for a service) and hands the freed pages back to the OS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

/// How long the symboliser keeps its caches after the last lookup. Long enough that the
/// requests of one `go tool pprof` session (or a scrape of every profile type) share one
/// parse of the debug info, short enough that an idle service does not carry it.
pub const IDLE_DROP: Duration = Duration::from_secs(2);

/// Beyond this many cached addresses the cache is emptied even while busy, so that a
/// long-running stream of new addresses cannot grow it without bound.
const MAX_CACHED_ADDRESSES: usize = 100_000;

/// Cache of symbolised addresses. A std mutex: held only around map access, never across a
/// DWARF lookup of another address, and never on a hot path of the service.
fn cache() -> &'static Mutex<HashMap<usize, Arc<[Frame]>>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<[Frame]>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Runs `f` with jemalloc's allocation sampling off on this thread, so that what the profiler
/// allocates (symbols, encoded profiles) is not reported as the service's memory.
pub fn unsampled<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "jemalloc")]
    let _guard = crate::jemalloc::UnsampledThread::enter();
    f()
}

/// Polls `future` with jemalloc sampling off on whichever thread polls it, one poll at a time:
/// a guard held across an `.await` would also silence the other tasks of that worker.
pub async fn unsampled_polls<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| unsampled(|| future.as_mut().poll(cx))).await
}

/// Milliseconds since [`epoch`] of the last cache miss.
static LAST_USE_MS: AtomicU64 = AtomicU64::new(0);
/// True while the caches may hold something worth dropping.
static CACHED: AtomicBool = AtomicBool::new(false);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Records a lookup and wakes the thread that drops the caches once they sit idle.
fn note_use() {
    LAST_USE_MS.store(now_ms(), Ordering::Relaxed);
    if !CACHED.swap(true, Ordering::AcqRel) {
        if let Some(reaper) = reaper() {
            reaper.unpark();
        }
    }
}

/// The background thread behind [`IDLE_DROP`], started on first use. It sleeps (parked) while
/// there is nothing cached.
fn reaper() -> Option<&'static std::thread::Thread> {
    static REAPER: OnceLock<Option<std::thread::Thread>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("pprof-symcache".into())
                .spawn(|| unsampled(reap_forever))
                .ok()
                .map(|h| h.thread().clone())
        })
        .as_ref()
}

fn reap_forever() {
    loop {
        if !CACHED.load(Ordering::Acquire) {
            std::thread::park();
            continue;
        }
        let idle = now_ms().saturating_sub(LAST_USE_MS.load(Ordering::Relaxed));
        let limit = u64::try_from(IDLE_DROP.as_millis()).unwrap_or(u64::MAX);
        if idle >= limit {
            drop_caches();
        } else {
            std::thread::park_timeout(Duration::from_millis(limit - idle));
        }
    }
}

/// Drops every symbolisation cache now and returns the freed memory to the OS. The next lookup
/// parses the debug info again.
pub fn drop_caches() {
    CACHED.store(false, Ordering::Release);
    if let Ok(mut c) = cache().lock() {
        *c = HashMap::new();
    }
    backtrace::clear_symbol_cache();
    #[cfg(feature = "jemalloc")]
    crate::jemalloc::purge();
}

/// The frames at return address `ip`, innermost inlined function first, its outermost caller
/// (the function the address lies in) last. Unknown addresses give one frame named by address.
pub fn symbolize(ip: usize) -> Arc<[Frame]> {
    if let Some(hit) = cache().lock().ok().and_then(|c| c.get(&ip).cloned()) {
        return hit;
    }
    let frames = unsampled(|| resolve(ip));
    note_use();
    frames
}

/// The uncached lookup behind [`symbolize`]; allocations here belong to the profiler.
fn resolve(ip: usize) -> Arc<[Frame]> {
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
        if c.len() >= MAX_CACHED_ADDRESSES {
            *c = HashMap::new();
        }
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
/// addresses, then the inlined frames of the first address that is kept. A stack that would
/// lose every frame is kept whole: an empty stack would hide the sample's cost entirely.
pub fn symbolize_stack(stack: &[usize], trim: Option<TrimFn>) -> Vec<StackEntry> {
    let out = trimmed_stack(stack, trim);
    if out.is_empty() && trim.is_some() {
        return trimmed_stack(stack, None);
    }
    out
}

fn trimmed_stack(stack: &[usize], trim: Option<TrimFn>) -> Vec<StackEntry> {
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

/// The name Go's `runtime.FuncForPC(pc).Name()` gives, for `/debug/pprof/symbol`: where `pc`
/// lies in code inlined into another function, the innermost inlined function ("If pc
/// represents multiple functions because of inlining, it returns the *Func describing the
/// innermost function"). `None` when no symbol covers `pc`.
pub fn function_name(pc: usize) -> Option<String> {
    // `symbolize` takes return addresses and looks up the byte before; `pc` is exact.
    let frames = symbolize(pc.wrapping_add(1));
    let known = frames.last().is_some_and(|f| !f.system_name.is_empty());
    known
        .then(|| frames.first().map(|f| f.function.clone()))
        .flatten()
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

    /// Return addresses of the current stack, innermost first.
    #[inline(never)]
    fn capture_stack() -> Vec<usize> {
        let mut ips = Vec::new();
        backtrace::trace(|f| {
            ips.push(f.ip() as usize);
            ips.len() < 32
        });
        ips
    }

    #[inline(always)]
    fn inlined_into_outer() -> Vec<usize> {
        std::hint::black_box(capture_stack())
    }

    #[inline(never)]
    fn outer_with_inlined_call() -> Vec<usize> {
        std::hint::black_box(inlined_into_outer())
    }

    #[test]
    fn symbol_names_the_innermost_inlined_function_like_go() {
        let ips = outer_with_inlined_call();
        // The return address into `outer_with_inlined_call` lies in the inlined body.
        let ret = ips
            .iter()
            .copied()
            .find(|&ip| {
                symbolize(ip)
                    .last()
                    .is_some_and(|f| f.function.ends_with("outer_with_inlined_call"))
            })
            .expect("the caller is on the captured stack");
        let frames = symbolize(ret);
        assert!(
            frames.len() >= 2 && frames[0].function.ends_with("inlined_into_outer"),
            "inline-aware frames expected, got {frames:?}"
        );
        // Go's FuncForPC on the call instruction: the inlined callee, not its host.
        let name = function_name(ret - 1).expect("named");
        assert!(name.ends_with("tests::inlined_into_outer"), "got {name}");
        // A pc outside any inlined code names the function itself.
        let start = known_function();
        let own = function_name(start).expect("named");
        assert!(own.ends_with("tests::known_function"), "got {own}");
    }

    #[test]
    fn dropping_caches_keeps_answers() {
        let start = known_function();
        let before = symbolize(start + 2);
        drop_caches();
        assert!(cache().lock().map(|c| c.is_empty()).unwrap_or(false));
        assert_eq!(symbolize(start + 2), before);
    }
}
