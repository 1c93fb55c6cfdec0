//! Heap and allocs profiles from jemalloc's sampling heap profiler.
//!
//! We ask jemalloc to dump its profile (`prof.dump`) to a temporary file, parse that text
//! (`heap_v2` format: `@ addr...` stacks each followed by `t*: inuse_objs: inuse_bytes
//! [alloc_objs: alloc_bytes]`), scale the sampled counts to estimates the way Go does
//! (`scaleHeapSample`), and symbolise in-process. Both profiles carry Go's four sample types
//! `alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes`, like Go's
//! heap and allocs profiles, which are the same data with a different default:
//! - `heap` shows `inuse_space` by default: sampled live allocations;
//! - `allocs` shows `alloc_space`: everything sampled since start, freed or not. This needs
//!   jemalloc's `prof_accum:true` (set by [`jemalloc_profiling!`](crate::jemalloc_profiling));
//!   without it the alloc_* values are zero and a comment in the profile says so.
//!
//! Stacks start at the function that allocated, as in Go: the allocator (jemalloc, the Rust
//! allocator shims) and the standard library's allocating wrappers (`RawVec` growth,
//! `Box::new`, `String::push_str`, `hashbrown`'s table growth, ...) are trimmed from the leaf
//! end by [`is_allocation_wrapper_frame`]. `?trim=0` keeps the wrappers (only the allocator
//! itself is trimmed, as Go hides `runtime.mallocgc`).
//!
//! Everything here runs with jemalloc sampling off on the calling thread
//! ([`crate::symbolize::unsampled`]), so reading a profile does not add to the next one.
//!
//! `heap?gc=1` has no garbage collector to run: it purges jemalloc's unused pages instead
//! ([`crate::jemalloc::purge`]), which lowers RSS but does not change the profile, because
//! jemalloc's profile forgets freed objects at once (Go's waits for a GC).

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::PprofError;
use crate::raw_profile::{merge_samples, RawProfile, RawSample, TextLayout};
use crate::symbolize::Frame;

/// What a heap profile reader needs to know about jemalloc's profiler state.
fn check_active() -> Result<(), PprofError> {
    // SAFETY: reading documented mallctl names with their documented types (bool).
    let built = unsafe { tikv_jemalloc_ctl::raw::read::<bool>(b"opt.prof\0") };
    match built {
        Err(_) => Err(PprofError::HeapInactive(
            "jemalloc is not the allocator or was built without profiling".into(),
        )),
        Ok(false) => Err(PprofError::HeapInactive(
            "jemalloc profiling is off: use http_pprof::jemalloc_profiling!() in the binary \
             or start it with MALLOC_CONF=prof:true,prof_active:true,prof_accum:true"
                .into(),
        )),
        Ok(true) => {
            // SAFETY: as above.
            match unsafe { tikv_jemalloc_ctl::raw::read::<bool>(b"prof.active\0") } {
                Ok(true) => Ok(()),
                _ => Err(PprofError::HeapInactive(
                    "jemalloc profiling is built in but prof.active is false".into(),
                )),
            }
        }
    }
}

/// Asks jemalloc for its current profile, as text.
fn dump_jemalloc_profile() -> Result<String, PprofError> {
    check_active()?;
    static DUMP_SEQ: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "http-pprof-{}-{}.heap",
        std::process::id(),
        DUMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let c_path = CString::new(path.display().to_string())
        .map_err(|e| PprofError::Collect(format!("temp path: {e}")))?;
    // SAFETY: `prof.dump` takes a `const char *` file name; `c_path` outlives the call.
    unsafe { tikv_jemalloc_ctl::raw::write(b"prof.dump\0", c_path.as_ptr()) }
        .map_err(|e| PprofError::Collect(format!("prof.dump: {e}")))?;
    let text = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    text.map_err(|e| PprofError::Collect(format!("reading {}: {e}", path.display())))
}

/// One stack of a jemalloc dump, counts as sampled (not yet scaled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JemallocRecord {
    /// Return addresses, innermost first.
    pub stack: Vec<usize>,
    /// Sampled live objects.
    pub inuse_objects: u64,
    /// Sampled live bytes.
    pub inuse_bytes: u64,
    /// Sampled objects ever allocated here (needs `prof_accum`).
    pub alloc_objects: u64,
    /// Sampled bytes ever allocated here (needs `prof_accum`).
    pub alloc_bytes: u64,
}

/// Parses jemalloc's `heap_v2` dump: returns the mean sampling interval in bytes and the records.
pub fn parse_jemalloc_dump(text: &str) -> Result<(u64, Vec<JemallocRecord>), String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty dump")?;
    let rate = header
        .strip_prefix("heap_v2/")
        .and_then(|r| r.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("unexpected header {header:?}"))?;
    let mut records = Vec::new();
    let mut pending: Option<Vec<usize>> = None;
    for line in lines {
        if line.starts_with("MAPPED_LIBRARIES") {
            break;
        }
        if let Some(addrs) = line.strip_prefix('@') {
            let stack = addrs
                .split_whitespace()
                .map(|a| usize::from_str_radix(a.trim_start_matches("0x"), 16))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("bad address in {line:?}: {e}"))?;
            pending = Some(stack);
        } else if let Some(counts) = line.trim_start().strip_prefix("t*:") {
            // The first `t*:` (before any `@`) is the process total; skip it.
            if let Some(stack) = pending.take() {
                let n: Vec<u64> = counts
                    .split(|c: char| c.is_whitespace() || c == ':' || c == '[' || c == ']')
                    .filter(|s| !s.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("bad counts in {line:?}: {e}"))?;
                if n.len() < 4 {
                    return Err(format!("short counts line {line:?}"));
                }
                records.push(JemallocRecord {
                    stack,
                    inuse_objects: n[0],
                    inuse_bytes: n[1],
                    alloc_objects: n[2],
                    alloc_bytes: n[3],
                });
            }
        }
    }
    Ok((rate, records))
}

/// Go's `scaleHeapSample`: a sampled (count, bytes) pair to an estimate of the true totals,
/// given that an allocation of size s is sampled with probability 1 - exp(-s/rate).
pub fn scale_heap_sample(count: u64, bytes: u64, rate: u64) -> (i64, i64) {
    if count == 0 || bytes == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count as i64, bytes as i64);
    }
    let avg = bytes as f64 / count as f64;
    let scale = 1.0 / (1.0 - (-avg / rate as f64).exp());
    ((count as f64 * scale) as i64, (bytes as f64 * scale) as i64)
}

/// True for frames of jemalloc and the Rust allocator shims, which sit on top of every heap
/// stack and say nothing about the caller (Go trims `runtime.mallocgc` the same way).
pub fn is_allocator_frame(frame: &Frame) -> bool {
    // jemalloc's C sources (and its inlined internals such as `irallocx_prof`) live under a
    // `jemalloc` directory of tikv-jemalloc-sys.
    // Rust's allocator entry points (`alloc`, `grow_impl_runtime`, ...) are recognised by their
    // source file too, because release builds name inlined frames without a module path.
    frame.file.contains("jemalloc")
        || frame.file.ends_with("/alloc/src/alloc.rs")
        || frame.file.ends_with("/std/src/alloc.rs")
        || frame.file.contains("/std/src/sys/alloc/")
        || is_allocator_function(&frame.function)
}

/// Function-name half of [`is_allocator_frame`], for frames without file information.
fn is_allocator_function(function: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "prof_",
        "je_",
        "_rjem_",
        "imalloc",
        "ialloc",
        "irallocx",
        "iralloc",
        "ipalloc",
        "isalloc",
        "idalloc",
        "ixalloc",
        "sdallocx",
        "xallocx",
        "malloc",
        "calloc",
        "realloc",
        "rallocx",
        "do_rallocx",
        "mallocx",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "arena_",
        "tcache_",
        "_Unwind_Backtrace",
        "__rustc::",
        "__rust_alloc",
        "__rust_realloc",
        "__rust_alloc_zeroed",
        "__rdl_",
        "__rg_",
        "alloc::alloc::",
        "<alloc::alloc::Global",
        "<tikv_jemallocator::",
        "tikv_jemallocator::",
        "std::sys::alloc",
        "std::alloc::",
        "<std::alloc::System",
    ];
    PREFIXES.iter().any(|p| function.starts_with(p))
}

/// True for the leading frames a heap stack drops by default: the allocator
/// ([`is_allocator_frame`]) and the standard library's allocating wrappers, i.e. any frame from
/// the sources of `alloc`, `core`, `std` or `hashbrown` (std's `HashMap`). Applied from the
/// leaf up until the first frame that is not one, so `Vec::push` inlined into
/// `OrderBook::insert` leaves `OrderBook::insert` as the leaf, while a std frame further up the
/// stack (a closure's `call_once`) stays.
pub fn is_allocation_wrapper_frame(frame: &Frame) -> bool {
    is_allocator_frame(frame) || is_std_frame(frame)
}

/// A frame from the standard library or `hashbrown`, by source file where the debug info has
/// one, else by the function's path.
fn is_std_frame(frame: &Frame) -> bool {
    const LIBRARIES: &[&str] = &[
        "/library/alloc/src/",
        "/library/core/src/",
        "/library/std/src/",
    ];
    if !frame.file.is_empty() {
        return LIBRARIES.iter().any(|l| frame.file.contains(l))
            || frame.file.contains("/hashbrown-");
    }
    const PATHS: &[&str] = &["alloc::", "core::", "std::", "hashbrown::"];
    let path = frame.function.trim_start_matches('<');
    PATHS.iter().any(|p| path.starts_with(p))
}

/// Which of the two views of the heap data to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapView {
    /// `/debug/pprof/heap`: live memory by default.
    Heap,
    /// `/debug/pprof/allocs`: all sampled allocations by default.
    Allocs,
}

/// What a request asks of the heap collector beyond Go's parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapOptions {
    /// `gc=N`, N > 0 (heap only, as Go): purge jemalloc's unused pages first.
    pub gc: bool,
    /// `trim=0`: keep the standard library's allocating wrappers on top of the stacks.
    pub keep_wrappers: bool,
}

impl HeapOptions {
    /// Reads `gc` (Go's `strconv.Atoi`, errors read as 0) and our `trim` from the query.
    pub fn from_query(view: HeapView, params: &std::collections::HashMap<String, String>) -> Self {
        let int = |name: &str| params.get(name).and_then(|v| v.parse::<i64>().ok());
        Self {
            gc: view == HeapView::Heap && int("gc").is_some_and(|g| g > 0),
            keep_wrappers: int("trim") == Some(0),
        }
    }
}

/// Collects the heap (or allocs) profile now.
pub fn collect(view: HeapView) -> Result<RawProfile, PprofError> {
    collect_with(view, HeapOptions::default())
}

/// [`collect`] with the request's options.
pub fn collect_with(view: HeapView, options: HeapOptions) -> Result<RawProfile, PprofError> {
    crate::symbolize::unsampled(|| {
        if options.gc {
            crate::jemalloc::purge();
        }
        let mut profile = collect_unsampled(view)?;
        if !options.keep_wrappers {
            profile.trim = Some(is_allocation_wrapper_frame);
        }
        Ok(profile)
    })
}

fn collect_unsampled(view: HeapView) -> Result<RawProfile, PprofError> {
    let text = dump_jemalloc_profile()?;
    let (rate, records) = parse_jemalloc_dump(&text).map_err(PprofError::Collect)?;
    let mut profile = RawProfile::new(
        match view {
            HeapView::Heap => "heap",
            HeapView::Allocs => "allocs",
        },
        vec![
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ],
        ("space", "bytes"),
        i64::try_from(rate).unwrap_or(i64::MAX),
        TextLayout::Heap,
    );
    if view == HeapView::Allocs {
        profile.default_sample_type = Some("alloc_space");
    }
    profile.trim = Some(is_allocator_frame);
    // SAFETY: documented mallctl name and type.
    let accum =
        unsafe { tikv_jemalloc_ctl::raw::read::<bool>(b"opt.prof_accum\0") }.unwrap_or(false);
    if !accum {
        profile
            .comments
            .push("jemalloc prof_accum is off: alloc_objects/alloc_space are not recorded".into());
    }
    let mut samples = Vec::with_capacity(records.len());
    for r in records {
        let sampled = profile.heap_sampled.entry(r.stack.clone()).or_default();
        for (total, v) in sampled.iter_mut().zip([
            r.inuse_objects,
            r.inuse_bytes,
            r.alloc_objects,
            r.alloc_bytes,
        ]) {
            *total += i64::try_from(v).unwrap_or(i64::MAX);
        }
        let (alloc_objects, alloc_space) = scale_heap_sample(r.alloc_objects, r.alloc_bytes, rate);
        let (inuse_objects, inuse_space) = scale_heap_sample(r.inuse_objects, r.inuse_bytes, rate);
        samples.push(RawSample {
            stack: r.stack,
            values: vec![alloc_objects, alloc_space, inuse_objects, inuse_space],
            labels: Vec::new(),
        });
    }
    profile.samples = merge_samples(samples);
    Ok(profile)
}

/// Number of distinct allocation stacks, for the index page.
pub fn record_count() -> usize {
    crate::symbolize::unsampled(|| {
        dump_jemalloc_profile()
            .ok()
            .and_then(|t| parse_jemalloc_dump(&t).ok())
            .map_or(0, |(_, r)| r.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_heap_v2_dump() {
        let dump = "heap_v2/524288\n  t*: 3: 300 [9: 900]\n  t0: 3: 300 [9: 900]\n\
                    @ 0x10 0x20 0x30\n  t*: 2: 200 [5: 500]\n  t0: 2: 200 [5: 500]\n\
                    @ 0x40\n  t*: 1: 100 [4: 400]\n\nMAPPED_LIBRARIES:\n55-66 r-xp x\n";
        let (rate, records) = parse_jemalloc_dump(dump).expect("valid dump");
        assert_eq!(rate, 524288);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].stack, vec![0x10, 0x20, 0x30]);
        assert_eq!(
            (
                records[0].inuse_objects,
                records[0].inuse_bytes,
                records[0].alloc_objects,
                records[0].alloc_bytes
            ),
            (2, 200, 5, 500)
        );
        assert_eq!(records[1].stack, vec![0x40]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_jemalloc_dump("hello").is_err());
        assert!(parse_jemalloc_dump("heap_v2/8\n@ zz\n").is_err());
    }

    #[test]
    fn scaling_matches_go() {
        // A single 512 KiB object at rate 512 KiB: scale 1/(1-e^-1) = 1.582.
        let (n, b) = scale_heap_sample(1, 524288, 524288);
        assert_eq!(n, 1);
        assert_eq!(b, 829_411);
        assert_eq!(scale_heap_sample(0, 10, 524288), (0, 0));
    }

    #[test]
    fn allocator_frames_are_recognised() {
        let frame = |function: &str, file: &str| Frame {
            function: function.into(),
            system_name: String::new(),
            file: file.into(),
            line: 1,
            entry: 0,
        };
        assert!(is_allocator_frame(&frame("_rjem_je_prof_backtrace", "")));
        assert!(is_allocator_frame(&frame("prof_backtrace_impl", "")));
        assert!(is_allocator_frame(&frame("__rustc::__rust_alloc", "")));
        assert!(is_allocator_frame(&frame(
            "irallocx_prof",
            "/x/tikv-jemalloc-sys-0.7.0/jemalloc/src/jemalloc.c"
        )));
        assert!(is_allocator_frame(&frame(
            "alloc::alloc::exchange_malloc",
            ""
        )));
        assert!(!is_allocator_frame(&frame(
            "alloc::raw_vec::RawVecInner<A>::try_allocate_in",
            "/rustc/x/library/alloc/src/raw_vec/mod.rs"
        )));
        assert!(!is_allocator_frame(&frame(
            "matching::book::OrderBook::insert",
            "crates/matching/src/book.rs"
        )));
    }

    #[test]
    fn std_wrappers_are_trimmed_but_not_applications() {
        let frame = |function: &str, file: &str| Frame {
            function: function.into(),
            system_name: String::new(),
            file: file.into(),
            line: 1,
            entry: 0,
        };
        for (function, file) in [
            (
                "alloc::raw_vec::RawVecInner<A>::finish_grow",
                "/rustc/abc/library/alloc/src/raw_vec/mod.rs",
            ),
            ("finish_grow", "/rustc/abc/library/alloc/src/raw_vec/mod.rs"),
            ("box_new_uninit", "/rustc/abc/library/alloc/src/boxed.rs"),
            (
                "alloc::string::String::push_str",
                "/rustc/abc/library/alloc/src/string.rs",
            ),
            (
                "hashbrown::raw::RawTable<T,A>::reserve_rehash",
                "/x/hashbrown-0.15.2/src/raw/mod.rs",
            ),
            ("<alloc::vec::Vec<T> as core::clone::Clone>::clone", ""),
            ("core::ptr::drop_in_place<x>", ""),
        ] {
            assert!(
                is_allocation_wrapper_frame(&frame(function, file)),
                "{function} should be trimmed"
            );
        }
        for (function, file) in [
            (
                "matching::book::OrderBook::insert",
                "crates/matching/src/book.rs",
            ),
            (
                "bytes::bytes_mut::BytesMut::reserve_inner",
                "/x/bytes-1.9.0/src/bytes_mut.rs",
            ),
            ("tokio::runtime::task::raw::poll", ""),
            ("corelib_of_mine::f", ""),
        ] {
            assert!(
                !is_allocation_wrapper_frame(&frame(function, file)),
                "{function} should be kept"
            );
        }
    }

    #[test]
    fn query_options_follow_go() {
        let q = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(HeapOptions::from_query(HeapView::Heap, &q(&[("gc", "1")])).gc);
        assert!(!HeapOptions::from_query(HeapView::Heap, &q(&[("gc", "0")])).gc);
        assert!(!HeapOptions::from_query(HeapView::Heap, &q(&[("gc", "x")])).gc);
        // Go runs the GC for `heap` only.
        assert!(!HeapOptions::from_query(HeapView::Allocs, &q(&[("gc", "1")])).gc);
        assert!(HeapOptions::from_query(HeapView::Allocs, &q(&[("trim", "0")])).keep_wrappers);
        assert!(!HeapOptions::from_query(HeapView::Heap, &q(&[])).keep_wrappers);
    }
}
