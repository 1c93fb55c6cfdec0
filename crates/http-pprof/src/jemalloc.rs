//! jemalloc glue: the allocator type and the `malloc_conf` symbol a binary needs for heap
//! profiling. Use the [`jemalloc_profiling!`](crate::jemalloc_profiling) macro once, in the
//! binary crate:
//!
//! ```no_run
//! http_pprof::jemalloc_profiling!();
//! # fn main() {}
//! ```
//!
//! It makes jemalloc the `#[global_allocator]` and sets jemalloc's compile-time options to
//! `prof:true,prof_active:true,lg_prof_sample:19,prof_accum:true`:
//! - `prof:true,prof_active:true`: sample allocations from the first one on;
//! - `lg_prof_sample:19`: one sample per 512 KiB allocated on average (Go samples every 512 KiB);
//! - `prof_accum:true`: keep cumulative counts per stack, freed or not, which is what
//!   `/debug/pprof/allocs` reports.
//!
//! The environment variable `MALLOC_CONF` (or `_RJEM_MALLOC_CONF` where jemalloc is prefixed)
//! still overrides these at start-up.

pub use tikv_jemallocator::Jemalloc;

/// The options jemalloc reads at start-up, as the C `const char *malloc_conf` it expects.
#[repr(transparent)]
pub struct MallocConf(*const u8);

// SAFETY: points to a `'static` immutable string.
unsafe impl Sync for MallocConf {}

impl MallocConf {
    /// Wraps a NUL-terminated option string, e.g. `"prof:true\0"`.
    pub const fn new(conf: &'static str) -> Self {
        let bytes = conf.as_bytes();
        assert!(
            !bytes.is_empty() && bytes[bytes.len() - 1] == 0,
            "malloc_conf must end with a NUL byte"
        );
        Self(bytes.as_ptr())
    }
}

/// jemalloc options that turn heap and allocation profiling on (see the module docs).
pub const PROFILING_CONF: &str = "prof:true,prof_active:true,lg_prof_sample:19,prof_accum:true\0";

/// Makes jemalloc the global allocator with heap profiling on. Call once, at the top level of
/// a binary crate. An optional string literal replaces the default options.
#[macro_export]
macro_rules! jemalloc_profiling {
    () => {
        $crate::__jemalloc_profiling_with!($crate::jemalloc::PROFILING_CONF);
    };
    ($conf:literal) => {
        $crate::__jemalloc_profiling_with!(concat!($conf, "\0"));
    };
}

/// Implementation of [`jemalloc_profiling!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __jemalloc_profiling_with {
    ($conf:expr) => {
        #[global_allocator]
        static GLOBAL_ALLOCATOR: $crate::jemalloc::Jemalloc = $crate::jemalloc::Jemalloc;

        // jemalloc is built unprefixed on Linux (tikv-jemallocator's
        // `unprefixed_malloc_on_supported_platforms`), prefixed with `_rjem_` elsewhere.
        #[cfg_attr(
            any(
                target_os = "macos",
                target_os = "ios",
                target_os = "android",
                target_env = "msvc"
            ),
            unsafe(export_name = "_rjem_malloc_conf")
        )]
        #[cfg_attr(
            not(any(
                target_os = "macos",
                target_os = "ios",
                target_os = "android",
                target_env = "msvc"
            )),
            unsafe(export_name = "malloc_conf")
        )]
        #[used]
        static MALLOC_CONF: $crate::jemalloc::MallocConf = $crate::jemalloc::MallocConf::new($conf);
    };
}

/// Reads a jemalloc control by name, `None` when jemalloc lacks it (e.g. built without `prof`).
fn read<T: Copy>(name: &[u8]) -> Option<T> {
    // SAFETY: every caller passes a NUL-terminated documented mallctl name with its documented
    // type.
    unsafe { tikv_jemalloc_ctl::raw::read::<T>(name) }.ok()
}

/// Switches jemalloc's allocation sampling off for the calling thread until dropped, then back
/// to what it was (`thread.prof.active`).
///
/// The profiler's own work (symbolising, encoding, parsing a dump) runs under this guard so that
/// heap and allocs profiles show the service, not the profiler: sampled allocations are the only
/// ones a profile can report, so unsampled ones are invisible to it by construction.
pub struct UnsampledThread {
    previous: Option<bool>,
    /// `thread.prof.active` is per thread: the guard must be dropped where it was made.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl UnsampledThread {
    /// Stops sampling on this thread. Nesting is fine: the innermost guard restores `false`.
    pub fn enter() -> Self {
        let previous = read::<bool>(b"thread.prof.active\0");
        if previous == Some(true) {
            // SAFETY: documented name and type (bool); affects only the calling thread.
            let _ = unsafe { tikv_jemalloc_ctl::raw::write(b"thread.prof.active\0", false) };
        }
        Self {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for UnsampledThread {
    fn drop(&mut self) {
        if self.previous == Some(true) {
            // SAFETY: as in `enter`; drop runs on the thread that created the guard (!Send).
            let _ = unsafe { tikv_jemalloc_ctl::raw::write(b"thread.prof.active\0", true) };
        }
    }
}

/// Returns memory that jemalloc holds but nobody uses to the OS: flushes this thread's cache
/// and purges the dirty and muzzy pages of every arena (`arena.<MALLCTL_ARENAS_ALL>.purge`).
/// jemalloc would do this itself after `dirty_decay_ms` (10 s by default); calling it makes
/// RSS fall right away, e.g. after the symboliser dropped its caches or for `heap?gc=1`.
pub fn purge() {
    call_void(b"thread.tcache.flush\0");
    // 4096 is MALLCTL_ARENAS_ALL.
    call_void(b"arena.4096.purge\0");
}

/// Invokes a control that takes and returns nothing. jemalloc rejects such a call (EPERM)
/// unless every pointer is null, which tikv-jemalloc-ctl's `write` never passes.
fn call_void(name: &[u8]) -> bool {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: `name` is NUL-terminated; null old/new pointers with zero lengths are the
    // documented way to invoke a void control.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}

/// jemalloc's global statistics, refreshed (`epoch`) when read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `stats.allocated`: bytes in allocations the program holds.
    pub allocated: u64,
    /// `stats.active`: bytes in pages holding live allocations (a multiple of the page size).
    pub active: u64,
    /// `stats.resident`: bytes of allocator-owned pages physically resident.
    pub resident: u64,
    /// `stats.mapped`: bytes in extents the allocator has mapped and in use.
    pub mapped: u64,
    /// `stats.retained`: virtual memory kept mapped but released to the OS (`madvise`).
    pub retained: u64,
    /// `stats.metadata`: bytes of the allocator's own bookkeeping.
    pub metadata: u64,
    /// Allocations made since start, all arenas (small + large `nmalloc`).
    pub mallocs: u64,
    /// Deallocations since start, all arenas (small + large `ndalloc`).
    pub frees: u64,
}

/// Reads [`Stats`] now; fields jemalloc cannot report are 0.
pub fn stats() -> Stats {
    // SAFETY: writing the `epoch` control (u64) makes jemalloc refresh its cached statistics.
    let _ = unsafe { tikv_jemalloc_ctl::raw::write(b"epoch\0", 1u64) };
    let size = |name: &[u8]| read::<usize>(name).unwrap_or(0) as u64;
    let count = |name: &[u8]| read::<u64>(name).unwrap_or(0);
    Stats {
        allocated: size(b"stats.allocated\0"),
        active: size(b"stats.active\0"),
        resident: size(b"stats.resident\0"),
        mapped: size(b"stats.mapped\0"),
        retained: size(b"stats.retained\0"),
        metadata: size(b"stats.metadata\0"),
        mallocs: count(b"stats.arenas.4096.small.nmalloc\0")
            + count(b"stats.arenas.4096.large.nmalloc\0"),
        frees: count(b"stats.arenas.4096.small.ndalloc\0")
            + count(b"stats.arenas.4096.large.ndalloc\0"),
    }
}

/// The `# runtime.MemStats` trailer Go writes after a `debug=1` heap profile, from jemalloc's
/// statistics. pprof ignores it; people read it. Go's field names are used where jemalloc has a
/// counterpart of the same meaning; the line after the title says which statistic each is.
/// Fields without a counterpart (GC, stacks, spans) are left out rather than printed as 0.
pub fn memstats_text() -> String {
    let s = stats();
    let sys = s.mapped + s.retained + s.metadata;
    let mut out = String::from("\n# runtime.MemStats\n");
    out.push_str(
        "# (jemalloc: Alloc, HeapAlloc = stats.allocated; Sys = stats.mapped + stats.retained + \
         stats.metadata; Mallocs, Frees = nmalloc, ndalloc of all arenas; HeapSys = \
         stats.mapped; HeapIdle = stats.mapped - stats.active; HeapInuse = stats.active; \
         HeapReleased = stats.retained; HeapObjects = Mallocs - Frees; OtherSys = \
         stats.metadata; Resident = stats.resident, no Go counterpart)\n",
    );
    let fields: [(&str, u64); 12] = [
        ("Alloc", s.allocated),
        ("Sys", sys),
        ("Mallocs", s.mallocs),
        ("Frees", s.frees),
        ("HeapAlloc", s.allocated),
        ("HeapSys", s.mapped),
        ("HeapIdle", s.mapped.saturating_sub(s.active)),
        ("HeapInuse", s.active),
        ("HeapReleased", s.retained),
        ("HeapObjects", s.mallocs.saturating_sub(s.frees)),
        ("OtherSys", s.metadata),
        ("Resident", s.resident),
    ];
    for (name, value) in fields {
        out.push_str(&format!("# {name} = {value}\n"));
    }
    if let Some(max_rss) = max_rss_bytes() {
        out.push_str(&format!("# MaxRSS = {max_rss}\n"));
    }
    out
}

/// Peak resident set size, as Go's `addMaxRSS` prints it (`getrusage`, kilobytes on Linux).
fn max_rss_bytes() -> Option<u64> {
    // SAFETY: `rusage` is plain data; getrusage fills it and reports failure by return value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a live `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    u64::try_from(usage.ru_maxrss).ok().map(|kb| kb * 1024)
}
