//! The analyzer's report read as its user would, on our own service's profiles
//! (`tests/data/simex/`) and the real profiles of `tests/data/real/`: each test is one way the
//! report used to mislead (issue 12) and checks that it no longer does.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use profile_tools::analyze::{analyze, Analysis, Input, Priority};
use profile_tools::categories::{Category, Fact};
use profile_tools::Profile;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn load(name: &str) -> Profile {
    Profile::from_path(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn report(name: &str, profile: &Profile) -> Analysis {
    let path = data(name);
    let a = analyze(
        Input {
            profile,
            index: profile.default_index,
            path: &path,
        },
        None,
    );
    // Shown with `--nocapture`: the report as a user reads it.
    println!("{}", a.to_markdown());
    a
}

fn run(name: &str) -> Analysis {
    report(name, &load(name))
}

fn finding(a: &Analysis, c: Category) -> &profile_tools::analyze::CategoryFinding {
    a.categories
        .iter()
        .find(|f| f.category == c)
        .unwrap_or_else(|| panic!("no {c:?} in {:#?}", a.categories))
}

/// The lock-contention capture of trading-api also holds the journal's `fdatasync`: the I/O
/// finding names the journal code that syncs, not a boxed closure or thread start.
#[test]
fn fdatasync_is_charged_to_the_journal_that_calls_it() {
    let a = run("simex/cpu_profile_trading-api_lock-contention.pb.gz");
    let io = finding(&a, Category::IoAndSyscalls);
    let site = io.sites[0].function.as_deref().unwrap_or_default();
    assert!(site.contains("journal"), "I/O site {site:?}: {io:#?}");
    assert!(!site.contains("call_once"), "{site}");
    assert!(io.issue.contains("durable"), "{}", io.issue);
    assert!(
        io.advice.iter().any(|t| t.contains("fsync")),
        "{:#?}",
        io.advice
    );
}

/// Our services run on jemalloc: the report never tells them to switch to it, and says that
/// they already use it; a program on the system allocator still gets the tip.
#[test]
fn jemalloc_is_never_recommended_to_a_program_that_uses_it() {
    let a = run("simex/cpu_profile_trading-api_alloc-churn.pb.gz");
    assert!(a.facts.contains(&Fact::Jemalloc), "{:?}", a.facts);
    let memory = finding(&a, Category::Memory);
    assert!(
        memory
            .advice
            .iter()
            .all(|t| !t.contains("Run with jemalloc")),
        "{:#?}",
        memory.advice
    );
    assert!(memory
        .advice
        .iter()
        .any(|t| t.contains("already allocates through jemalloc")));
    let plain = run("real/rust-vec-growth.pb.gz");
    assert!(!plain.facts.contains(&Fact::Jemalloc));
    let memory = finding(&plain, Category::Memory);
    assert!(memory
        .advice
        .iter()
        .any(|t| t.contains("Run with jemalloc")));
}

/// `malloc` is the allocator whoever calls it: never labelled with its caller's category.
#[test]
fn allocator_hotspots_are_memory_whoever_calls_them() {
    for name in [
        "simex/cpu_profile_trading-api_json-heavy.pb.gz",
        "simex/cpu_profile_trading-api_alloc-churn.pb.gz",
        "simex/cpu_profile_trading-api_fmt-heavy.pb.gz",
    ] {
        let a = run(name);
        for h in &a.hotspots {
            if ["malloc", "calloc", "free", "realloc"].contains(&h.function.as_str()) {
                assert_eq!(h.category, Some(Category::Memory), "{name}: {h:?}");
            }
        }
    }
}

/// A profile of six samples is no ground for "7 high-priority findings": nothing is HIGH and
/// the report says why.
#[test]
fn a_six_sample_profile_has_no_high_priority_finding() {
    let mut p = load("simex/cpu_profile_trading-api_json-heavy.pb.gz");
    let samples = p
        .sample_types
        .iter()
        .position(|t| t.name == "samples")
        .unwrap();
    let mut kept = 0;
    p.stacks.retain(|s| {
        let keep = kept < 6;
        kept += s.values[samples];
        keep
    });
    let six: i64 = p.stacks.iter().map(|s| s.values[samples]).sum();
    assert!(six <= 12, "{six} samples");
    let a = report("simex/cpu_profile_trading-api_json-heavy.pb.gz", &p);
    assert!(a.confidence.low);
    assert_eq!(a.summary.high_findings, 0);
    assert!(a.hotspots.iter().all(|h| h.priority != Priority::High));
    assert!(a.categories.iter().all(|c| c.priority != Priority::High));
    let md = a.to_markdown();
    assert!(md.contains(&format!("only {six} samples")), "{md}");
    assert!(md.contains("**Low:**"), "{md}");
    // The full capture is not thin.
    assert!(
        !run("simex/cpu_profile_trading-api_json-heavy.pb.gz")
            .confidence
            .low
    );
}

/// A writer that already buffers is not told to add a `BufWriter`; one that does not is.
#[test]
fn buffering_is_recommended_only_where_writes_are_unbuffered() {
    let buffered = run("real/rust-journal-bufwriter.pb.gz");
    assert!(buffered.facts.contains(&Fact::Buffered));
    let io = finding(&buffered, Category::IoAndSyscalls);
    assert!(
        io.advice.iter().all(|t| !t.contains("wrap the file")),
        "{:#?}",
        io.advice
    );
    assert!(io
        .advice
        .iter()
        .any(|t| t.contains("already go through a buffered writer")));
    let unbuffered = run("real/rust-journal-fdatasync.pb.gz");
    assert!(!unbuffered.facts.contains(&Fact::Buffered));
    let io = finding(&unbuffered, Category::IoAndSyscalls);
    assert!(
        io.advice.iter().any(|t| t.contains("wrap the file")),
        "{:#?}",
        io.advice
    );
}

/// Heap and allocs profiles: every sample is memory, and the finding names the allocating
/// function with its bytes and objects.
#[test]
fn heap_findings_are_allocation_sites_with_bytes_and_objects() {
    for name in ["real/go-allocs-tiles.pb.gz", "real/go-heap-tiles.pb.gz"] {
        let a = run(name);
        assert_eq!(a.categories.len(), 1, "{name}");
        let memory = finding(&a, Category::Memory);
        assert!(memory.percent > 99.9);
        let top = &memory.sites[0];
        assert_eq!(top.function.as_deref(), Some("main.loadTiles"), "{name}");
        assert!(
            top.detail
                .as_deref()
                .unwrap_or_default()
                .contains("objects"),
            "{top:?}"
        );
        assert!(memory.issue.contains("main.loadTiles"), "{}", memory.issue);
    }
    // Vec growth in a Rust profile is named as such.
    let growth = run("real/rust-vec-growth.pb.gz");
    assert!(growth.to_markdown().contains("Vec"), "names the Vec");
}

/// Go block profiles: a channel send is channel contention, named with the waiting function,
/// even though the file does not say it is a block profile.
#[test]
fn a_blocked_channel_send_is_channel_contention_at_the_sender() {
    let a = run("real/go-block-chansend.pb.gz");
    assert_eq!(a.kind.as_str(), "block");
    let first = &a.categories[0];
    assert_eq!(first.category, Category::ChannelContention);
    assert_eq!(first.sites[0].via.as_deref(), Some("runtime.chansend1"));
    assert!(a.measure.contains("blocking"), "{}", a.measure);
}

/// When the program's own loop outweighs every library category, it is the function to fix:
/// the injected critical section of the lock-contention fault, not the journal's 7 % of I/O.
#[test]
fn the_programs_own_hot_loop_is_named_when_it_dominates() {
    let a = run("simex/cpu_profile_trading-api_lock-contention.pb.gz");
    assert_eq!(
        a.summary.fix_site.as_deref(),
        Some("trading_api::venue::spin_for"),
        "{}",
        a.summary.assessment
    );
    assert!(a
        .summary
        .assessment
        .starts_with("The program's own code leads"));
    // The categories still rank library work, with the journal's fsync first among them.
    assert_eq!(a.categories[0].category, Category::IoAndSyscalls);
}
