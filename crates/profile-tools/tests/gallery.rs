//! The gallery over a directory laid out as `simex profile` and `chaos/chaos-flamegraph.sh`
//! leave it, filled with real profiles: routes tested in-process with `oneshot`, then for real in
//! headless Chromium (the DOM after scripts ran, and screenshots that must show a page).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use profile_tools::flamegraph::{render, render_diff, FlamegraphConfig};
use profile_tools::Profile;
use tower::ServiceExt;

const RUN: &str = "chaos_cpu-burn_20261125T120000Z";

/// A gallery directory filled with real artifacts made from the committed fixtures: two
/// captures, one diff, and a chaos run with three phases, two diffs and a report.
struct GalleryDir(PathBuf);

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Copies a fixture to `dir/stem.pb.gz` and writes its flamegraph and analysis beside it.
fn capture(dir: &Path, fixture: &str, stem: &str) -> Profile {
    std::fs::create_dir_all(dir).unwrap();
    let profile_path = dir.join(format!("{stem}.pb.gz"));
    std::fs::copy(data(fixture), &profile_path).unwrap();
    let p = Profile::from_path(&profile_path).unwrap();
    let svg = render(&p, p.default_index, &FlamegraphConfig::default()).unwrap();
    std::fs::write(dir.join(format!("{stem}.svg")), svg).unwrap();
    let a = profile_tools::analyze::analyze(
        profile_tools::analyze::Input {
            profile: &p,
            index: p.default_index,
            path: &profile_path,
        },
        None,
    );
    std::fs::write(dir.join(format!("{stem}_analysis.md")), a.to_markdown()).unwrap();
    p
}

impl GalleryDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gallery-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let base = capture(
            &dir,
            "go_cpu_json.pb.gz",
            "cpu_profile_trading-api_20261125_100000",
        );
        capture(
            &dir,
            "go_heap.pb.gz",
            "heap_profile_market-sim_20261125_110000",
        );
        let new = Profile::from_path(&data("go_cpu_regexp.pb.gz")).unwrap();
        let diff = render_diff(&base, base.default_index, &new, new.default_index, "diff").unwrap();
        let diff_stem = "diff_cpu_profile_trading-api_20261125_100000_vs_20261125_103000";
        std::fs::write(dir.join(format!("{diff_stem}.svg")), diff).unwrap();
        std::fs::write(dir.join(format!("{diff_stem}.txt")), "base total 2.1s\n").unwrap();

        // A chaos run: the script's directory layout, with real Rust service profiles.
        let run = dir.join(RUN);
        for (phase, cpu, minute) in [
            ("baseline", "cpu_profile_trading-api_json-heavy.pb.gz", "01"),
            (
                "chaos",
                "cpu_profile_trading-api_lock-contention.pb.gz",
                "03",
            ),
            ("recovery", "cpu_profile_trading-api_fmt-heavy.pb.gz", "05"),
        ] {
            capture(
                &run.join(phase),
                &format!("simex/{cpu}"),
                &format!("cpu_profile_trading-api_20261125_12{minute}00"),
            );
            capture(
                &run.join(phase),
                "simex/mutex_profile_trading-api_lock-contention.pb.gz",
                &format!("mutex_profile_trading-api_20261125_12{minute}00"),
            );
            std::fs::write(run.join(format!("{phase}_load.json")), "{}").unwrap();
        }
        let b =
            Profile::from_path(&run.join("baseline/cpu_profile_trading-api_20261125_120100.pb.gz"))
                .unwrap();
        let c =
            Profile::from_path(&run.join("chaos/cpu_profile_trading-api_20261125_120300.pb.gz"))
                .unwrap();
        for (name, x, y) in [("baseline_to_chaos", &b, &c), ("chaos_to_recovery", &c, &b)] {
            let svg = render_diff(x, x.default_index, y, y.default_index, name).unwrap();
            std::fs::write(run.join(format!("diff_trading-api_{name}.svg")), svg).unwrap();
            std::fs::write(run.join(format!("diff_trading-api_{name}.txt")), name).unwrap();
        }
        std::fs::write(
            dir.join(format!("{RUN}_report.md")),
            format!(
                "# Chaos flamegraphs: cpu-burn in trading-api\n\n**Verdict: deviated** — p99 940 ms (budget 250 ms).\n\n\
                 ## Phases\n\n| phase | profiles |\n|---|---|\n| baseline | [baseline/]({RUN}/baseline/) |\n\n\
                 ## What changed\n\n[diff]({RUN}/diff_trading-api_baseline_to_chaos.svg) <script>alert(1)</script>\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("unrelated.html"), "<script>alert(1)</script>").unwrap();
        // A name that needs escaping: the service part carries markup.
        std::fs::write(
            dir.join("cpu_profile_<b>evil_20261124_090000.svg"),
            "<svg/>",
        )
        .unwrap();
        Self(dir)
    }
}

impl Drop for GalleryDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn get(app: axum::Router, uri: &str) -> (StatusCode, String, String) {
    let resp = app
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(resp.into_body(), 16 << 20).await.unwrap();
    (status, ctype, String::from_utf8_lossy(&body).into_owned())
}

/// The rows of one class in the page, as the text of their opening tags and contents.
fn rows<'a>(html: &'a str, class: &str) -> Vec<&'a str> {
    html.split(&format!("<tr class=\"{class}\""))
        .skip(1)
        .collect()
}

fn visible(row: &str) -> bool {
    !row.split('>').next().unwrap().contains("hidden")
}

#[tokio::test]
async fn one_row_per_capture_and_one_entry_per_chaos_run() {
    let g = GalleryDir::new("routes");
    let app = profile_tools::gallery::app(&g.0).unwrap();

    let (status, _, html) = get(app.clone(), "/").await;
    assert_eq!(status, StatusCode::OK);
    // Two captures, one diff, one odd-named SVG: four rows, however many files each has.
    let captures = rows(&html, "capture");
    assert_eq!(captures.len(), 4, "{html}");
    let cpu = captures
        .iter()
        .find(|r| r.contains("<div class=\"stem\">cpu_profile_trading-api_20261125_100000</div>"))
        .unwrap();
    for link in [
        "/view/cpu_profile_trading-api_20261125_100000.svg",
        "/report/cpu_profile_trading-api_20261125_100000_analysis.md",
        "/files/cpu_profile_trading-api_20261125_100000.pb.gz",
    ] {
        assert!(cpu.contains(link), "the capture's row links {link}");
    }
    assert!(
        !html.contains("unrelated.html"),
        "only our artifacts are listed"
    );
    assert!(!html.contains("<b>evil"), "names are escaped");
    assert!(html.contains("&lt;b&gt;evil"));
    // The chaos run is one entry, newest first, with its phases as columns and its report.
    let runs = rows(&html, "run");
    assert_eq!(runs.len(), 1);
    assert!(
        html.find("tr class=\"run\"").unwrap()
            < html
                .find("<div class=\"stem\">heap_profile_market-sim")
                .unwrap()
    );
    let run = runs[0];
    for phase in ["<th>baseline</th>", "<th>chaos</th>", "<th>recovery</th>"] {
        assert!(run.contains(phase), "{phase}");
    }
    assert_eq!(
        run.matches("<tr class=\"cell-row\"").count(),
        2,
        "cpu and mutex rows"
    );
    assert!(run.contains(&format!("/report/{RUN}_report.md")));
    assert!(
        run.contains("Verdict: deviated — p99 940 ms"),
        "the report's verdict line"
    );
    assert!(run.contains(&format!(
        "/view/{RUN}/diff_trading-api_baseline_to_chaos.svg"
    )));
    // Every profile can be picked for a comparison: 2 top-level + 6 in the run.
    let compare = &html[html.find("id=\"c-base\"").unwrap()..html.find("id=\"c-new\"").unwrap()];
    assert_eq!(
        compare.matches("<option value=\"").count() - 1,
        8,
        "{compare}"
    );

    // Server-side filter (works without JavaScript).
    let (_, _, html) = get(app.clone(), "/?service=market-sim").await;
    assert_eq!(
        rows(&html, "capture")
            .into_iter()
            .filter(|r| visible(r))
            .count(),
        1
    );
    let (_, _, html) = get(app.clone(), "/?show=diffs").await;
    assert_eq!(
        rows(&html, "capture")
            .into_iter()
            .filter(|r| visible(r))
            .count(),
        1
    );
    assert!(!visible(rows(&html, "run")[0]));

    let (_, _, json) = get(app.clone(), "/api/artifacts").await;
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list["captures"].as_array().unwrap().len(), 4);
    assert_eq!(list["chaos_runs"][0]["phases"].as_array().unwrap().len(), 3);
    assert_eq!(list["chaos_runs"][0]["diffs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn chaos_artifacts_reports_views_and_comparisons_are_served() {
    let g = GalleryDir::new("serve");
    let app = profile_tools::gallery::app(&g.0).unwrap();
    let chaos_svg = format!("{RUN}/chaos/cpu_profile_trading-api_20261125_120300.svg");

    let (status, ctype, svg) = get(app.clone(), &format!("/files/{chaos_svg}")).await;
    assert_eq!(status, StatusCode::OK, "chaos output is served");
    assert_eq!(ctype, "image/svg+xml");
    assert!(svg.contains("function search("));
    let (status, _, _) = get(
        app.clone(),
        &format!("/files/{RUN}/diff_trading-api_chaos_to_recovery.txt"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The chaos report renders, its script is text, its links lead into the gallery.
    let (status, ctype, page) = get(app.clone(), &format!("/report/{RUN}_report.md")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/html"));
    assert!(
        page.contains("<h1>Chaos flamegraphs: cpu-burn in trading-api</h1>"),
        "{page}"
    );
    assert!(page.contains("<table>"));
    assert!(
        page.contains(&format!(
            "href=\"/view/{RUN}/diff_trading-api_baseline_to_chaos.svg\""
        )),
        "{page}"
    );
    assert!(page.contains(&format!("href=\"/#run-{RUN}\"")));
    assert!(!page.contains("<script>alert"));
    let (status, _, page) = get(
        app.clone(),
        &format!("/report/{RUN}/chaos/cpu_profile_trading-api_20261125_120300_analysis.md"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h2>"), "an analysis in a phase renders");

    // A flamegraph's page embeds a fresh rendering, with the plumbing switch.
    let (status, _, page) = get(app.clone(), &format!("/view/{chaos_svg}")).await;
    assert_eq!(status, StatusCode::OK);
    let render = format!("/render/{RUN}/chaos/cpu_profile_trading-api_20261125_120300.pb.gz");
    assert!(
        page.contains(&format!(
            "<iframe class=\"flame\" id=\"flame\" src=\"{render}\""
        )),
        "{page}"
    );
    assert!(page.contains("all frames</a>"));
    let (_, _, page) = get(app.clone(), &format!("/view/{chaos_svg}?full=1")).await;
    assert!(page.contains(&format!("src=\"{render}?full=1\"")));
    let (status, ctype, collapsed) = get(app.clone(), &render).await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "image/svg+xml"));
    let (_, _, full) = get(app.clone(), &format!("{render}?full=1")).await;
    assert!(collapsed.contains("[runtime plumbing]") && !full.contains("[runtime plumbing]"));
    assert!(full.len() > collapsed.len());

    // Any two profiles compare: absolute by default, normalised on request.
    let base = format!("{RUN}/baseline/cpu_profile_trading-api_20261125_120100.pb.gz");
    let new = format!("{RUN}/chaos/cpu_profile_trading-api_20261125_120300.pb.gz");
    let q = format!(
        "base={}&new={}",
        base.replace('/', "%2F"),
        new.replace('/', "%2F")
    );
    let (status, _, page) = get(app.clone(), &format!("/compare?{q}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("src=\"/compare.svg?base="), "{page}");
    // The iframe's URL is escaped once: a browser must get `&new=` back from it.
    assert!(
        page.contains("&amp;new=") && !page.contains("&amp;amp;"),
        "{page}"
    );
    assert!(
        page.contains(": base ") && page.contains("Grew (regressions)"),
        "the diff text is on the page"
    );
    assert!(
        page.contains("trading_api::venue::"),
        "it names what changed"
    );
    let (status, ctype, svg) = get(app.clone(), &format!("/compare.svg?{q}")).await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "image/svg+xml"));
    assert!(
        svg.contains("· absolute change"),
        "the subtitle says absolute"
    );
    let (_, _, svg) = get(app.clone(), &format!("/compare.svg?{q}&normalize=1")).await;
    assert!(svg.contains("· NORMALISED"));

    // Bad comparisons are 4xx JSON errors.
    let heap = "heap_profile_market-sim_20261125_110000.pb.gz";
    for (uri, want) in [
        (
            format!("/compare?base={}", base.replace('/', "%2F")),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/compare?base={heap}&new={}", new.replace('/', "%2F")),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/compare.svg?base={heap}&new=..%2Fx.pb.gz"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/compare?base={heap}&new=cpu_profile_trading-api_20261125_100000.svg"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, ctype, body) = get(app.clone(), &uri).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert!(ctype.starts_with("application/json"), "{uri}");
    }
}

#[tokio::test]
async fn path_traversal_and_unknown_files_are_404_json() {
    let g = GalleryDir::new("traversal");
    // A file outside the gallery with a name the gallery would otherwise serve.
    let outside =
        g.0.parent()
            .unwrap()
            .join(format!("cpu_profile_x_{}.svg", std::process::id()));
    std::fs::write(&outside, "secret").unwrap();
    let app = profile_tools::gallery::app(&g.0).unwrap();
    let outside_name = outside.file_name().unwrap().to_str().unwrap();
    for uri in [
        "/files/..%2F..%2Fetc%2Fpasswd".to_owned(),
        format!("/files/..%2F{outside_name}"),
        format!("/files/{RUN}/..%2F..%2F{outside_name}"),
        format!("/files/{RUN}/../../{outside_name}"),
        "/files/%2Fetc%2Fpasswd".to_owned(),
        "/files/unrelated.html".to_owned(),
        format!("/files/{RUN}/baseline_load.json"),
        "/files/missing_profile_x_1.svg".to_owned(),
        "/files/notarun/cpu_profile_x_20261125_100000.svg".to_owned(),
        format!("/files/{RUN}/a/b/cpu_profile_x_20261125_100000.svg"),
        "/report/cpu_profile_trading-api_20261125_100000.svg".to_owned(),
        "/render/cpu_profile_trading-api_20261125_100000.svg".to_owned(),
        "/view/missing_profile_x_20261125_100000.svg".to_owned(),
        "/files/.hidden.svg".to_owned(),
    ] {
        let (status, ctype, body) = get(app.clone(), &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(ctype.starts_with("application/json"), "{uri}");
        assert!(body.contains("\"error\""), "{uri}");
        assert!(!body.contains("secret"));
    }
    // A symlink inside the gallery pointing out of it is not followed.
    #[cfg(unix)]
    {
        let link = g.0.join("cpu_profile_link_20261125_120000.svg");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let (status, _, _) = get(app.clone(), "/files/cpu_profile_link_20261125_120000.svg").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    std::fs::remove_file(&outside).unwrap();
}

/// What to ask of headless Chromium.
enum Shot<'a> {
    /// The DOM after scripts ran.
    Dom,
    /// A PNG screenshot of the window, written to this path.
    Png(&'a Path),
}

/// Runs headless Chromium on `url`; returns the DOM (for [`Shot::Dom`]) or "" once the PNG is
/// written.
fn chromium(url: &str, shot: Shot<'_>) -> Option<String> {
    use std::os::unix::process::CommandExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A fresh profile per run: a second Chromium on the same profile waits for the first's
    // helpers to let go of it.
    static RUN_ID: AtomicUsize = AtomicUsize::new(0);
    let profile_dir = std::env::temp_dir().join(format!(
        "gallery-chromium-{}-{}",
        std::process::id(),
        RUN_ID.fetch_add(1, Ordering::SeqCst)
    ));
    let dom_file = profile_dir.with_extension("html");
    let mut cmd = Command::new("chromium");
    cmd.process_group(0)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .stderr(Stdio::null());
    match shot {
        Shot::Dom => {
            // A file, not a pipe: we only wait, so a DOM bigger than the pipe buffer would block.
            cmd.arg("--dump-dom")
                .stdout(std::fs::File::create(&dom_file).ok()?);
        }
        Shot::Png(png) => {
            cmd.arg(format!("--screenshot={}", png.display()))
                .stdout(Stdio::null());
        }
    }
    let mut child = cmd.arg(url).spawn().ok()?;
    // Bounded: a hung browser fails the test instead of hanging it.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            // Kill the whole process group: Chromium's helpers too.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile_dir);
            panic!("chromium did not finish within 90 s for {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = match shot {
        Shot::Dom => std::fs::read_to_string(&dom_file).ok(),
        Shot::Png(_) => Some(String::new()),
    };
    let _ = std::fs::remove_dir_all(&profile_dir);
    let _ = std::fs::remove_file(&dom_file);
    out
}

/// Width, height and size of a PNG file; panics when it is not one.
fn png_facts(path: &Path) -> (u32, u32, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20), bytes.len())
}

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
fn in_headless_chromium_the_gallery_groups_filters_renders_and_draws() {
    if !tool_available("chromium", &["--version"]) {
        return;
    }
    let g = GalleryDir::new("chromium");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let dir = g.0.clone();
    let server = runtime.spawn(async move {
        profile_tools::gallery::serve(listener, &dir, async {
            let _ = stopped.await;
        })
        .await
    });
    // Screenshots are kept (in the target dir when known) so a person can look at them.
    let shots = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("gallery-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // The list: grouped rows, the chaos run with its phases, and the script ran.
    let dom = chromium(&format!("{base}/"), Shot::Dom).unwrap();
    assert_eq!(rows(&dom, "capture").len(), 4, "{dom}");
    assert_eq!(rows(&dom, "run").len(), 1);
    assert!(
        dom.contains("4 rows, 1 chaos runs shown"),
        "the script ran: {dom}"
    );
    assert!(dom.contains("<th>recovery</th>"));
    let png = shots.join("gallery-index.png");
    chromium(&format!("{base}/"), Shot::Png(&png)).unwrap();
    let (w, h, size) = png_facts(&png);
    eprintln!(
        "index screenshot: {} ({w}x{h}, {size} bytes)",
        png.display()
    );
    assert_eq!((w, h), (1400, 1000));
    // A blank or error page compresses to a few kB; a page of rows, badges and a grid does not.
    assert!(size > 40_000, "the screenshot shows a page: {size} bytes");

    // A client-side filter (the fragment never reaches the server) hides the other rows, and
    // the chaos run, which has no market-sim capture.
    let dom = chromium(&format!("{base}/#service=market-sim"), Shot::Dom).unwrap();
    assert!(dom.contains("1 rows, 0 chaos runs shown"), "{dom}");
    let shown: Vec<_> = rows(&dom, "capture")
        .into_iter()
        .filter(|r| visible(r))
        .collect();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains("heap_profile_market-sim"));

    // A flamegraph's own page: the SVG in an iframe, drawn (screenshot), and inferno's search
    // works on the rendered SVG.
    let view = format!("{base}/view/{RUN}/chaos/cpu_profile_trading-api_20261125_120300.svg");
    let png = shots.join("gallery-flamegraph.png");
    chromium(&view, Shot::Png(&png)).unwrap();
    let (_, _, size) = png_facts(&png);
    eprintln!(
        "flamegraph page screenshot: {} ({size} bytes)",
        png.display()
    );
    assert!(size > 40_000, "the flamegraph is drawn: {size} bytes");
    let dom = chromium(
        &format!("{base}/render/{RUN}/chaos/cpu_profile_trading-api_20261125_120300.pb.gz?s=Venue::execute"),
        Shot::Dom,
    )
    .unwrap();
    assert!(
        dom.contains("Reset Search"),
        "search ran: {}",
        &dom[..dom.len().min(2000)]
    );
    assert!(dom.contains("Matched: "), "a match was found");
    assert!(dom.contains("rgb(230,0,230)"), "matches are highlighted");

    // A comparison page draws.
    let q = format!(
        "base={RUN}%2Fbaseline%2Fcpu_profile_trading-api_20261125_120100.pb.gz&new={RUN}%2Fchaos%2Fcpu_profile_trading-api_20261125_120300.pb.gz"
    );
    let png = shots.join("gallery-compare.png");
    chromium(&format!("{base}/compare?{q}"), Shot::Png(&png)).unwrap();
    let (_, _, size) = png_facts(&png);
    assert!(size > 40_000, "the comparison is drawn: {size} bytes");

    // The chaos report renders as HTML with its headings.
    let dom = chromium(&format!("{base}/report/{RUN}_report.md"), Shot::Dom).unwrap();
    assert!(
        dom.contains("<h1>Chaos flamegraphs: cpu-burn in trading-api</h1>"),
        "{dom}"
    );
    assert!(dom.contains("<h2>What changed</h2>"));

    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
}
