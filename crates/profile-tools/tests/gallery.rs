//! The gallery: routes tested in-process with `oneshot`, then once for real in headless
//! Chromium (list renders, a filter works, an SVG opens and inferno's search finds a function).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use profile_tools::flamegraph::{render, FlamegraphConfig};
use profile_tools::Profile;
use tower::ServiceExt;

/// A gallery directory filled with real artifacts made from the committed fixtures.
struct GalleryDir(PathBuf);

impl GalleryDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gallery-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for (fixture, stem) in [
            (
                "go_cpu_json.pb.gz",
                "cpu_profile_trading-api_20261125_100000",
            ),
            ("go_heap.pb.gz", "heap_profile_market-sim_20261125_110000"),
        ] {
            std::fs::copy(data.join(fixture), dir.join(format!("{stem}.pb.gz"))).unwrap();
            let p = Profile::from_path(&dir.join(format!("{stem}.pb.gz"))).unwrap();
            let svg = render(&p, p.default_index, &FlamegraphConfig::default()).unwrap();
            std::fs::write(dir.join(format!("{stem}.svg")), svg).unwrap();
            let a = profile_tools::analyze::analyze(
                profile_tools::analyze::Input {
                    profile: &p,
                    index: p.default_index,
                    path: &dir.join(format!("{stem}.pb.gz")),
                },
                None,
            );
            std::fs::write(dir.join(format!("{stem}_analysis.md")), a.to_markdown()).unwrap();
        }
        std::fs::write(dir.join("unrelated.html"), "<script>alert(1)</script>").unwrap();
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

#[tokio::test]
async fn lists_filters_serves_and_renders() {
    let g = GalleryDir::new("routes");
    let app = profile_tools::gallery::app(&g.0).unwrap();

    let (status, _, html) = get(app.clone(), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<tr class=\"artifact\"").count(), 6, "{html}");
    assert!(
        !html.contains("unrelated.html"),
        "only our artifacts are listed"
    );
    // Newest first: the 11:00 heap capture before the 10:00 CPU one.
    let heap = html.find("heap_profile_market-sim").unwrap();
    let cpu = html.find("cpu_profile_trading-api").unwrap();
    assert!(heap < cpu);
    assert!(html.contains("2026-11-25 11:00:00"));

    // Server-side filter (works without JavaScript).
    let (_, _, html) = get(app.clone(), "/?service=trading-api&kind=flamegraph").await;
    let visible = html
        .split("<tr class=\"artifact\"")
        .skip(1)
        .filter(|row| !row.split('>').next().unwrap().contains("hidden"))
        .count();
    assert_eq!(visible, 1, "{html}");

    let (_, _, json) = get(app.clone(), "/api/artifacts?type=heap").await;
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);

    let (status, ctype, svg) = get(
        app.clone(),
        "/files/cpu_profile_trading-api_20261125_100000.svg",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "image/svg+xml");
    assert!(svg.contains("function search("));

    let (status, ctype, page) = get(
        app.clone(),
        "/report/cpu_profile_trading-api_20261125_100000_analysis.md",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/html"));
    assert!(page.contains("<h2>🎯 Executive summary</h2>"), "{page}");
    assert!(page.contains("<table>"));
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
    for uri in [
        "/files/..%2F..%2Fetc%2Fpasswd",
        &format!(
            "/files/..%2F{}",
            outside.file_name().unwrap().to_str().unwrap()
        ),
        "/files/%2Fetc%2Fpasswd",
        "/files/unrelated.html",
        "/files/missing_profile_x_1.svg",
        "/report/cpu_profile_trading-api_20261125_100000.svg",
        "/files/.hidden.svg",
    ] {
        let (status, ctype, body) = get(app.clone(), uri).await;
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

/// Runs headless Chromium on `url` and returns the DOM after scripts ran.
fn dump_dom(url: &str) -> Option<String> {
    use std::os::unix::process::CommandExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A fresh profile per run: a second Chromium on the same profile waits for the first's
    // helpers to let go of it.
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let profile_dir = std::env::temp_dir().join(format!(
        "gallery-chromium-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::SeqCst)
    ));
    let dom_file = profile_dir.with_extension("html");
    let mut child = Command::new("chromium")
        .process_group(0)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg("--dump-dom")
        .arg(url)
        // A file, not a pipe: we only wait, so a DOM bigger than the pipe buffer would block.
        .stdout(std::fs::File::create(&dom_file).ok()?)
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
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
    let dom = std::fs::read_to_string(&dom_file).ok();
    let _ = std::fs::remove_dir_all(&profile_dir);
    let _ = std::fs::remove_file(&dom_file);
    dom
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
fn in_headless_chromium_the_list_filters_and_svg_search_work() {
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

    // The list renders (six artifacts).
    let dom = dump_dom(&format!("{base}/")).unwrap();
    assert_eq!(dom.matches("class=\"artifact\"").count(), 6, "{dom}");
    assert!(dom.contains("6 shown"), "the script ran: {dom}");

    // A client-side filter (the fragment never reaches the server) hides the other rows.
    let dom = dump_dom(&format!("{base}/#service=market-sim")).unwrap();
    assert!(dom.contains("3 shown"), "{dom}");
    let hidden = dom.matches("data-service=\"trading-api\"").count();
    let hidden_rows = dom
        .split("<tr class=\"artifact\"")
        .skip(1)
        .filter(|r| {
            r.contains("data-service=\"trading-api\"")
                && r.split('>').next().unwrap().contains("hidden")
        })
        .count();
    assert_eq!(hidden, 3);
    assert_eq!(hidden_rows, 3, "{dom}");

    // The SVG opens, inferno's script runs, and its search finds a function.
    let dom = dump_dom(&format!(
        "{base}/files/cpu_profile_trading-api_20261125_100000.svg?s=encoding/json.Marshal"
    ))
    .unwrap();
    assert!(
        dom.contains("Reset Search"),
        "search ran: {}",
        &dom[..dom.len().min(2000)]
    );
    assert!(dom.contains("Matched: "), "a match was found");
    assert!(dom.contains("rgb(230,0,230)"), "matches are highlighted");

    // The report renders as HTML.
    let dom = dump_dom(&format!(
        "{base}/report/heap_profile_market-sim_20261125_110000_analysis.md"
    ))
    .unwrap();
    assert!(dom.contains("in-use memory (bytes)"));

    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
}
