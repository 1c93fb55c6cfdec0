//! `simex diff` on hand-built profiles: absolute amounts with the right sign, normalising only
//! when asked and said, and the same numbers as `go tool pprof -top -base`.

mod common;
#[path = "../../profile-tools/tests/common/handmade.rs"]
mod handmade;

use std::path::Path;
use std::process::Command;

use common::{simex, text, tool_available, TempDir};
use handmade::Handmade;

fn write_pair(dir: &Path) -> (String, String) {
    let base = dir.join("base.pb.gz");
    let new = dir.join("new.pb.gz");
    Handmade::cpu(10.0)
        .cpu_sample(&["main", "app::parse"], 1.0)
        .cpu_sample(&["main", "app::match_orders"], 1.0)
        .write(&base);
    Handmade::cpu(10.0)
        .cpu_sample(&["main", "app::parse"], 2.0)
        .cpu_sample(&["main", "app::match_orders"], 6.0)
        .write(&new);
    (base.display().to_string(), new.display().to_string())
}

#[test]
fn diff_prints_growth_as_regressions_in_seconds() {
    let dir = TempDir::new("diff-cli");
    let (base, new) = write_pair(&dir.0);
    let svg = dir.0.join("d.svg").display().to_string();
    let out = simex(&["diff", &base, &new, "-o", &svg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (grew, shrank) = stdout
        .split_once("Shrank")
        .unwrap_or_else(|| panic!("no Shrank section: {stdout}"));
    let line = |name: &str| {
        grew.lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not under Grew: {stdout}"))
            .to_owned()
    };
    assert!(line("app::parse").contains("+1.00s"), "{stdout}");
    assert!(line("app::parse").contains("-25.0 pp"), "{stdout}");
    assert!(line("app::match_orders").contains("+5.00s"), "{stdout}");
    assert!(shrank.contains("(none)"), "{stdout}");
    assert!(stdout.contains("absolute"), "{stdout}");
    let written = std::fs::read_to_string(dir.0.join("d.txt")).expect("the .txt beside the svg");
    assert!(written.contains("+5.00s"), "{written}");

    let out = simex(&["diff", &base, &new, "-o", &svg, "--normalize"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("NORMALISED"), "{stdout}");
    let shrank = stdout.split_once("Shrank").expect("sections").1;
    assert!(
        shrank.contains("-2.00s") && shrank.contains("app::parse"),
        "{stdout}"
    );

    let out = simex(&["diff", &base, &new, "-o", &svg, "--normalize=rate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("+500.00ms/s"),
        "{}",
        text(&out.stdout)
    );

    let out = simex(&["diff", &base, &new, "--normalize=bogus"]);
    assert!(!out.status.success());
}

#[test]
fn diff_agrees_with_go_tool_pprof_base() {
    if !tool_available("go", &["version"]) {
        return;
    }
    let dir = TempDir::new("diff-pprof");
    let (base, new) = write_pair(&dir.0);
    let out = Command::new("go")
        .args(["tool", "pprof", "-top", "-unit=ms", "-base", &base, &new])
        .output()
        .expect("run go tool pprof");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let top = text(&out.stdout);
    let flat = |name: &str| -> String {
        top.lines()
            .find(|l| l.trim_end().ends_with(name))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name} not in pprof's top: {top}"))
            .to_owned()
    };
    // pprof's flat of a -base diff is the absolute change; ours must be the same.
    assert_eq!(flat("app::parse"), "1000ms", "{top}");
    assert_eq!(flat("app::match_orders"), "5000ms", "{top}");
}
