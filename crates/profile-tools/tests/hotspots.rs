//! Captures real CPU profiles (pprof crate, as our services do) while a known Rust hotspot runs,
//! then checks that the analyzer names that hotspot's category first.
//!
//! One test function on purpose: the CPU profiler samples the whole process, so workloads must
//! not overlap with each other or with other tests (this file is its own test binary).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::hotspots::{capture_cpu, HOTSPOTS};
use profile_tools::analyze::{analyze, Input};
use profile_tools::Profile;

#[test]
fn analyzer_names_the_category_of_a_running_rust_hotspot() {
    let mut failures = Vec::new();
    for (name, work, expected) in HOTSPOTS {
        let bytes = capture_cpu(work, Duration::from_millis(1500));
        let profile = Profile::decode(&bytes).unwrap();
        let path = Path::new("live.pb.gz");
        let analysis = analyze(
            Input {
                profile: &profile,
                index: profile.default_index,
                path,
            },
            None,
        );
        let top = analysis.categories.first().map(|c| c.category);
        if top != Some(expected) {
            failures.push(format!(
                "{name}: expected {expected:?}, got {:?}\n{}",
                analysis
                    .categories
                    .iter()
                    .map(|c| format!("  {:?} {:.1}% {:?}", c.category, c.percent, c.evidence))
                    .collect::<Vec<_>>()
                    .join("\n"),
                analysis
                    .hotspots
                    .iter()
                    .take(5)
                    .map(|h| format!("  {:.1}% {}", h.flat_percent, h.function))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
