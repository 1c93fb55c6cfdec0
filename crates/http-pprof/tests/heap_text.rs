//! `heap?debug=1` is Go's text format: `go tool pprof` reads the text and the protobuf of the
//! same capture with the same totals, the text carries raw sampled counts (pprof scales them
//! from the `heap/2*rate` header), and a `# runtime.MemStats` trailer follows.

#![allow(clippy::unwrap_used)]

mod heap_support;

use heap_support::{have_go, pprof_raw, type_index, TempFile};
use http_pprof::heap::{collect, HeapView};

http_pprof::jemalloc_profiling!();

/// Live memory the capture must show: small and large objects, so both ends of Go's scaling
/// (many sampled small objects, few large ones) are exercised.
#[inline(never)]
fn retain_known_allocations() -> Vec<Vec<u8>> {
    let mut keep = Vec::new();
    for i in 0..20_000 {
        keep.push(vec![i as u8; 200]);
    }
    for i in 0..16 {
        keep.push(vec![i as u8; 1 << 20]);
    }
    keep
}

#[test]
fn text_and_protobuf_of_one_capture_have_the_same_totals() {
    if !have_go() {
        return;
    }
    let kept = std::hint::black_box(retain_known_allocations());
    let raw = collect(HeapView::Heap).expect("jemalloc profiling is on in this test binary");
    let text = raw.to_text();
    let proto = http_pprof::proto::encode_gzip(&raw.to_proto());
    drop(kept);

    // Go's header: inuse objects and bytes, [alloc objects: bytes], `heap/2*rate`.
    let header = text.lines().next().unwrap();
    let rest = header.strip_prefix("heap profile: ").expect(header);
    let (counts, rate) = rest.split_once(" @ heap/").expect(header);
    assert_eq!(rate.parse::<i64>().unwrap(), 2 * raw.period, "{header}");
    let numbers: Vec<i64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 4, "{header}");
    assert!(
        text.contains("\n# runtime.MemStats\n# "),
        "no MemStats trailer"
    );
    assert!(
        text.contains("\n# HeapAlloc = "),
        "no HeapAlloc in the trailer"
    );

    let text_file = TempFile::write("heap.txt", text.as_bytes());
    let proto_file = TempFile::write("heap.pb.gz", &proto);
    let (text_types, text_samples) = pprof_raw(&text_file.0);
    let (proto_types, proto_samples) = pprof_raw(&proto_file.0);
    for name in [
        "alloc_objects",
        "alloc_space",
        "inuse_objects",
        "inuse_space",
    ] {
        let ti = type_index(&text_types, name);
        let pi = type_index(&proto_types, name);
        let from_text: i64 = text_samples.iter().map(|s| s.values[ti]).sum();
        let from_proto: i64 = proto_samples.iter().map(|s| s.values[pi]).sum();
        eprintln!("{name}: text {from_text}, protobuf {from_proto}");
        assert!(from_proto > 0, "{name} is empty");
        // Each record's estimate is rounded once more on the way through the text; allow
        // one unit per record plus 0.1%.
        let tolerance = text_samples.len() as i64 + from_proto / 1000;
        assert!(
            (from_text - from_proto).abs() <= tolerance,
            "{name}: pprof reads {from_text} from the text and {from_proto} from the protobuf"
        );
    }
    // The text's own numbers are the raw samples: below the scaled estimate, never equal to it
    // (pre-scaled values would make pprof scale twice).
    let inuse_space: i64 = proto_samples
        .iter()
        .map(|s| s.values[type_index(&proto_types, "inuse_space")])
        .sum();
    assert!(
        numbers[1] < inuse_space && numbers[1] > 0,
        "header inuse bytes {} vs scaled {inuse_space}",
        numbers[1]
    );
}
