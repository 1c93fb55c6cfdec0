//! The analyzer against real profiles with a known dominant cause (`tests/data/real/`, written
//! by `tests/generators/generate.sh` from small Go and Rust programs; see the README there).
//! For every entry of the manifest, the first finding must be the expected category, the
//! profile type must be recognised, the function to fix must be the expected one when the
//! manifest names it, and thin profiles must be flagged (and only they).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use profile_tools::analyze::{analyze, Analysis, Input, Priority};
use profile_tools::Profile;

#[derive(serde::Deserialize)]
struct Entry {
    file: String,
    kind: String,
    /// `null` when nothing should lead (an idle CPU profile).
    category: Option<String>,
    /// Acceptable functions to fix first.
    #[serde(default)]
    site: Vec<String>,
    /// Checked only where the manifest says: thinness depends on the machine a Rust capture
    /// ran on, except for profiles thin by design (an idle program, an fsync-bound one).
    #[serde(default)]
    low_confidence: Option<bool>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real")
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn run(file: &str) -> Analysis {
    let path = dir().join(file);
    let profile = Profile::from_path(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    analyze(
        Input {
            profile: &profile,
            index: profile.default_index,
            path: &path,
        },
        None,
    )
}

fn name(category: profile_tools::categories::Category) -> String {
    serde_json::to_value(category)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_manifest_covers_go_and_rust_and_every_profile_type() {
    let entries = manifest();
    assert!(entries.len() >= 30, "{} profiles", entries.len());
    for kind in ["cpu", "heap", "allocs", "block", "mutex", "goroutine"] {
        assert!(entries.iter().any(|e| e.kind == kind), "no {kind} profile");
    }
    assert!(entries.iter().any(|e| e.file.starts_with("go-")));
    assert!(entries.iter().any(|e| e.file.starts_with("rust-")));
    for e in &entries {
        let size = std::fs::metadata(dir().join(&e.file)).unwrap().len();
        assert!(
            size < 64 * 1024,
            "{}: {size} bytes, keep test data small",
            e.file
        );
    }
}

#[test]
fn first_finding_names_the_known_cause_of_every_real_profile() {
    let mut failures = Vec::new();
    let entries = manifest();
    for e in &entries {
        let a = run(&e.file);
        let first = a.categories.first().map(|c| name(c.category));
        let mut wrong = Vec::new();
        if a.kind.as_str() != e.kind {
            wrong.push(format!("kind {} (expected {})", a.kind.as_str(), e.kind));
        }
        if first != e.category {
            wrong.push(format!(
                "first category {first:?} (expected {:?})",
                e.category
            ));
        }
        if !e.site.is_empty()
            && !a
                .summary
                .fix_site
                .as_ref()
                .is_some_and(|s| e.site.contains(s))
        {
            wrong.push(format!(
                "fix site {:?} (expected one of {:?})",
                a.summary.fix_site, e.site
            ));
        }
        if e.low_confidence.is_some_and(|low| low != a.confidence.low) {
            wrong.push(format!(
                "low confidence {} ({})",
                a.confidence.low, a.confidence.line
            ));
        }
        if a.confidence.low && a.categories.iter().any(|c| c.priority == Priority::High) {
            wrong.push("a HIGH finding on a thin profile".to_owned());
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n  categories: {}\n  assessment: {}",
                e.file,
                wrong.join("; "),
                a.categories
                    .iter()
                    .map(|c| format!("{} {:.1}%", name(c.category), c.percent))
                    .collect::<Vec<_>>()
                    .join(", "),
                a.summary.assessment
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} wrong:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
}

/// The report a user reads keeps the guide's sections, names the function to fix in the
/// summary, and states its confidence.
#[test]
fn every_report_has_the_guides_sections_a_fix_site_and_a_confidence_line() {
    for e in manifest() {
        let a = run(&e.file);
        let md = a.to_markdown();
        for section in [
            "## 🎯 Executive summary",
            "**High-priority findings:**",
            "**Overall assessment:**",
            "## 🔥 Hotspots",
            "## 💡 Recommendations by category",
            "## ➡️ Next steps",
            "- **Confidence:** ",
        ] {
            assert!(md.contains(section), "{}: no {section:?}\n{md}", e.file);
        }
        if e.category.is_some() {
            let site = a
                .summary
                .fix_site
                .as_deref()
                .unwrap_or_else(|| panic!("{}: no fix site", e.file));
            assert!(
                md.contains(&format!("**Where to fix:** `{site}`")),
                "{}\n{md}",
                e.file
            );
        }
    }
}
