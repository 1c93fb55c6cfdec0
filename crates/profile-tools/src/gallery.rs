//! The profile gallery: an axum app over one directory (`flamegraphs/`) that shows what was
//! captured as a person thinks of it: one row per capture (its profile, flamegraph, analysis
//! and top listing together), one entry per chaos run (its phases side by side, its diffs and
//! its report), newest first, filtered by service, type and time in the page.
//!
//! Pages: `/` the list; `/view/{path}` one flamegraph embedded in an `<iframe>` so inferno's
//! script (zoom, search) runs, re-rendered from the profile with runtime plumbing collapsed or
//! shown; `/compare?base=…&new=…` a differential flamegraph and the diff text of any two
//! profiles, rendered on demand (absolute change unless `normalize=1`); `/report/{path}`
//! Markdown rendered as HTML with its relative links pointing back into the gallery;
//! `/files/{path}` the raw artifact; `/api/artifacts` the listing as JSON.
//!
//! Safety: paths are at most `chaos run / phase / file`, every component a plain name, the file
//! name one of our artifacts, and the resolved path must stay inside the directory, so `..`,
//! absolute paths and symlinks out of it get a 404. Names are HTML-escaped everywhere; report
//! Markdown cannot inject HTML. Nothing on the pages is fetched from the network.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::diff::Comparison;
use crate::files::{epoch_display, ArtifactKind, ArtifactName, ChaosRunName};
use crate::flamegraph::{self, DiffConfig, FlamegraphConfig};
use crate::stacks::StackSummary;
use crate::Profile;

/// Shared state: the directory being shown.
#[derive(Debug, Clone)]
struct Gallery {
    /// Canonical directory, so containment checks compare like with like.
    dir: Arc<PathBuf>,
}

/// One file of a capture.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Artifact {
    /// Path relative to the gallery directory, `/`-separated (also the URL path).
    pub path: String,
    /// profile, flamegraph, report, top or diff.
    pub kind: ArtifactKind,
    /// Size in bytes.
    pub size: u64,
}

/// One capture (or one diff): the artifacts that share a file stem.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Capture {
    /// The shared stem, e.g. `cpu_profile_trading-api_20261125_100000`.
    pub stem: String,
    /// Profile type from the name (`cpu`, `heap`, …), or "" when unknown.
    pub profile_type: String,
    /// Service from the name, or "" when unknown.
    pub service: String,
    /// Seconds since the Unix epoch: from the name's timestamp, else the newest file's mtime.
    pub epoch: i64,
    /// `YYYY-MM-DD HH:MM:SS` UTC of `epoch`.
    pub time: String,
    /// True for a `diff_…` group (a differential flamegraph and its text).
    pub diff: bool,
    /// Its files.
    pub artifacts: Vec<Artifact>,
}

impl Capture {
    fn find(&self, want: impl Fn(&Artifact) -> bool) -> Option<&str> {
        self.artifacts
            .iter()
            .find(|a| want(a))
            .map(|a| a.path.as_str())
    }

    /// The pprof file, if the capture has one.
    pub fn profile(&self) -> Option<&str> {
        self.find(|a| a.kind == ArtifactKind::Profile)
    }

    /// The flamegraph (or differential flamegraph) SVG.
    pub fn svg(&self) -> Option<&str> {
        self.find(|a| a.path.ends_with(".svg"))
    }

    /// The Markdown report.
    pub fn report(&self) -> Option<&str> {
        self.find(|a| a.kind == ArtifactKind::Report)
    }

    /// The top listing, or a diff's text.
    pub fn text(&self) -> Option<&str> {
        self.find(|a| a.path.ends_with(".txt"))
    }
}

/// One phase of a chaos run (`baseline`, `load`, `chaos`, `recovery`): a sub-directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Phase {
    /// The directory name.
    pub name: String,
    /// The captures taken in it.
    pub captures: Vec<Capture>,
}

/// One chaos run: `chaos_{scenario}_{ts}/` and `chaos_{scenario}_{ts}_report.md`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChaosRun {
    /// `chaos_{scenario}_{ts}`.
    pub run: String,
    /// The injected scenario.
    pub scenario: String,
    /// Seconds since the Unix epoch of the run's start.
    pub epoch: i64,
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub time: String,
    /// The report, when written.
    pub report: Option<String>,
    /// The report's first statement (its verdict line), as plain text.
    pub summary: Option<String>,
    /// The phases, in the order they ran.
    pub phases: Vec<Phase>,
    /// Differential flamegraphs and texts at the top of the run directory.
    pub diffs: Vec<Capture>,
}

/// Everything in the gallery directory.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Listing {
    /// Captures and diffs at the top level, newest first.
    pub captures: Vec<Capture>,
    /// Chaos runs, newest first.
    pub chaos_runs: Vec<ChaosRun>,
}

impl Listing {
    /// Every capture with a profile, top-level and in chaos runs, with a label for pickers.
    fn profiles(&self) -> Vec<(String, &Capture)> {
        let mut out: Vec<(String, &Capture)> = self
            .captures
            .iter()
            .filter(|c| c.profile().is_some())
            .map(|c| (String::new(), c))
            .collect();
        for run in &self.chaos_runs {
            for phase in &run.phases {
                for c in phase.captures.iter().filter(|c| c.profile().is_some()) {
                    out.push((format!("{} {} · {}", run.scenario, run.time, phase.name), c));
                }
            }
        }
        out
    }
}

/// Query-string filters of the index; empty or absent means "all". The page applies the same
/// filters live in JavaScript; these make a bookmarked or script-less view agree.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filters {
    /// Only this service.
    pub service: Option<String>,
    /// Only this profile type.
    #[serde(rename = "type")]
    pub profile_type: Option<String>,
    /// Only captures newer than this many hours.
    pub hours: Option<String>,
    /// `captures`, `chaos` or `diffs`.
    pub show: Option<String>,
}

impl Filters {
    fn wants(want: &Option<String>, have: &str) -> bool {
        want.as_deref().is_none_or(|w| w.is_empty() || w == have)
    }

    fn recent(&self, epoch: i64, now: i64) -> bool {
        match self.hours.as_deref().and_then(|h| h.parse::<i64>().ok()) {
            Some(h) if h > 0 => now - epoch <= h * 3600,
            _ => true,
        }
    }

    fn admits_capture(&self, c: &Capture, now: i64) -> bool {
        let show = if c.diff { "diffs" } else { "captures" };
        Self::wants(&self.service, &c.service)
            && Self::wants(&self.profile_type, &c.profile_type)
            && Self::wants(&self.show, show)
            && self.recent(c.epoch, now)
    }
}

/// Errors shown to the browser, always as JSON `{"error": "..."}`.
#[derive(Debug)]
enum GalleryError {
    /// 404: no such artifact (or a name we refuse to resolve).
    NotFound,
    /// 400: a request the gallery cannot answer (missing or mismatched compare inputs).
    BadRequest(String),
    /// 422: the file is there but is not a profile we can draw.
    Unprocessable(String),
    /// 500: the directory or file could not be read; the cause is logged to stderr only.
    Internal(String),
}

impl IntoResponse for GalleryError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            GalleryError::NotFound => (
                StatusCode::NOT_FOUND,
                "no such file in the gallery".to_owned(),
            ),
            GalleryError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            GalleryError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            GalleryError::Internal(e) => {
                eprintln!("gallery: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not read the gallery directory".to_owned(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<std::io::Error> for GalleryError {
    fn from(e: std::io::Error) -> Self {
        GalleryError::Internal(e.to_string())
    }
}

/// Builds the gallery router for `dir` (created if missing).
pub fn app(dir: &Path) -> std::io::Result<Router> {
    std::fs::create_dir_all(dir)?;
    let dir = Arc::new(dir.canonicalize()?);
    Ok(Router::new()
        .route("/", get(index))
        .route("/api/artifacts", get(list_json))
        .route("/files/{*path}", get(file))
        .route("/report/{*path}", get(report))
        .route("/view/{*path}", get(view))
        .route("/render/{*path}", get(render_svg))
        .route("/compare", get(compare_page))
        .route("/compare.svg", get(compare_svg))
        .with_state(Gallery { dir }))
}

/// Serves the gallery on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    dir: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(dir)?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

// ---------------------------------------------------------------------------------------------
// Listing

/// Lists the gallery directory: top-level captures and diffs, and chaos runs.
pub fn list(dir: &Path) -> std::io::Result<Listing> {
    let (captures, subdirs) = group_dir(dir, "")?;
    let mut runs: BTreeMap<String, ChaosRun> = BTreeMap::new();
    let new_run = |name: &ChaosRunName| ChaosRun {
        run: name.run.clone(),
        scenario: name.scenario.clone(),
        epoch: name.epoch,
        time: epoch_display(name.epoch),
        report: None,
        summary: None,
        phases: Vec::new(),
        diffs: Vec::new(),
    };
    for sub in subdirs {
        let Some(name) = ChaosRunName::parse(&sub) else {
            continue;
        };
        let (diffs, phase_dirs) = group_dir(&dir.join(&sub), &sub)?;
        let mut phases = Vec::new();
        for phase in phase_dirs {
            let (captures, _) = group_dir(&dir.join(&sub).join(&phase), &format!("{sub}/{phase}"))?;
            phases.push(Phase {
                name: phase,
                captures,
            });
        }
        phases.sort_by_key(|p| (phase_rank(&p.name), p.name.clone()));
        let run = runs
            .entry(name.run.clone())
            .or_insert_with(|| new_run(&name));
        run.phases = phases;
        run.diffs = diffs;
    }
    // Reports sit beside their run's directory; a report whose directory is gone still shows.
    let mut top = Vec::new();
    for c in captures {
        match ChaosRunName::parse(&c.stem).filter(|_| c.report().is_some()) {
            Some(name) => {
                let run = runs
                    .entry(name.run.clone())
                    .or_insert_with(|| new_run(&name));
                run.report = c.report().map(str::to_owned);
                run.summary = run
                    .report
                    .as_deref()
                    .and_then(|r| std::fs::read_to_string(dir.join(r)).ok())
                    .and_then(|md| report_summary(&md));
            }
            None => top.push(c),
        }
    }
    top.sort_by(|a, b| b.epoch.cmp(&a.epoch).then_with(|| a.stem.cmp(&b.stem)));
    let mut chaos_runs: Vec<ChaosRun> = runs.into_values().collect();
    chaos_runs.sort_by(|a, b| b.epoch.cmp(&a.epoch).then_with(|| a.run.cmp(&b.run)));
    Ok(Listing {
        captures: top,
        chaos_runs,
    })
}

/// The order phases run in; unknown phases come after, alphabetically.
fn phase_rank(name: &str) -> usize {
    ["baseline", "load", "chaos", "fault", "recovery"]
        .iter()
        .position(|p| *p == name)
        .unwrap_or(usize::MAX)
}

/// Groups the artifacts of one directory by stem; returns them and the plain sub-directories.
fn group_dir(dir: &Path, rel: &str) -> std::io::Result<(Vec<Capture>, Vec<String>)> {
    let mut groups: BTreeMap<String, Capture> = BTreeMap::new();
    let mut subdirs = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        if !plain_component(&name) {
            continue; // Temporary files of an in-progress atomic write, and odd names.
        }
        // A file deleted while we list (e.g. `make profile-clean`) is skipped, not an error.
        let Ok(meta) = item.metadata() else {
            continue;
        };
        if meta.is_dir() {
            subdirs.push(name);
            continue;
        }
        let (Some(stem), Some(parsed)) =
            (ArtifactName::group_stem(&name), ArtifactName::parse(&name))
        else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let epoch = parsed.epoch().unwrap_or(mtime);
        let capture = groups.entry(stem.to_owned()).or_insert_with(|| Capture {
            stem: stem.to_owned(),
            profile_type: String::new(),
            service: String::new(),
            epoch,
            time: String::new(),
            diff: false,
            artifacts: Vec::new(),
        });
        capture.epoch = capture.epoch.max(epoch);
        capture.diff |= parsed.artifact == ArtifactKind::Diff;
        if capture.profile_type.is_empty() {
            capture.profile_type = parsed.type_name.unwrap_or_default();
        }
        if capture.service.is_empty() {
            capture.service = parsed.service.unwrap_or_default();
        }
        capture.artifacts.push(Artifact {
            path: if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            },
            kind: parsed.artifact,
            size: meta.len(),
        });
    }
    let mut captures: Vec<Capture> = groups.into_values().collect();
    for c in &mut captures {
        c.time = epoch_display(c.epoch);
        c.artifacts.sort_by_key(|a| artifact_rank(a.kind));
    }
    subdirs.sort();
    Ok((captures, subdirs))
}

fn artifact_rank(kind: ArtifactKind) -> u8 {
    match kind {
        ArtifactKind::Flamegraph | ArtifactKind::Diff => 0,
        ArtifactKind::Report => 1,
        ArtifactKind::Top => 2,
        ArtifactKind::Profile => 3,
    }
}

/// The first statement of a report, e.g. its `**Verdict: …**` line, as plain text.
fn report_summary(markdown: &str) -> Option<String> {
    let line = markdown
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("```"))?;
    let plain: String = line
        .chars()
        .filter(|c| !matches!(c, '*' | '`' | '_'))
        .collect();
    let mut plain = plain.trim().to_owned();
    if plain.chars().count() > 240 {
        plain = plain.chars().take(239).collect::<String>() + "…";
    }
    Some(plain)
}

// ---------------------------------------------------------------------------------------------
// Paths

/// A name we would create: no separators, not hidden, not `..`.
fn plain_component(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

/// Resolves a requested relative path to a file inside the gallery, or `NotFound`: at most
/// `run/phase/file`, directories only inside a chaos run, the file one of our artifacts, and the
/// canonical path still inside the directory (no symlinks out).
fn resolve(g: &Gallery, rel: &str) -> Result<(PathBuf, ArtifactName), GalleryError> {
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.is_empty() || parts.len() > 3 || !parts.iter().all(|p| plain_component(p)) {
        return Err(GalleryError::NotFound);
    }
    if parts.len() > 1 && ChaosRunName::parse(parts[0]).is_none() {
        return Err(GalleryError::NotFound);
    }
    let name = parts[parts.len() - 1];
    let parsed = ArtifactName::parse(name).ok_or(GalleryError::NotFound)?;
    let path = g
        .dir
        .join(rel)
        .canonicalize()
        .map_err(|_| GalleryError::NotFound)?;
    if !path.starts_with(g.dir.as_path()) || !path.is_file() {
        return Err(GalleryError::NotFound);
    }
    Ok((path, parsed))
}

/// The other artifacts of the capture `rel` belongs to, found by stem in its directory.
fn capture_of(g: &Gallery, rel: &str) -> Result<Capture, GalleryError> {
    resolve(g, rel)?;
    let (dir_rel, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let stem = ArtifactName::group_stem(name).ok_or(GalleryError::NotFound)?;
    let (captures, _) = group_dir(&g.dir.join(dir_rel), dir_rel)?;
    captures
        .into_iter()
        .find(|c| c.stem == stem)
        .ok_or(GalleryError::NotFound)
}

/// Percent-encodes a relative path for a URL, keeping `/`.
fn url_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value.
fn url_query(value: &str) -> String {
    url_path(value).replace('/', "%2F")
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn list_json(State(g): State<Gallery>) -> Result<Json<Listing>, GalleryError> {
    Ok(Json(list(&g.dir)?))
}

async fn file(
    State(g): State<Gallery>,
    UrlPath(rel): UrlPath<String>,
) -> Result<Response, GalleryError> {
    let (path, _) = resolve(&g, &rel)?;
    let content_type = if rel.ends_with(".svg") {
        "image/svg+xml"
    } else if rel.ends_with(".md") {
        "text/markdown; charset=utf-8"
    } else if rel.ends_with(".txt") {
        "text/plain; charset=utf-8"
    } else if rel.ends_with(".gz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    };
    let body = tokio::fs::read(&path).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

async fn report(
    State(g): State<Gallery>,
    UrlPath(rel): UrlPath<String>,
) -> Result<Html<String>, GalleryError> {
    let (path, parsed) = resolve(&g, &rel)?;
    if parsed.artifact != ArtifactKind::Report {
        return Err(GalleryError::NotFound);
    }
    let markdown = tokio::fs::read_to_string(&path).await?;
    let dir_rel = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let name = rel.rsplit('/').next().unwrap_or(&rel);
    let mut links = format!(
        "<a href=\"/files/{}\">Markdown source</a>",
        escape(&url_path(&rel))
    );
    if let Some(run) = ChaosRunName::parse(rel.split('/').next().unwrap_or_default()) {
        links.push_str(&format!(
            " · <a href=\"/#run-{}\">this chaos run in the gallery</a>",
            escape(&run.run)
        ));
    }
    let body = format!(
        "<div class=\"bar\">{links}</div><article class=\"report\">{}</article>",
        render_markdown_in(&markdown, dir_rel)
    );
    Ok(Html(page(name, &body, "")))
}

/// Markdown to HTML with tables; raw HTML in the source is shown as text, never executed.
pub fn render_markdown(markdown: &str) -> String {
    render_markdown_in(markdown, "")
}

/// Like [`render_markdown`], for a report in the gallery sub-directory `dir_rel`: relative
/// links are resolved against it and point at the gallery's pages (flamegraphs to `/view`,
/// reports to `/report`, run directories to the run's entry, other files to `/files`).
fn render_markdown_in(markdown: &str, dir_rel: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: gallery_link(&dest_url, dir_rel).into(),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: gallery_link(&dest_url, dir_rel).into(),
            title,
            id,
        }),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

/// Maps a link of a report in `dir_rel` to a gallery URL; absolute and external links stay.
fn gallery_link(dest: &str, dir_rel: &str) -> String {
    if dest.is_empty() || dest.starts_with(['/', '#']) || dest.contains(':') {
        return dest.to_owned();
    }
    let mut parts: Vec<&str> = dir_rel.split('/').filter(|p| !p.is_empty()).collect();
    for part in dest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return "#".to_owned();
                }
            }
            p => parts.push(p),
        }
    }
    let rel = parts.join("/");
    let is_dir =
        dest.ends_with('/') || ArtifactName::parse(parts.last().copied().unwrap_or("")).is_none();
    if is_dir {
        return match parts.first().and_then(|p| ChaosRunName::parse(p)) {
            Some(run) => format!("/#run-{}", url_query(&run.run)),
            None => "/".to_owned(),
        };
    }
    if rel.ends_with(".svg") {
        format!("/view/{}", url_path(&rel))
    } else if rel.ends_with(".md") {
        format!("/report/{}", url_path(&rel))
    } else {
        format!("/files/{}", url_path(&rel))
    }
}

/// `?full=1` on the flamegraph routes: draw runtime plumbing too.
#[derive(Debug, Default, serde::Deserialize)]
struct RenderQuery {
    full: Option<String>,
}

fn flag(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "on" | "yes"))
}

fn load_profile(path: &Path) -> Result<Profile, GalleryError> {
    Profile::from_path(path).map_err(|e| GalleryError::Unprocessable(e.to_string()))
}

/// Renders a profile's flamegraph on demand (so the plumbing switch works for every capture).
async fn render_svg(
    State(g): State<Gallery>,
    UrlPath(rel): UrlPath<String>,
    Query(q): Query<RenderQuery>,
) -> Result<Response, GalleryError> {
    let (path, parsed) = resolve(&g, &rel)?;
    if parsed.artifact != ArtifactKind::Profile {
        return Err(GalleryError::NotFound);
    }
    let full_stacks = flag(&q.full);
    let svg = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, GalleryError> {
        let profile = load_profile(&path)?;
        let config = FlamegraphConfig {
            title: None,
            service: parsed.service,
            full_stacks,
        };
        flamegraph::render(&profile, profile.default_index, &config)
            .map_err(|e| GalleryError::Unprocessable(e.to_string()))
    })
    .await
    .map_err(|e| GalleryError::Internal(e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// One flamegraph on its own page: embedded so inferno's script runs, with the plumbing switch
/// and the capture's other artifacts.
async fn view(
    State(g): State<Gallery>,
    UrlPath(rel): UrlPath<String>,
    Query(q): Query<RenderQuery>,
) -> Result<Html<String>, GalleryError> {
    let capture = capture_of(&g, &rel)?;
    let full = flag(&q.full);
    let here = format!("/view/{}", url_path(&rel));
    let (src, switch) = match (capture.profile(), capture.svg()) {
        (Some(profile), _) if !capture.diff => (
            format!(
                "/render/{}{}",
                url_path(profile),
                if full { "?full=1" } else { "" }
            ),
            format!(
                "<span class=\"switch\">Runtime plumbing: <a href=\"{here}\"{}>collapsed</a><a href=\"{here}?full=1\"{}>all frames</a></span>",
                if full { "" } else { " class=\"on\"" },
                if full { " class=\"on\"" } else { "" },
            ),
        ),
        (_, Some(svg)) => (
            format!("/files/{}", url_path(svg)),
            "<span class=\"muted\">Stored SVG (no profile beside it to re-render)</span>"
                .to_owned(),
        ),
        _ => return Err(GalleryError::NotFound),
    };
    let mut links = Vec::new();
    if let Some(r) = capture.report() {
        links.push(format!("<a href=\"/report/{}\">analysis</a>", url_path(r)));
    }
    if let Some(t) = capture.text() {
        let label = if capture.diff { "diff text" } else { "top" };
        links.push(format!("<a href=\"/files/{}\">{label}</a>", url_path(t)));
    }
    if let Some(s) = capture.svg() {
        links.push(format!("<a href=\"/files/{}\">SVG file</a>", url_path(s)));
    }
    if let Some(p) = capture.profile() {
        links.push(format!(
            "<a href=\"/files/{}\" download>profile</a>",
            url_path(p)
        ));
    }
    let mut body = format!(
        "<h2>{}</h2><p class=\"meta\">{} {} · {}</p><div class=\"bar\">{switch}<span class=\"links\">{}</span></div>{}",
        escape(&capture.stem),
        type_badge(&capture.profile_type, capture.diff),
        escape(if capture.service.is_empty() { "unknown service" } else { &capture.service }),
        escape(&capture.time),
        links.join(" · "),
        frame(&src),
    );
    if capture.diff {
        if let Some(t) = capture.text() {
            if let Ok((path, _)) = resolve(&g, t) {
                let text = tokio::fs::read_to_string(path).await?;
                body.push_str(&format!(
                    "<h3>Diff text</h3><pre class=\"diff\">{}</pre>",
                    escape(&text)
                ));
            }
        }
    }
    Ok(Html(page(&capture.stem, &body, FRAME_SCRIPT)))
}

/// The parameters of `/compare` and `/compare.svg`.
#[derive(Debug, Default, serde::Deserialize)]
struct CompareQuery {
    base: Option<String>,
    new: Option<String>,
    normalize: Option<String>,
    full: Option<String>,
}

/// Two resolved profiles to compare.
struct Pair {
    base: (PathBuf, String),
    new: (PathBuf, String),
    service: Option<String>,
}

fn pair(g: &Gallery, q: &CompareQuery) -> Result<Pair, GalleryError> {
    let pick =
        |v: &Option<String>, what: &str| -> Result<(PathBuf, ArtifactName, String), GalleryError> {
            let rel = v.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
                GalleryError::BadRequest(format!("pick a {what} profile (?base=…&new=…)"))
            })?;
            let (path, parsed) = resolve(g, rel)?;
            if parsed.artifact != ArtifactKind::Profile {
                return Err(GalleryError::BadRequest(format!(
                    "{what} is not a profile: {rel}"
                )));
            }
            Ok((path, parsed, rel.to_owned()))
        };
    let (bp, _, brel) = pick(&q.base, "base")?;
    let (np, nparsed, nrel) = pick(&q.new, "new")?;
    Ok(Pair {
        base: (bp, brel),
        new: (np, nrel),
        service: nparsed.service,
    })
}

/// Loads both profiles and checks they measure the same thing.
fn load_pair(p: &Pair) -> Result<(Profile, Profile), GalleryError> {
    let base = load_profile(&p.base.0)?;
    let new = load_profile(&p.new.0)?;
    let (bt, nt) = (
        &base.sample_types[base.default_index],
        &new.sample_types[new.default_index],
    );
    if bt != nt {
        return Err(GalleryError::BadRequest(format!(
            "the profiles measure different things ({}/{} vs {}/{}): compare two of one type",
            bt.name, bt.unit, nt.name, nt.unit
        )));
    }
    Ok((base, new))
}

fn stem_of(rel: &str) -> &str {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    ArtifactName::group_stem(name).unwrap_or(name)
}

async fn compare_svg(
    State(g): State<Gallery>,
    Query(q): Query<CompareQuery>,
) -> Result<Response, GalleryError> {
    let p = pair(&g, &q)?;
    let config_normalize = flag(&q.normalize);
    let full_stacks = flag(&q.full);
    let svg = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, GalleryError> {
        let (base, new) = load_pair(&p)?;
        let config = DiffConfig {
            title: format!(
                "Differential {} · {} → {}",
                flamegraph::default_title(&new, p.service.as_deref()),
                stem_of(&p.base.1),
                stem_of(&p.new.1)
            ),
            normalize: config_normalize,
            full_stacks,
        };
        flamegraph::render_diff_with(&base, base.default_index, &new, new.default_index, &config)
            .map_err(|e| GalleryError::Unprocessable(e.to_string()))
    })
    .await
    .map_err(|e| GalleryError::Internal(e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// Any two profiles side by side in time: the differential flamegraph and the diff text.
async fn compare_page(
    State(g): State<Gallery>,
    Query(q): Query<CompareQuery>,
) -> Result<Html<String>, GalleryError> {
    let p = pair(&g, &q)?;
    let (base_rel, new_rel) = (p.base.1.clone(), p.new.1.clone());
    let text = tokio::task::spawn_blocking(move || -> Result<String, GalleryError> {
        let (base, new) = load_pair(&p)?;
        let unit = new.sample_types[new.default_index].unit.clone();
        let comparison = Comparison::new(
            &StackSummary::new(&base, base.default_index),
            &StackSummary::new(&new, new.default_index),
            &unit,
            15,
        );
        Ok(comparison.to_text())
    })
    .await
    .map_err(|e| GalleryError::Internal(e.to_string()))??;
    let (normalize, full) = (flag(&q.normalize), flag(&q.full));
    let query = |normalize: bool, full: bool| {
        format!(
            "base={}&amp;new={}{}{}",
            url_query(&base_rel),
            url_query(&new_rel),
            if normalize { "&amp;normalize=1" } else { "" },
            if full { "&amp;full=1" } else { "" }
        )
    };
    let on = |b: bool| if b { " class=\"on\"" } else { "" };
    let body = format!(
        "<h2>Compare profiles</h2>\
         <table class=\"pair\"><tr><th>base</th><td><a href=\"/view/{bu}\">{b}</a></td></tr><tr><th>new</th><td><a href=\"/view/{nu}\">{n}</a></td></tr></table>\
         <div class=\"bar\"><span class=\"switch\">Change: <a href=\"/compare?{abs}\"{abs_on}>absolute</a><a href=\"/compare?{norm}\"{norm_on}>normalised to new total</a></span>\
         <span class=\"switch\">Runtime plumbing: <a href=\"/compare?{coll}\"{coll_on}>collapsed</a><a href=\"/compare?{all}\"{all_on}>all frames</a></span>\
         <span class=\"links\"><a href=\"/compare.svg?{cur}\">SVG</a></span></div>\
         <p class=\"muted\">Widths are the new profile; red grew, blue shrank{mode}. Hover a frame for its value and change.</p>{frame}\
         <h3>Diff text</h3><pre class=\"diff\">{text}</pre>",
        bu = escape(&url_path(&base_rel)),
        nu = escape(&url_path(&new_rel)),
        b = escape(&base_rel),
        n = escape(&new_rel),
        abs = query(false, full),
        abs_on = on(!normalize),
        norm = query(true, full),
        norm_on = on(normalize),
        coll = query(normalize, false),
        coll_on = on(!full),
        all = query(normalize, true),
        all_on = on(full),
        cur = query(normalize, full),
        mode = if normalize {
            " in share of each profile's total (base scaled to the new total)"
        } else {
            " in absolute amounts"
        },
        // `frame` escapes its URL itself: hand it the query unescaped, or `&` arrives as
        // `&amp;amp;` and the SVG request loses every parameter after the first.
        frame = frame(&format!(
            "/compare.svg?{}",
            query(normalize, full).replace("&amp;", "&")
        )),
        text = escape(&text),
    );
    Ok(Html(page("Compare profiles", &body, FRAME_SCRIPT)))
}

// ---------------------------------------------------------------------------------------------
// The index page

async fn index(
    State(g): State<Gallery>,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, GalleryError> {
    let listing = list(&g.dir)?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(Html(index_html(&listing, &filters, &g.dir, now)))
}

fn select(
    name: &str,
    label: &str,
    values: &[(String, String)],
    selected: &Option<String>,
) -> String {
    let mut html = format!(
        "<label>{label} <select id=\"f-{name}\" name=\"{name}\" data-filter=\"{name}\"><option value=\"\">all</option>"
    );
    for (value, text) in values {
        let sel = if selected.as_deref() == Some(value.as_str()) {
            " selected"
        } else {
            ""
        };
        html.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            escape(value),
            escape(text)
        ));
    }
    html.push_str("</select></label>");
    html
}

fn index_html(listing: &Listing, filters: &Filters, dir: &Path, now: i64) -> String {
    let all_captures = listing.captures.iter().chain(
        listing
            .chaos_runs
            .iter()
            .flat_map(|r| r.phases.iter().flat_map(|p| p.captures.iter())),
    );
    let mut services = BTreeSet::new();
    let mut types = BTreeSet::new();
    for c in all_captures {
        if !c.service.is_empty() {
            services.insert(c.service.clone());
        }
        if !c.profile_type.is_empty() {
            types.insert(c.profile_type.clone());
        }
    }
    let pairs = |s: BTreeSet<String>| s.into_iter().map(|v| (v.clone(), v)).collect::<Vec<_>>();
    let hours = [
        ("1", "last hour"),
        ("24", "last 24 hours"),
        ("168", "last 7 days"),
    ]
    .map(|(v, t)| (v.to_owned(), t.to_owned()));
    let shows = [
        ("captures", "captures"),
        ("chaos", "chaos runs"),
        ("diffs", "diffs"),
    ]
    .map(|(v, t)| (v.to_owned(), t.to_owned()));
    let n_captures = listing.captures.iter().filter(|c| !c.diff).count();
    let n_diffs = listing.captures.len() - n_captures;
    let mut body = format!(
        "<div class=\"bar\" id=\"filters\"><form method=\"get\">{}{}{}{}<noscript><button type=\"submit\">Filter</button></noscript></form><span id=\"shown\" class=\"muted\"></span></div>",
        select("service", "Service", &pairs(services), &filters.service),
        select("type", "Type", &pairs(types), &filters.profile_type),
        select("hours", "Time", &hours, &filters.hours),
        select("show", "Show", &shows, &filters.show),
    );
    body.push_str(&compare_form(listing));
    let empty = listing.captures.is_empty() && listing.chaos_runs.is_empty();
    if empty {
        body.push_str(
            "<p id=\"empty\" class=\"card\">No profiles yet. Capture one with <code>make profile-cpu</code>, or run <code>make chaos-flamegraph</code>.</p>",
        );
    }
    // Captures, diffs and chaos runs interleaved, newest first.
    enum Row<'a> {
        Capture(&'a Capture),
        Run(&'a ChaosRun),
    }
    let mut rows: Vec<(i64, Row<'_>)> = listing
        .captures
        .iter()
        .map(|c| (c.epoch, Row::Capture(c)))
        .chain(listing.chaos_runs.iter().map(|r| (r.epoch, Row::Run(r))))
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.0));
    body.push_str("<table id=\"rows\" class=\"list\"><thead><tr><th>Time (UTC)</th><th>Service</th><th>Type</th><th>Open</th><th>Compare</th></tr></thead><tbody>");
    for (_, row) in &rows {
        match row {
            Row::Capture(c) => body.push_str(&capture_row(c, filters, now)),
            Row::Run(r) => body.push_str(&run_row(r, filters, now)),
        }
    }
    body.push_str("</tbody></table>");
    let subtitle = format!(
        "{n_captures} captures · {} chaos runs · {n_diffs} diffs · <code>{}</code>",
        listing.chaos_runs.len(),
        escape(&dir.display().to_string())
    );
    page_with_subtitle("Profile gallery", &subtitle, &body, INDEX_SCRIPT)
}

/// The base/new pickers: every profile in the gallery, newest first.
fn compare_form(listing: &Listing) -> String {
    let mut profiles = listing.profiles();
    profiles.sort_by(|a, b| b.1.epoch.cmp(&a.1.epoch).then_with(|| a.0.cmp(&b.0)));
    let mut options = String::from("<option value=\"\">choose a profile…</option>");
    for (context, c) in &profiles {
        let Some(path) = c.profile() else { continue };
        let mut label = format!(
            "{} · {} · {}",
            c.time,
            or_unknown(&c.service),
            or_unknown(&c.profile_type)
        );
        if !context.is_empty() {
            label.push_str(&format!(" ({context})"));
        }
        options.push_str(&format!(
            "<option value=\"{}\">{}</option>",
            escape(path),
            escape(&label)
        ));
    }
    format!(
        "<form class=\"bar\" id=\"compare\" method=\"get\" action=\"/compare\"><strong>Compare</strong>\
         <label>base <select name=\"base\" id=\"c-base\">{options}</select></label>\
         <label>new <select name=\"new\" id=\"c-new\">{options}</select></label>\
         <label><input type=\"checkbox\" name=\"normalize\" value=\"1\"> normalise</label>\
         <label><input type=\"checkbox\" name=\"full\" value=\"1\"> all frames</label>\
         <button type=\"submit\">Differential flamegraph</button></form>"
    )
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "?"
    } else {
        s
    }
}

fn type_badge(profile_type: &str, diff: bool) -> String {
    let t = if profile_type.is_empty() {
        "other"
    } else {
        profile_type
    };
    let diff_badge = if diff {
        "<span class=\"badge t-diff\">diff</span> "
    } else {
        ""
    };
    format!(
        "{diff_badge}<span class=\"badge t-{}\">{}</span>",
        escape(t),
        escape(t)
    )
}

/// The links of one capture: flamegraph, analysis, top (or diff text), profile download.
fn capture_links(c: &Capture) -> String {
    let mut links = Vec::new();
    if c.svg().is_some() || c.profile().is_some() {
        let target = c.svg().or(c.profile()).unwrap_or_default();
        let label = if c.diff {
            "differential flamegraph"
        } else {
            "flamegraph"
        };
        links.push(format!(
            "<a class=\"btn primary\" href=\"/view/{}\">{label}</a>",
            url_path(target)
        ));
    }
    if let Some(r) = c.report() {
        links.push(format!(
            "<a class=\"btn\" href=\"/report/{}\">analysis</a>",
            url_path(r)
        ));
    }
    if let Some(t) = c.text() {
        let label = if c.diff { "diff text" } else { "top" };
        links.push(format!(
            "<a class=\"btn\" href=\"/files/{}\">{label}</a>",
            url_path(t)
        ));
    }
    if let Some(p) = c.profile() {
        links.push(format!(
            "<a class=\"btn\" href=\"/files/{}\" download>.pb.gz</a>",
            url_path(p)
        ));
    }
    links.join("")
}

fn pick_buttons(c: &Capture) -> String {
    match c.profile() {
        Some(p) => format!(
            "<button class=\"pick\" data-pick=\"base\" data-path=\"{0}\" title=\"use as base\">base</button><button class=\"pick\" data-pick=\"new\" data-path=\"{0}\" title=\"use as new\">new</button>",
            escape(p)
        ),
        None => String::new(),
    }
}

fn capture_row(c: &Capture, filters: &Filters, now: i64) -> String {
    let hidden = if filters.admits_capture(c, now) {
        ""
    } else {
        " hidden"
    };
    format!(
        "<tr class=\"capture\" data-service=\"{s}\" data-type=\"{t}\" data-epoch=\"{e}\" data-show=\"{show}\"{hidden}>\
         <td class=\"time\">{time}</td><td>{service}</td><td>{badge}</td><td><div class=\"stem\">{stem}</div>{links}</td><td>{pick}</td></tr>",
        s = escape(&c.service),
        t = escape(&c.profile_type),
        e = c.epoch,
        show = if c.diff { "diffs" } else { "captures" },
        time = escape(&c.time),
        service = escape(or_unknown(&c.service)),
        badge = type_badge(&c.profile_type, c.diff),
        stem = escape(&c.stem),
        links = capture_links(c),
        pick = pick_buttons(c),
    )
}

/// A chaos run: one row holding a grid of service × type (rows) by phase (columns), its diffs
/// and its report.
fn run_row(r: &ChaosRun, filters: &Filters, now: i64) -> String {
    let visible = Filters::wants(&filters.show, "chaos") && filters.recent(r.epoch, now);
    let hidden = if visible { "" } else { " hidden" };
    let mut keys: BTreeSet<(String, usize, String)> = BTreeSet::new();
    for p in &r.phases {
        for c in &p.captures {
            keys.insert((
                c.service.clone(),
                type_rank(&c.profile_type),
                c.profile_type.clone(),
            ));
        }
    }
    let mut html = format!(
        "<tr class=\"run\" id=\"run-{id}\" data-epoch=\"{e}\" data-show=\"chaos\"{hidden}><td class=\"time\">{time}</td><td colspan=\"4\"><div class=\"chaos\">\
         <div class=\"chaos-head\"><span class=\"badge t-chaos\">chaos run</span> <strong>{scenario}</strong> <span class=\"muted\">{n} phases · {d} diffs</span>{report}</div>",
        id = escape(&r.run),
        e = r.epoch,
        time = escape(&r.time),
        scenario = escape(&r.scenario),
        n = r.phases.len(),
        d = r.diffs.len(),
        report = match &r.report {
            Some(rep) => format!(" <a class=\"btn primary\" href=\"/report/{}\">report</a>", url_path(rep)),
            None => " <span class=\"muted\">(no report yet)</span>".to_owned(),
        },
    );
    if let Some(summary) = &r.summary {
        html.push_str(&format!("<p class=\"summary\">{}</p>", escape(summary)));
    }
    if !keys.is_empty() {
        html.push_str("<table class=\"grid\"><thead><tr><th>service</th><th>type</th>");
        for p in &r.phases {
            html.push_str(&format!("<th>{}</th>", escape(&p.name)));
        }
        html.push_str("</tr></thead><tbody>");
        for (service, _, profile_type) in &keys {
            let hidden = if Filters::wants(&filters.service, service)
                && Filters::wants(&filters.profile_type, profile_type)
            {
                ""
            } else {
                " hidden"
            };
            html.push_str(&format!(
                "<tr class=\"cell-row\" data-service=\"{0}\" data-type=\"{1}\"{hidden}><td>{2}</td><td>{3}</td>",
                escape(service),
                escape(profile_type),
                escape(or_unknown(service)),
                type_badge(profile_type, false)
            ));
            for p in &r.phases {
                let cell = p
                    .captures
                    .iter()
                    .find(|c| &c.service == service && &c.profile_type == profile_type);
                match cell {
                    Some(c) => {
                        html.push_str(&format!("<td>{}{}</td>", grid_links(c), pick_buttons(c)))
                    }
                    None => html.push_str("<td class=\"muted\">–</td>"),
                }
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
    }
    if !r.diffs.is_empty() {
        html.push_str("<div class=\"diffs\"><span class=\"muted\">diffs:</span> ");
        for d in &r.diffs {
            let target = d.svg().or(d.text()).unwrap_or_default();
            let label = d
                .stem
                .strip_prefix("diff_")
                .unwrap_or(&d.stem)
                .replace('_', " ");
            html.push_str(&format!(
                "<a class=\"btn\" href=\"/view/{}\">{}</a>",
                url_path(target),
                escape(&label)
            ));
        }
        html.push_str("</div>");
    }
    html.push_str("</div></td></tr>");
    html
}

fn grid_links(c: &Capture) -> String {
    let mut links = String::new();
    if let Some(target) = c.svg().or(c.profile()) {
        links.push_str(&format!(
            "<a class=\"btn primary small\" href=\"/view/{}\">flame</a>",
            url_path(target)
        ));
    }
    if let Some(r) = c.report() {
        links.push_str(&format!(
            "<a class=\"btn small\" href=\"/report/{}\">analysis</a>",
            url_path(r)
        ));
    }
    links
}

fn type_rank(t: &str) -> usize {
    [
        "cpu",
        "heap",
        "allocs",
        "mutex",
        "block",
        "goroutine",
        "threadcreate",
    ]
    .iter()
    .position(|x| *x == t)
    .unwrap_or(99)
}

// ---------------------------------------------------------------------------------------------
// Page chrome

/// An iframe for a flamegraph, resized to the SVG's height once it loads (same origin).
fn frame(src: &str) -> String {
    format!(
        "<iframe class=\"flame\" id=\"flame\" src=\"{}\" title=\"flamegraph\"></iframe><p class=\"muted hint\">Click a frame to zoom, Ctrl+F (or “Search”) to highlight a function; hover shows value, share and samples.</p>",
        escape(src)
    )
}

const FRAME_SCRIPT: &str = r#"<script>
(function () {
  var f = document.getElementById('flame');
  if (!f) return;
  f.addEventListener('load', function () {
    try {
      var svg = f.contentDocument && f.contentDocument.documentElement;
      var h = svg && (svg.getAttribute('height') || svg.getBoundingClientRect().height);
      if (h) f.style.height = (parseFloat(h) + 8) + 'px';
    } catch (e) {}
  });
})();
</script>"#;

/// Live filtering: hides rows and keeps the query string in step, so a filtered view can be
/// bookmarked and the server-side filter agrees with it on reload. The base/new buttons fill the
/// compare form.
const INDEX_SCRIPT: &str = r#"<script>
function applyFilters() {
  var want = {};
  document.querySelectorAll('[data-filter]').forEach(function (s) { want[s.dataset.filter] = s.value; });
  var now = Date.now() / 1000;
  var recent = function (row) { return !want.hours || now - Number(row.dataset.epoch) <= Number(want.hours) * 3600; };
  var fits = function (row) {
    return (!want.service || row.dataset.service === want.service) && (!want.type || row.dataset.type === want.type);
  };
  var captures = 0, runs = 0;
  document.querySelectorAll('tr.capture').forEach(function (row) {
    var ok = fits(row) && recent(row) && (!want.show || want.show === row.dataset.show);
    row.hidden = !ok;
    if (ok) captures++;
  });
  document.querySelectorAll('tr.run').forEach(function (run) {
    var cells = 0;
    run.querySelectorAll('tr.cell-row').forEach(function (row) { row.hidden = !fits(row); if (!row.hidden) cells++; });
    var ok = recent(run) && (!want.show || want.show === 'chaos') && (cells > 0 || (!want.service && !want.type));
    run.hidden = !ok;
    if (ok) runs++;
  });
  var params = new URLSearchParams();
  Object.keys(want).forEach(function (k) { if (want[k]) params.set(k, want[k]); });
  var qs = params.toString();
  history.replaceState(null, '', (qs ? '?' + qs : location.pathname) + location.hash);
  document.getElementById('shown').textContent = captures + ' rows, ' + runs + ' chaos runs shown';
}
// A fragment (`#service=trading-api&type=cpu`) filters without asking the server.
function fromHash() {
  var h = new URLSearchParams(location.hash.slice(1));
  document.querySelectorAll('[data-filter]').forEach(function (s) {
    if (h.has(s.dataset.filter)) s.value = h.get(s.dataset.filter);
  });
}
document.querySelectorAll('[data-filter]').forEach(function (s) { s.addEventListener('change', applyFilters); });
document.querySelectorAll('button.pick').forEach(function (b) {
  b.addEventListener('click', function () {
    var sel = document.getElementById('c-' + b.dataset.pick);
    sel.value = b.dataset.path;
    document.querySelectorAll('button.pick[data-pick="' + b.dataset.pick + '"]').forEach(function (o) { o.classList.remove('on'); });
    b.classList.add('on');
    document.getElementById('compare').scrollIntoView({ block: 'nearest' });
  });
});
window.addEventListener('hashchange', function () { fromHash(); applyFilters(); });
fromHash();
applyFilters();
</script>"#;

fn page(title: &str, body: &str, script: &str) -> String {
    page_with_subtitle(title, "", body, script)
}

fn page_with_subtitle(title: &str, subtitle: &str, body: &str, script: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title><style>{STYLE}</style></head>\
         <body><header><a class=\"home\" href=\"/\">Profile gallery</a><span class=\"title\">{h}</span><span class=\"sub\">{subtitle}</span></header><main>{body}</main>{script}</body></html>",
        t = escape(title),
        h = if title == "Profile gallery" { String::new() } else { escape(title) },
    )
}

const STYLE: &str = r#"
:root{--bg:#f5f6f8;--card:#fff;--ink:#1c2230;--muted:#687083;--line:#e3e6eb;--accent:#c2410c}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:var(--bg);color:var(--ink)}
header{background:#1c2230;color:#fff;padding:12px 24px;display:flex;align-items:baseline;gap:14px;flex-wrap:wrap}
header .home{color:#fff;font-weight:700;font-size:18px;text-decoration:none}
header .title{font-weight:600;overflow-wrap:anywhere}
header .sub{color:#b8bfcc;font-size:13px}
header code{background:#2c3446;color:#dfe3ea}
main{padding:16px 24px;max-width:1500px}
a{color:#1f5fbf}
code{background:#eef0f3;padding:1px 4px;border-radius:4px;font-size:90%}
.muted{color:var(--muted)}
.bar,.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px;margin:0 0 12px;display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center}
.bar form{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;margin:0}
select{font:inherit;padding:3px 6px;border:1px solid #c9ced6;border-radius:6px;background:#fff;max-width:26em}
button{font:inherit;cursor:pointer;border:1px solid #c9ced6;background:#fff;border-radius:6px;padding:3px 10px}
form#compare button[type=submit]{background:var(--accent);border-color:var(--accent);color:#fff;font-weight:600}
table.list{width:100%;border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
.list>thead th{background:#eef0f3;text-align:left;font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em;padding:7px 12px}
.list>tbody>tr>td{padding:8px 12px;border-top:1px solid var(--line);vertical-align:top}
tr[hidden]{display:none}
td.time{white-space:nowrap;font-variant-numeric:tabular-nums;color:#3b4252}
.stem{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;color:var(--muted);margin-bottom:4px;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#eceef2;color:#444}
.t-cpu{background:#ffe7d6;color:#b43c00}.t-heap,.t-allocs{background:#dff3dc;color:#256b1e}
.t-mutex,.t-block{background:#e2eaff;color:#2a4db3}.t-goroutine,.t-threadcreate{background:#dcf4f5;color:#0e6970}
.t-diff{background:#f1e6ff;color:#6d32ad}.t-chaos{background:#ffe1e1;color:#b42318}
a.btn{display:inline-block;margin:2px 6px 2px 0;padding:2px 9px;border:1px solid #c9ced6;border-radius:6px;text-decoration:none;color:var(--ink);background:#fff;font-size:13px}
a.btn:hover{border-color:#8a93a3}
a.btn.primary{background:#fff4ec;border-color:#f0b48a;color:#9a3412;font-weight:600}
a.btn.small{font-size:12px;padding:1px 7px}
button.pick{font-size:12px;padding:1px 7px;margin:2px 4px 2px 0;color:var(--muted)}
button.pick.on{background:#1c2230;color:#fff;border-color:#1c2230}
.chaos{border-left:4px solid #f04438;padding-left:12px}
.chaos-head{margin-bottom:6px}
.summary{margin:4px 0 8px;padding:6px 10px;background:#fff6f5;border-radius:6px}
table.grid{border-collapse:collapse;margin:4px 0 6px;font-size:13px}
.grid th{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);text-align:left;padding:3px 10px 3px 0;border-bottom:1px solid var(--line)}
.grid td{padding:3px 10px 3px 0;border-bottom:1px solid #f0f1f4;white-space:nowrap}
.diffs{margin-top:4px}
.switch a{display:inline-block;padding:2px 10px;border:1px solid #c9ced6;text-decoration:none;color:var(--ink);background:#fff}
.switch a:first-of-type{border-radius:6px 0 0 6px}.switch a:last-of-type{border-radius:0 6px 6px 0;border-left:0}
.switch a.on{background:#1c2230;color:#fff;border-color:#1c2230}
iframe.flame{width:100%;height:70vh;border:1px solid var(--line);border-radius:8px;background:#fff}
.hint{font-size:12px;margin:4px 0 16px}
pre.diff{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px;overflow:auto;font-size:12.5px}
table.pair th{text-align:left;padding-right:12px;color:var(--muted);font-weight:600}
table.pair{margin-bottom:10px}
article.report{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 28px 20px;max-width:1100px}
article.report table{border-collapse:collapse;margin:8px 0}
article.report td,article.report th{border:1px solid var(--line);padding:4px 10px;text-align:left}
article.report th{background:#f3f4f6}
article.report pre{background:#f6f7f9;padding:10px;border-radius:6px;overflow:auto}
h2{margin:6px 0 2px}.meta{margin:0 0 10px}
"#;

/// HTML-escapes text for element content and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_links_point_into_the_gallery() {
        let run = "chaos_cpu-burn_20261202T130000Z";
        assert_eq!(
            gallery_link(
                &format!("{run}/chaos/cpu_profile_trading-api_20261202_130501.svg"),
                ""
            ),
            format!("/view/{run}/chaos/cpu_profile_trading-api_20261202_130501.svg")
        );
        assert_eq!(
            gallery_link(&format!("{run}/baseline/"), ""),
            format!("/#run-{run}")
        );
        assert_eq!(
            gallery_link(
                "cpu_profile_x_20261202_130501_analysis.md",
                &format!("{run}/load")
            ),
            format!("/report/{run}/load/cpu_profile_x_20261202_130501_analysis.md")
        );
        assert_eq!(gallery_link("../../../etc/passwd", "a"), "#");
        assert_eq!(
            gallery_link("https://example.com/x", ""),
            "https://example.com/x"
        );
    }

    #[test]
    fn a_report_summary_is_its_first_statement() {
        let md = "# Chaos: cpu-burn\n\n**Verdict: deviated** — p99 `940` ms\n\nmore";
        assert_eq!(
            report_summary(md).as_deref(),
            Some("Verdict: deviated — p99 940 ms")
        );
    }
}
