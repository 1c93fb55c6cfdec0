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
