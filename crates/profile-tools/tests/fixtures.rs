//! Decoding, rendering, diffing and analysing the committed real profiles in `tests/data/`
//! (Go ones from `tests/data/go/main.go`, Rust ones from `examples/capture_hotspot.rs`; see
//! `tests/data/README.md`).

#![allow(clippy::unwrap_used)]

mod frame_table;

use std::path::{Path, PathBuf};
use std::process::Command;

use profile_tools::analyze::{analyze, Input, Priority};
use profile_tools::categories::{classify, Category, FrameClass};
use profile_tools::diff::Comparison;
use profile_tools::flamegraph::{render, render_diff, FlamegraphConfig};
use profile_tools::stacks::StackSummary;
use profile_tools::{Profile, ProfileKind, SampleIndex};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn load(name: &str) -> Profile {
    Profile::from_path(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every committed fixture with the kind the decoder must see.
const FIXTURES: &[(&str, ProfileKind)] = &[
    ("go_cpu_json.pb.gz", ProfileKind::Cpu),
    ("go_cpu_mutex.pb.gz", ProfileKind::Cpu),
    ("go_cpu_regexp.pb.gz", ProfileKind::Cpu),
    ("go_heap.pb.gz", ProfileKind::Heap),
    ("go_allocs.pb.gz", ProfileKind::Allocs),
    // Go's mutex and block profiles are identical on the wire; without our file-name
    // convention both read as a contention profile.
    ("go_mutex.pb.gz", ProfileKind::Mutex),
    ("go_block.pb.gz", ProfileKind::Mutex),
    ("go_goroutine.pb.gz", ProfileKind::Goroutine),
    ("rust_cpu_serialization.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_regex.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_lock.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_memory.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_formatting.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_hashing.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_io.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_runtime.pb.gz", ProfileKind::Cpu),
    ("rust_cpu_logging.pb.gz", ProfileKind::Cpu),
];

/// True when `tool` runs. When it does not: under CI (env `CI` set) the test fails, because CI
/// must have every tool; elsewhere it prints SKIP and the caller returns.
fn tool_available(tool: &str, probe: &[&str]) -> bool {
    if Command::new(tool).args(probe).output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "`{tool}` is not installed, and CI is set: install it (make deps)"
    );
    eprintln!("SKIP: `{tool}` is not installed");
    false
}

#[test]
fn every_fixture_decodes_with_its_kind_and_the_default_sample_type() {
    for (name, kind) in FIXTURES {
        let p = load(name);
        assert_eq!(p.kind, *kind, "{name}");
        assert!(!p.stacks.is_empty(), "{name} has samples");
        assert!(
            p.stacks.iter().all(|s| !s.frames.is_empty()),
            "{name}: empty stack"
        );
    }
    // pprof's rule: the last sample type unless default_sample_type says otherwise.
    let heap = load("go_heap.pb.gz");
    assert_eq!(heap.sample_types[heap.default_index].name, "inuse_space");
    let allocs = load("go_allocs.pb.gz");
    assert_eq!(
        allocs.sample_types[allocs.default_index].name,
        "alloc_space"
    );
    let cpu = load("go_cpu_json.pb.gz");
    assert_eq!(cpu.sample_types[cpu.default_index].name, "cpu");
    assert_eq!(
        cpu.resolve_index(&"samples".parse::<SampleIndex>().unwrap())
            .unwrap(),
        0
    );
    assert!(cpu.resolve_index(&SampleIndex::Position(7)).is_err());
}

#[test]
fn raw_and_gzip_encodings_decode_the_same() {
    let gz = std::fs::read(data("go_cpu_json.pb.gz")).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
    let a = Profile::decode(&gz).unwrap();
    let b = Profile::decode(&raw).unwrap();
    assert_eq!(a.total(1), b.total(1));
    assert_eq!(a.stacks.len(), b.stacks.len());
}

#[test]
fn corrupt_and_empty_inputs_are_clear_errors() {
    let empty = Profile::decode(b"").unwrap_err().to_string();
    assert!(empty.contains("empty"), "{empty}");
    let text = Profile::decode(b"this is not a profile at all")
        .unwrap_err()
        .to_string();
    assert!(text.contains("not a valid pprof profile"), "{text}");
    let gz = std::fs::read(data("go_cpu_json.pb.gz")).unwrap();
    let truncated = Profile::decode(&gz[..gz.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(
        truncated.contains("not a valid pprof profile"),
        "{truncated}"
    );
    let missing = Profile::from_path(Path::new("/nonexistent/x.pb.gz")).unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
}

/// Sums of each sample-type column in `go tool pprof -raw` output.
fn go_raw_totals(path: &Path) -> Option<Vec<i64>> {
    let out = Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(path)
        .output()
        .ok()?;
    assert!(out.status.success(), "go tool pprof -raw failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut totals: Vec<i64> = Vec::new();
    let mut in_samples = false;
    for line in text.lines() {
        if line.starts_with("Samples:") {
            in_samples = true;
            continue;
        }
        if line.starts_with("Locations") || line.starts_with("Mappings") {
            break;
        }
        let Some((values, _)) = line.trim().split_once(':') else {
            continue;
        };
        let parsed: Result<Vec<i64>, _> = values.split_whitespace().map(str::parse).collect();
        match parsed {
            Ok(v) if in_samples && !v.is_empty() => {
                totals.resize(v.len(), 0);
                for (t, x) in totals.iter_mut().zip(v) {
                    *t += x;
                }
            }
            _ => {}
        }
    }
    Some(totals)
}

#[test]
fn decoded_totals_agree_with_go_tool_pprof_raw() {
    if !tool_available("go", &["version"]) {
        return;
    }
    for (name, _) in FIXTURES {
        let p = load(name);
        let go = go_raw_totals(&data(name)).unwrap();
        let ours: Vec<i64> = (0..p.sample_types.len()).map(|i| p.total(i)).collect();
        assert_eq!(ours, go, "{name}: totals per sample type");
    }
}

#[test]
fn folded_stacks_and_function_values_are_consistent() {
    let p = load("go_cpu_json.pb.gz");
    let s = StackSummary::new(&p, p.default_index);
    let folded_sum: u64 = s.folded.values().sum();
    assert_eq!(folded_sum as i64, s.total);
    let flat_sum: i64 = s.functions.iter().map(|f| f.flat).sum();
    assert_eq!(flat_sum, s.total, "every sample has exactly one leaf");
    assert!(s
        .functions
        .iter()
        .all(|f| f.cum >= f.flat && f.cum <= s.total));
    // Stacks are root first: Go's goroutine roots come first, never last.
    assert!(s.folded.keys().all(|k| !k.ends_with("runtime.goexit")));
    assert!(s
        .folded
        .keys()
        .any(|k| k.starts_with("runtime.main;main.main")));
    // Inlined frames are expanded: sync.(*Mutex).Lock is inlined into its caller in Go.
    let m = load("go_cpu_mutex.pb.gz");
    let ms = StackSummary::new(&m, m.default_index);
    assert!(ms
        .folded
        .keys()
        .any(|k| k.contains("main.mutexWork.func1;sync.(*Mutex).Lock")));
}

fn assert_inferno_svg(svg: &[u8]) {
    let text = std::str::from_utf8(svg).expect("SVG is UTF-8");
    let mut reader = quick_xml::Reader::from_str(text);
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_)) => elements += 1,
            Ok(_) => {}
            Err(e) => panic!("SVG is not well-formed XML: {e}"),
        }
    }
    assert!(elements > 10, "SVG has content");
    assert!(text.contains("<script"), "inferno's script is embedded");
    assert!(text.contains("function search("), "search is available");
    assert!(
        text.contains("function zoom("),
        "click-to-zoom is available"
    );
}

#[test]
fn flamegraphs_are_valid_svg_with_title_unit_and_script() {
    for (name, _) in FIXTURES {
        let p = load(name);
        let svg = render(&p, p.default_index, &FlamegraphConfig::default()).unwrap();
        assert_inferno_svg(&svg);
    }
    let p = load("go_heap.pb.gz");
    let svg = String::from_utf8(
        render(
            &p,
            p.default_index,
            &FlamegraphConfig {
                service: Some("trading-api".into()),
                ..FlamegraphConfig::default()
            },
        )
        .unwrap(),
    )
    .unwrap();
    assert!(svg.contains("heap profile · trading-api · snapshot"));
    assert!(
        svg.contains(" in use · "),
        "hover text says the unit: {svg}"
    );
    let cpu = load("go_cpu_json.pb.gz");
    let svg =
        String::from_utf8(render(&cpu, cpu.default_index, &FlamegraphConfig::default()).unwrap())
            .unwrap();
    assert!(svg.contains("CPU profile · 2.1s"), "duration in title");
    assert!(svg.contains(" CPU · "), "hover text in CPU time");
    assert!(svg.contains(" samples)"), "hover text counts samples");
    assert!(svg.contains("encoding/json.Marshal"));
}

#[test]
fn a_profile_diffed_against_itself_shows_no_change() {
    for (name, _) in FIXTURES {
        let p = load(name);
        let s = StackSummary::new(&p, p.default_index);
        let c = Comparison::new(&s, &s, "x", 10);
        assert!(c.is_unchanged(), "{name}: {c:?}");
        assert!(c.to_text().contains("No change"));
        let svg = render_diff(&p, p.default_index, &p, p.default_index, "self").unwrap();
        assert_inferno_svg(&svg);
    }
}

#[test]
fn a_real_difference_is_reported_both_ways() {
    let json = load("go_cpu_json.pb.gz");
    let re = load("go_cpu_regexp.pb.gz");
    let a = StackSummary::new(&json, json.default_index);
    let b = StackSummary::new(&re, re.default_index);
    let c = Comparison::new(&a, &b, "nanoseconds", 50);
    assert!(c.regressions.iter().any(|d| d.name.starts_with("regexp")));
    assert!(c
        .improvements
        .iter()
        .any(|d| d.name.starts_with("encoding/json")));
    assert!(c.regressions.iter().all(|d| d.delta_value > 0.0));
    assert!(c.improvements.iter().all(|d| d.delta_value < 0.0));
}

fn analyze_fixture(name: &str) -> profile_tools::analyze::Analysis {
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

#[test]
fn analyzer_names_the_known_hotspot_of_each_go_profile() {
    for (name, expected) in [
        ("go_cpu_json.pb.gz", Category::Serialization),
        ("go_cpu_mutex.pb.gz", Category::LockContention),
        ("go_cpu_regexp.pb.gz", Category::Regex),
        ("go_mutex.pb.gz", Category::LockContention),
    ] {
        let a = analyze_fixture(name);
        let top = a
            .categories
            .first()
            .unwrap_or_else(|| panic!("{name}: no category"));
        assert_eq!(top.category, expected, "{name}: {:#?}", a.categories);
        // These 2 s captures are partly thin (61 samples for the JSON one): no HIGH then,
        // and the report says why.
        if a.confidence.low {
            assert_eq!(top.priority, Priority::Medium, "{name}");
            assert!(a.to_markdown().contains("**Low:**"), "{name}");
        } else {
            assert_eq!(top.priority, Priority::High, "{name}");
        }
    }
}

#[test]
fn report_wording_fits_the_profile_type() {
    assert_eq!(analyze_fixture("go_cpu_json.pb.gz").measure, "CPU time");
    assert_eq!(
        analyze_fixture("go_heap.pb.gz").measure,
        "in-use memory (bytes)"
    );
    assert_eq!(
        analyze_fixture("go_allocs.pb.gz").measure,
        "allocated bytes"
    );
    assert_eq!(analyze_fixture("go_mutex.pb.gz").measure, "lock wait delay");
    assert_eq!(analyze_fixture("go_goroutine.pb.gz").measure, "task count");
    let heap = analyze_fixture("go_heap.pb.gz");
    assert_eq!(heap.summary.top_hotspot.as_deref(), Some("main.allocWork"));
    let md = heap.to_markdown();
    assert!(md.contains("in-use memory (bytes)"));
    assert!(
        !md.contains("CPU"),
        "a heap report never speaks of CPU:\n{md}"
    );
}

#[test]
fn markdown_report_has_every_section_and_exact_commands() {
    let a = analyze_fixture("go_cpu_mutex.pb.gz");
    let md = a.to_markdown();
    for section in [
        "## 🎯 Executive summary",
        "**Top hotspot:**",
        "**High-priority findings:**",
        "**Overall assessment:**",
        "## 🔥 Hotspots",
        "| # | Priority | Flat % | Cum % |",
        "## 💡 Recommendations by category",
        "### 1. Lock contention — ",
        "## ➡️ Next steps",
        "make profile-mutex",
        "go tool pprof -list",
        "simex diff",
        "HIGH at 10% flat or more",
    ] {
        assert!(md.contains(section), "missing {section:?} in:\n{md}");
    }
    assert_eq!(a.summary.high_findings >= 1, !a.confidence.low, "{md}");
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["categories"][0]["category"], "lock_contention");
    assert_eq!(json["kind"], "cpu");
}

#[test]
fn base_comparison_against_itself_reports_no_change() {
    let p = load("go_cpu_json.pb.gz");
    let path = data("go_cpu_json.pb.gz");
    let input = Input {
        profile: &p,
        index: p.default_index,
        path: &path,
    };
    let a = analyze(input, Some(input));
    let cmp = a.comparison.as_ref().unwrap();
    assert!(cmp.functions.is_unchanged() && cmp.categories.is_empty());
    assert!(a.to_markdown().contains("**No change:**"));
}

/// Real frame names, each taken from a committed profile, with the category it must get.
/// The test checks both that the frame really occurs in that profile and how it classifies.
const FRAME_TABLE: &[(&str, &str, Category)] = &[
    // Memory and the allocator.
    (
        "rust_cpu_memory.pb.gz",
        "alloc::raw_vec::RawVecInner<A>::with_capacity_zeroed_in",
        Category::Memory,
    ),
    (
        "rust_cpu_memory.pb.gz",
        "core::ptr::drop_in_place<alloc::vec::Vec<u8>>",
        Category::Memory,
    ),
    ("go_cpu_json.pb.gz", "runtime.mallocgc", Category::Memory),
    (
        "go_cpu_json.pb.gz",
        "runtime.gcWriteBarrier",
        Category::Memory,
    ),
    (
        "go_cpu_regexp.pb.gz",
        "runtime.memclrNoHeapPointers",
        Category::Memory,
    ),
    // Lock contention.
    (
        "rust_cpu_lock.pb.gz",
        "std::sys::sync::mutex::futex::Mutex::lock",
        Category::LockContention,
    ),
    (
        "rust_cpu_lock.pb.gz",
        "std::sync::poison::mutex::Mutex<T>::lock",
        Category::LockContention,
    ),
    (
        "go_cpu_mutex.pb.gz",
        "sync.(*Mutex).lockSlow",
        Category::LockContention,
    ),
    (
        "go_mutex.pb.gz",
        "sync.(*Mutex).Unlock",
        Category::LockContention,
    ),
    (
        "go_cpu_regexp.pb.gz",
        "runtime.lock2",
        Category::LockContention,
    ),
    // Serialization.
    (
        "rust_cpu_serialization.pb.gz",
        "serde_json::de::Deserializer<R>::deserialize_number",
        Category::Serialization,
    ),
    (
        "rust_cpu_serialization.pb.gz",
        "serde_json::ser::format_escaped_str",
        Category::Serialization,
    ),
    (
        "go_cpu_json.pb.gz",
        "encoding/json.(*decodeState).object",
        Category::Serialization,
    ),
    (
        "go_cpu_json.pb.gz",
        "encoding/json.Marshal",
        Category::Serialization,
    ),
    // Regular expressions.
    (
        "rust_cpu_regex.pb.gz",
        "regex::regex::string::Regex::new",
        Category::Regex,
    ),
    (
        "rust_cpu_regex.pb.gz",
        "regex_automata::nfa::thompson::compiler::Compiler::c_at_least",
        Category::Regex,
    ),
    ("go_cpu_regexp.pb.gz", "regexp.compile", Category::Regex),
    (
        "go_cpu_regexp.pb.gz",
        "regexp/syntax.Parse",
        Category::Regex,
    ),
    // Formatting and dynamic dispatch.
    (
        "rust_cpu_formatting.pb.gz",
        "<core::fmt::rt::Argument>::fmt",
        Category::FormattingAndDispatch,
    ),
    (
        "rust_cpu_formatting.pb.gz",
        "<alloc::string::String as core::fmt::Write>::write_str",
        Category::FormattingAndDispatch,
    ),
    (
        "go_cpu_json.pb.gz",
        "strconv.AppendFloat",
        Category::FormattingAndDispatch,
    ),
    (
        "go_cpu_json.pb.gz",
        "reflect.Value.Elem",
        Category::FormattingAndDispatch,
    ),
    // Hashing.
    (
        "rust_cpu_hashing.pb.gz",
        "<core::hash::sip::Hasher<S> as core::hash::Hasher>::write",
        Category::Hashing,
    ),
    (
        "rust_cpu_hashing.pb.gz",
        "hashbrown::control::group::sse2::Group::match_tag",
        Category::Hashing,
    ),
    (
        "go_cpu_json.pb.gz",
        "runtime.mapaccess1_fast32",
        Category::Hashing,
    ),
    // I/O and syscalls.
    (
        "rust_cpu_io.pb.gz",
        "std::io::Write::write_all",
        Category::IoAndSyscalls,
    ),
    ("go_heap.pb.gz", "os.ReadFile", Category::IoAndSyscalls),
    // The async runtime.
    (
        "rust_cpu_runtime.pb.gz",
        "tokio::runtime::task::harness::Harness<T,S>::poll_inner",
        Category::AsyncRuntime,
    ),
    (
        "rust_cpu_runtime.pb.gz",
        "tokio::runtime::scheduler::current_thread::CoreGuard::block_on::{{closure}}",
        Category::AsyncRuntime,
    ),
    (
        "go_goroutine.pb.gz",
        "runtime.gopark",
        Category::AsyncRuntime,
    ),
    (
        "go_block.pb.gz",
        "runtime.chanrecv1",
        Category::AsyncRuntime,
    ),
    // Logging.
    (
        "rust_cpu_logging.pb.gz",
        "tracing_core::event::Event::dispatch",
        Category::Logging,
    ),
];

#[test]
fn real_frame_names_classify_into_their_category() {
    let wrong = frame_table::misclassified(FRAME_TABLE, load);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every category has at least one real frame in the table; channel and condition waits
    // are judged by `wait_kind` in contention profiles, tested in `real_profiles.rs`.
    for c in Category::ALL {
        if matches!(c, Category::ChannelContention | Category::ConditionWait) {
            continue;
        }
        assert!(
            FRAME_TABLE.iter().any(|(_, _, t)| *t == c),
            "{c:?} has no frame"
        );
    }
}

#[test]
fn look_alike_names_do_not_classify() {
    // Real frames whose names contain a category word as a substring or in the program's own
    // code: `blocking` is not a lock, `mutexWork` is the program's function.
    for (fixture, frame) in [
        ("go_cpu_mutex.pb.gz", "main.mutexWork.func1"),
        ("go_block.pb.gz", "main.blockedWorkers.func1"),
    ] {
        let p = load(fixture);
        assert!(
            p.frame_names.iter().any(|n| n == frame),
            "{frame} in {fixture}"
        );
        assert_eq!(classify(frame), FrameClass::Application, "{frame}");
    }
    assert_eq!(
        classify("tokio::runtime::blocking::pool::Inner::run"),
        FrameClass::Work(Category::AsyncRuntime)
    );
}

#[test]
fn analyzer_names_the_known_hotspot_of_each_committed_rust_profile() {
    for (name, expected) in [
        ("rust_cpu_serialization.pb.gz", Category::Serialization),
        ("rust_cpu_regex.pb.gz", Category::Regex),
        ("rust_cpu_lock.pb.gz", Category::LockContention),
        ("rust_cpu_memory.pb.gz", Category::Memory),
        ("rust_cpu_formatting.pb.gz", Category::FormattingAndDispatch),
        ("rust_cpu_hashing.pb.gz", Category::Hashing),
        ("rust_cpu_io.pb.gz", Category::IoAndSyscalls),
        ("rust_cpu_runtime.pb.gz", Category::AsyncRuntime),
        ("rust_cpu_logging.pb.gz", Category::Logging),
    ] {
        let a = analyze_fixture(name);
        let top = a.categories.first().map(|c| c.category);
        assert_eq!(top, Some(expected), "{name}: {:#?}", a.categories);
    }
}
