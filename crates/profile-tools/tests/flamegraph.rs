//! Readable flamegraphs: runtime plumbing collapsed on a real tokio service profile, hover text
//! in units with samples and percent, titles that fit, and differential flamegraphs that show
//! absolute change unless normalising is asked for.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use profile_tools::flamegraph::{
    render, render_diff, render_diff_with, DiffConfig, FlamegraphConfig, PLUMBING_FRAME,
};
use profile_tools::profile::{SampleType, Stack};
use profile_tools::{Profile, ProfileKind};

fn simex(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/simex")
        .join(name);
    Profile::from_path(&path).unwrap()
}

fn svg_height(svg: &str) -> u32 {
    let at = svg.find(" height=\"").unwrap() + " height=\"".len();
    svg[at..].split('"').next().unwrap().parse().unwrap()
}

/// The text of `<text id="{id}" …>…</text>`.
fn text_by_id<'a>(svg: &'a str, id: &str) -> &'a str {
    let at = svg.find(&format!("id=\"{id}\"")).unwrap();
    let start = at + svg[at..].find('>').unwrap() + 1;
    let len = svg[start..].find("</text>").unwrap();
    &svg[start..start + len]
}

/// The hover titles of every frame whose name is exactly `name`.
fn hovers<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
    svg.split("<title>")
        .skip(1)
        .map(|t| &t[..t.find("</title>").unwrap()])
        .filter(|t| t.starts_with(&format!("{name} (")))
        .collect()
}

#[test]
fn a_tokio_service_profile_loses_its_plumbing_but_not_its_time() {
    let p = simex("cpu_profile_trading-api_lock-contention.pb.gz");
    let collapsed =
        String::from_utf8(render(&p, p.default_index, &FlamegraphConfig::default()).unwrap())
            .unwrap();
    let full = String::from_utf8(
        render(
            &p,
            p.default_index,
            &FlamegraphConfig {
                full_stacks: true,
                ..FlamegraphConfig::default()
            },
        )
        .unwrap(),
    )
    .unwrap();
    let (short, tall) = (svg_height(&collapsed), svg_height(&full));
    eprintln!("lock-contention CPU flamegraph: {tall} px with every frame, {short} px collapsed");
    assert!(
        short * 2 < tall,
        "collapsing halves the height at least: {short} vs {tall}"
    );
    assert!(collapsed.contains(PLUMBING_FRAME));
    assert!(!full.contains(PLUMBING_FRAME));
    // Plumbing stays only where the runtime itself is the work (the frame that called a leaf).
    for plumbing in [
        "<title>tokio::runtime::task::",
        "<title>hyper::proto::h1::dispatch::",
        "as core::future::future::Future&gt;::poll (",
    ] {
        let drawn = full.matches(plumbing).count();
        let kept = collapsed.matches(plumbing).count();
        assert!(drawn > 0, "{plumbing} is drawn with --full-stacks");
        assert!(
            kept * 10 <= drawn,
            "{plumbing} is collapsed: {kept} of {drawn} frames left"
        );
    }
    // The application's frames stay, with the same time in both pictures.
    let app = "trading_api::venue::Venue::execute";
    let (a, b) = (hovers(&collapsed, app), hovers(&full, app));
    assert!(!a.is_empty(), "{app} is drawn");
    assert_eq!(
        text_by_id(&collapsed, "title"),
        text_by_id(&full, "title"),
        "same total"
    );
    let root = |svg: &str| hovers(svg, "all").first().map(|s| s.to_string());
    assert_eq!(root(&collapsed), root(&full));
    assert!(!b.is_empty());
}

#[test]
fn hover_says_value_in_units_samples_and_percent() {
    let p = simex("cpu_profile_trading-api_json-heavy.pb.gz");
    let svg = String::from_utf8(render(&p, p.default_index, &FlamegraphConfig::default()).unwrap())
        .unwrap();
    let root = hovers(&svg, "all");
    assert_eq!(root.len(), 1);
    // e.g. "all (3.16 s CPU · 100% · 313 samples)": the total the profile holds.
    let total_ns = p.total(p.default_index) as f64;
    let samples = (total_ns / p.period as f64).round() as i64;
    assert!(
        root[0].contains(&format!("{:.2} s CPU · 100%", total_ns / 1e9)),
        "{}",
        root[0]
    );
    assert!(
        root[0].contains(&format!("· {samples} samples)")),
        "{}",
        root[0]
    );
    assert!(
        !svg.contains("nanoseconds,"),
        "no raw nanosecond counts in hover text"
    );
    let frame = hovers(&svg, "chaos::scenarios::json_heavy::round_trip");
    assert!(!frame.is_empty());
    assert!(
        frame[0].contains("% · ") && frame[0].contains(" samples)"),
        "{}",
        frame[0]
    );
}

/// A CPU profile with one sample type (nanoseconds at 10 ms a sample) and given stacks.
fn cpu(stacks: &[(&[&str], i64)]) -> Profile {
    let mut frame_names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (frames, value) in stacks {
        let mut ids = Vec::new();
        for f in *frames {
            let id = match frame_names.iter().position(|n| n == f) {
                Some(i) => i,
                None => {
                    frame_names.push((*f).to_owned());
                    frame_names.len() - 1
                }
            };
            ids.push(id as u32);
        }
        out.push(Stack {
            frames: ids,
            values: vec![*value],
        });
    }
    Profile {
        sample_types: vec![SampleType {
            name: "cpu".into(),
            unit: "nanoseconds".into(),
        }],
        default_index: 0,
        kind: ProfileKind::Cpu,
        duration: Some(Duration::from_secs(10)),
        time_nanos: 0,
        period: 10_000_000,
        frame_files: vec![String::new(); frame_names.len()],
        frame_names,
        stacks: out,
        comments: Vec::new(),
    }
}

const S: i64 = 1_000_000_000;

#[test]
fn a_diff_shows_absolute_change_by_default_and_says_when_it_normalises() {
    // parse 1 s -> 2 s and match_orders 1 s -> 6 s: both grew.
    let base = cpu(&[(&["main", "parse"], S), (&["main", "match_orders"], S)]);
    let new = cpu(&[
        (&["main", "parse"], 2 * S),
        (&["main", "match_orders"], 6 * S),
    ]);
    let svg = String::from_utf8(render_diff(&base, 0, &new, 0, "parse vs match").unwrap()).unwrap();
    assert!(
        text_by_id(&svg, "subtitle").starts_with("absolute change"),
        "{}",
        text_by_id(&svg, "subtitle")
    );
    let parse = hovers(&svg, "parse");
    assert_eq!(parse.len(), 1);
    assert!(
        parse[0].ends_with("· +1.00 s CPU since base)"),
        "{}",
        parse[0]
    );
    assert!(hovers(&svg, "match_orders")[0].ends_with("· +5.00 s CPU since base)"));
    assert!(
        svg.contains("base 2.00 s CPU, new 8.00 s CPU (+6.00 s CPU)"),
        "totals in the subtitle"
    );

    // Normalised, parse's share shrank from 50 % to 25 %: blue, and the title says so.
    let svg = String::from_utf8(
        render_diff_with(
            &base,
            0,
            &new,
            0,
            &DiffConfig {
                title: "parse vs match".into(),
                normalize: true,
                full_stacks: false,
            },
        )
        .unwrap(),
    )
    .unwrap();
    assert!(text_by_id(&svg, "title").contains("normalised"));
    assert!(text_by_id(&svg, "subtitle").starts_with("NORMALISED"));
    assert!(
        hovers(&svg, "parse")[0].contains("· -2.00 s CPU since base)"),
        "{}",
        hovers(&svg, "parse")[0]
    );
}

#[test]
fn long_diff_titles_fit_and_keep_their_tail_in_the_subtitle() {
    let p = simex("cpu_profile_trading-api_fmt-heavy.pb.gz");
    let title = "Differential CPU profile · trading-api · 3.0s · cpu_profile_trading-api_20261125_100000 → cpu_profile_trading-api_20261125_110000";
    let svg =
        String::from_utf8(render_diff(&p, p.default_index, &p, p.default_index, title).unwrap())
            .unwrap();
    let shown = text_by_id(&svg, "title");
    // inferno draws the title at 17 px on 1200 px: about 115 characters fit.
    assert!(shown.chars().count() <= 95, "{shown}");
    assert!(shown.starts_with("Differential CPU profile · trading-api"));
    let sub = text_by_id(&svg, "subtitle");
    // Both ends of the long part survive; the middle gives way to the totals.
    assert!(sub.starts_with("cpu_profile_trading-api_2026"), "{sub}");
    assert!(
        sub.contains("trading-api_20261125_110000 · absolute change"),
        "{sub}"
    );
    assert!(sub.contains("(unchanged)"), "{sub}");
}
