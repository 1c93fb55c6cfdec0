//! The committed profiles of our own service (trading-api under load, one in-service chaos
//! fault at a time; `tests/data/simex/`, captured as `tests/data/README.md` shows): real frame
//! names from our binaries classify into their category, and the analyzer names each fault's
//! kind of work.

#![allow(clippy::unwrap_used)]

mod frame_table;

use std::path::{Path, PathBuf};

use profile_tools::analyze::{analyze, Analysis, Input};
use profile_tools::categories::{classify, Category, FrameClass};
use profile_tools::{Profile, ProfileKind};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/simex")
        .join(name)
}

fn load(name: &str) -> Profile {
    Profile::from_path(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn analyze_fixture(name: &str) -> Analysis {
    let p = load(name);
    let path = data(name);
    analyze(
        Input {
            profile: &p,
            index: p.default_index,
            path: &path,
        },
        None,
    )
}

const JSON: &str = "cpu_profile_trading-api_json-heavy.pb.gz";
const REGEX: &str = "cpu_profile_trading-api_regex-hot.pb.gz";
const FMT: &str = "cpu_profile_trading-api_fmt-heavy.pb.gz";
const HASH: &str = "cpu_profile_trading-api_hash-heavy.pb.gz";
const ALLOC: &str = "cpu_profile_trading-api_alloc-churn.pb.gz";
const LOCK_CPU: &str = "cpu_profile_trading-api_lock-contention.pb.gz";
const MUTEX: &str = "mutex_profile_trading-api_lock-contention.pb.gz";
const BLOCK: &str = "block_profile_trading-api_slow-journal.pb.gz";
const HEAP: &str = "heap_profile_trading-api_memory-leak.pb.gz";
const GOROUTINE: &str = "goroutine_profile_trading-api_task-leak.pb.gz";

/// Every fixture in `tests/data/simex/` with the kind its name gives.
const FIXTURES: &[(&str, ProfileKind)] = &[
    (JSON, ProfileKind::Cpu),
    (REGEX, ProfileKind::Cpu),
    (FMT, ProfileKind::Cpu),
    (HASH, ProfileKind::Cpu),
    (ALLOC, ProfileKind::Cpu),
    (LOCK_CPU, ProfileKind::Cpu),
    (MUTEX, ProfileKind::Mutex),
    (BLOCK, ProfileKind::Block),
    (HEAP, ProfileKind::Heap),
    (GOROUTINE, ProfileKind::Goroutine),
];

#[test]
fn every_service_fixture_decodes_with_its_kind_and_stays_small() {
    for (name, kind) in FIXTURES {
        let size = std::fs::metadata(data(name)).unwrap().len();
        assert!(
            size < 100 * 1024,
            "{name} is {size} bytes; keep fixtures small"
        );
        let p = load(name);
        assert_eq!(p.kind, *kind, "{name}");
        assert!(!p.stacks.is_empty(), "{name} has samples");
        assert!(p.total(p.default_index) > 0, "{name} has a non-zero total");
    }
}

/// Real frame names from our service's profiles, with the category each must get. The test
/// checks both that the frame occurs in that fixture and how it classifies.
const FRAME_TABLE: &[(&str, &str, Category)] = &[
    // Memory: the allocator (jemalloc behind the C entry points), zeroing and Vec growth.
    (ALLOC, "calloc", Category::Memory),
    (ALLOC, "alloc::alloc::alloc_zeroed", Category::Memory),
    (ALLOC, "__memset_avx512_unaligned_erms", Category::Memory),
    (
        HEAP,
        "alloc::raw_vec::RawVecInner<A>::finish_grow",
        Category::Memory,
    ),
    // Lock contention: the book locks are parking_lot mutexes behind our profiled raw mutex.
    // (The mutex profile itself has none of these: see the test on contention profiles.)
    (
        LOCK_CPU,
        "<parking_lot::raw_mutex::RawMutex as lock_api::mutex::RawMutex>::lock",
        Category::LockContention,
    ),
    (
        LOCK_CPU,
        "<contention::mutex::ProfiledRawMutex as lock_api::mutex::RawMutex>::lock",
        Category::LockContention,
    ),
    (
        LOCK_CPU,
        "parking_lot_core::thread_parker::imp::ThreadParker::futex_wait",
        Category::LockContention,
    ),
    // Serialization.
    (
        JSON,
        "serde_json::de::Deserializer<R>::parse_decimal",
        Category::Serialization,
    ),
    // Regex.
    (
        REGEX,
        "regex::builders::string::RegexBuilder::build",
        Category::Regex,
    ),
    (
        REGEX,
        "regex_automata::hybrid::dfa::Cache::new",
        Category::Regex,
    ),
    // Formatting and dynamic dispatch.
    (
        FMT,
        "alloc::fmt::format::format_inner",
        Category::FormattingAndDispatch,
    ),
    (
        FMT,
        "<alloc::boxed::Box<T,A> as core::fmt::Display>::fmt",
        Category::FormattingAndDispatch,
    ),
    // Hashing.
    (
        HASH,
        "<core::hash::sip::Hasher<S> as core::hash::Hasher>::write",
        Category::Hashing,
    ),
    // I/O and syscalls: responses written to the client sockets.
    (
        JSON,
        "<std::sys::fd::unix::FileDesc>::write_vectored",
        Category::IoAndSyscalls,
    ),
    // I/O and syscalls: the journal's fsync, in libc and in std's wrapper.
    (LOCK_CPU, "__GI_fdatasync", Category::IoAndSyscalls),
    (
        LOCK_CPU,
        "<std::sys::fs::unix::File>::datasync::os_datasync",
        Category::IoAndSyscalls,
    ),
    // Memory: jemalloc's internals, whatever their names (tikv-jemalloc-sys's `_rjem_je_`
    // prefix), including its lock and its page purging.
    (
        LOCK_CPU,
        "_rjem_je_tcache_bin_flush_small",
        Category::Memory,
    ),
    (LOCK_CPU, "_rjem_je_pages_purge_forced", Category::Memory),
    // Async runtime: leaked tasks parked in tokio.
    (
        GOROUTINE,
        "tokio::runtime::io::registration::Registration::poll_ready",
        Category::AsyncRuntime,
    ),
];

#[test]
fn real_frame_names_from_our_service_classify_into_their_category() {
    let wrong = frame_table::misclassified(FRAME_TABLE, load);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every category but logging has a frame from our service: trading-api logs only at
    // start-up and when a fault starts, so no profile of it holds a `tracing` frame (see
    // tests/data/README.md); `fixtures.rs` covers logging with `rust_cpu_logging.pb.gz`.
    // Channel and condition waits come from `wait_kind` in contention profiles, not from
    // one frame's class.
    for c in Category::ALL {
        if matches!(c, Category::ChannelContention | Category::ConditionWait) {
            continue;
        }
        let covered = FRAME_TABLE.iter().any(|(_, _, t)| *t == c);
        assert_eq!(covered, c != Category::Logging, "{c:?}");
    }
}

/// Position of `category` among the analysis's categories (ranked by share), if present.
fn rank(a: &Analysis, category: Category) -> Option<usize> {
    a.categories.iter().position(|c| c.category == category)
}

#[test]
fn analyzer_names_each_faults_kind_of_work_first() {
    for (name, expected) in [
        (JSON, Category::Serialization),
        (REGEX, Category::Regex),
        (FMT, Category::FormattingAndDispatch),
        (HASH, Category::Hashing),
        (ALLOC, Category::Memory),
        (HEAP, Category::Memory),
        (GOROUTINE, Category::AsyncRuntime),
    ] {
        let a = analyze_fixture(name);
        assert_eq!(rank(&a, expected), Some(0), "{name}: {:#?}", a.categories);
    }
}

/// On CPU, a contended lock shows as the work done while holding it (waiters park off-CPU;
/// the mutex profile shows them, checked below): the fault's critical section,
/// `spin_for`, is the top hotspot, and the jemalloc frames that used to pass for lock work
/// (`malloc_mutex_lock` inside `_rjem_je_*`) count as memory.
#[test]
fn lock_contention_cpu_profile_names_the_work_under_the_lock() {
    let a = analyze_fixture(LOCK_CPU);
    assert_eq!(
        a.summary.top_hotspot.as_deref(),
        Some("trading_api::venue::spin_for"),
        "{:#?}",
        a.hotspots
    );
    let memory = a
        .categories
        .iter()
        .find(|c| c.category == Category::Memory)
        .unwrap_or_else(|| panic!("no memory category: {:#?}", a.categories));
    assert!(
        memory
            .evidence
            .iter()
            .any(|e| format!("{e:?}").contains("rjem")),
        "{memory:#?}"
    );
}

/// Our mutex and block profiles record the stack of the code that waited (the `contention`
/// crate leaves its own frames out), so their leaves are the service's code, not lock or I/O
/// frames: the analyzer finds the waiting function; a mutex profile's delay is lock contention
/// by definition.
#[test]
fn contention_profiles_point_at_the_waiting_service_code() {
    for (name, frame) in [
        (MUTEX, "matching::exchange::Exchange<R>::lock_book"),
        (
            BLOCK,
            "trading_api::journal::Journal::wait_durable::{{closure}}",
        ),
    ] {
        let p = load(name);
        assert!(
            p.frame_names.iter().any(|n| n == frame),
            "{frame:?} does not occur in {name}"
        );
        assert_eq!(classify(frame), FrameClass::Application, "{frame}");
        let a = analyze_fixture(name);
        let top = a.summary.top_hotspot.as_deref().unwrap_or_default();
        assert!(
            top.starts_with("trading_api::") || top.starts_with("matching::"),
            "{name}: top hotspot {top}"
        );
    }
    let a = analyze_fixture(MUTEX);
    assert_eq!(
        rank(&a, Category::LockContention),
        Some(0),
        "{:#?}",
        a.categories
    );
}

/// `to_string` through the blanket `SpecToString` impl is formatting, as the category says.
#[test]
fn spec_to_string_from_our_fmt_profile_is_formatting() {
    let frame = "<T as alloc::string::SpecToString>::spec_to_string";
    assert!(load(FMT).frame_names.iter().any(|n| n == frame));
    assert_eq!(
        classify(frame),
        FrameClass::Work(Category::FormattingAndDispatch)
    );
}

/// A CPU profile's own comments reach the report, and a profile whose samples cover little of
/// the CPU used carries a caution in the assessment (and only then).
#[test]
fn sampling_coverage_notes_reach_the_report() {
    let path = data(JSON);
    let profile = load(JSON);
    let analyze_with = |profile: &Profile, comments: &[&str]| {
        let mut profile = profile.clone();
        profile.comments = comments.iter().map(|c| (*c).to_owned()).collect();
        analyze(
            Input {
                profile: &profile,
                index: profile.default_index,
                path: &path,
            },
            None,
        )
    };
    let good = analyze_with(
        &profile,
        &[
            "300 SIGPROF received at 99 Hz from the perf sampling clock, 0 lost to a full sample ring",
            "samples cover 3.00 s of the 3.30 s of CPU the process used (91%)",
        ],
    );
    let markdown = good.to_markdown();
    assert!(
        markdown.contains("- **Profile note:** 300 SIGPROF received at 99 Hz from the perf"),
        "{markdown}"
    );
    assert!(!good.summary.assessment.contains("Caution"), "{markdown}");

    let poor = analyze_with(
        &profile,
        &[
            "21 SIGPROF received at 997 Hz from the thread-timer sampling clock, 0 lost to a full sample ring",
            "samples cover 0.02 s of the 2.06 s of CPU the process used (1%)",
        ],
    );
    assert!(
        poor.summary
            .assessment
            .contains("Caution: the samples cover only 1% of the CPU"),
        "{}",
        poor.summary.assessment
    );
}
