//! The profile gallery: an axum app listing every profile, flamegraph, report, top listing and
//! diff in one directory, newest first, with service/type/kind filters that work both from the
//! query string (no script needed) and live in the page (a few lines of JS, no reload).
//!
//! SVGs are served as `image/svg+xml` so inferno's embedded script (zoom, search) runs; analysis
//! Markdown is rendered to HTML. Only plain file names that parse as our artifacts are served,
//! and the resolved path must stay inside the directory, so `..`, absolute paths and symlinks
//! out of it get a 404.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::files::{utc_display, ArtifactKind, ArtifactName};

/// Shared state: the directory being shown.
#[derive(Debug, Clone)]
struct Gallery {
    /// Canonical directory, so containment checks compare like with like.
    dir: Arc<PathBuf>,
}

/// One file in the listing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// File name (also the URL path segment).
    pub name: String,
    /// profile, flamegraph, report, top or diff.
    pub kind: ArtifactKind,
    /// Profile type from the name (`cpu`, `heap`, …), or "" when unknown.
    pub profile_type: String,
    /// Service from the name, or "" when unknown.
    pub service: String,
    /// `YYYY-MM-DD HH:MM:SS` UTC: from the name when it has a timestamp, else the file's mtime.
    pub time: String,
    /// Size in bytes.
    pub size: u64,
}

/// Query-string filters; empty or absent means "all".
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filters {
    /// Only this service.
    pub service: Option<String>,
    /// Only this profile type.
    #[serde(rename = "type")]
    pub profile_type: Option<String>,
    /// Only this artifact kind.
    pub kind: Option<String>,
}

impl Filters {
    fn admits(&self, e: &Entry) -> bool {
        let ok = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w.is_empty() || w == have)
        };
        ok(&self.service, &e.service)
            && ok(&self.profile_type, &e.profile_type)
            && ok(&self.kind, e.kind.as_str())
    }
}

/// Errors shown to the browser, always as JSON `{"error": "..."}`.
#[derive(Debug)]
enum GalleryError {
    /// 404: no such artifact (or a name we refuse to resolve).
    NotFound,
    /// 500: the directory or file could not be read; the cause is logged to stderr only.
    Internal(std::io::Error),
}

impl IntoResponse for GalleryError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            GalleryError::NotFound => (StatusCode::NOT_FOUND, "no such file in the gallery"),
            GalleryError::Internal(e) => {
                eprintln!("gallery: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not read the gallery directory",
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// Builds the gallery router for `dir` (created if missing).
pub fn app(dir: &Path) -> std::io::Result<Router> {
    std::fs::create_dir_all(dir)?;
    let dir = Arc::new(dir.canonicalize()?);
    Ok(Router::new()
        .route("/", get(index))
        .route("/api/artifacts", get(list_json))
        .route("/files/{name}", get(file))
        .route("/report/{name}", get(report))
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

/// Lists the artifacts in `dir`, newest first.
pub fn list(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue; // Temporary files of an in-progress atomic write.
        }
        let Some(parsed) = ArtifactName::parse(&name) else {
            continue;
        };
        // A file deleted while we list (e.g. `make profile-clean`) is skipped, not an error.
        let Ok(meta) = item.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let time = parsed
            .timestamp
            .as_deref()
            .and_then(display_timestamp)
            .unwrap_or_else(|| utc_display(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        entries.push(Entry {
            name,
            kind: parsed.artifact,
            profile_type: parsed.type_name.unwrap_or_default(),
            service: parsed.service.unwrap_or_default(),
            time,
            size: meta.len(),
        });
    }
    entries.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.name.cmp(&b.name)));
    Ok(entries)
}

/// `20261125_192233` to `2026-11-25 19:22:33`.
fn display_timestamp(ts: &str) -> Option<String> {
    let b = ts.as_bytes();
    if b.len() != 15
        || b[8] != b'_'
        || !ts.chars().filter(|&c| c != '_').all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some(format!(
        "{}-{}-{} {}:{}:{}",
        &ts[0..4],
        &ts[4..6],
        &ts[6..8],
        &ts[9..11],
        &ts[11..13],
        &ts[13..15]
    ))
}

async fn list_json(
    State(g): State<Gallery>,
    Query(filters): Query<Filters>,
) -> Result<Json<Vec<Entry>>, GalleryError> {
    let entries = list(&g.dir).map_err(GalleryError::Internal)?;
    Ok(Json(
        entries.into_iter().filter(|e| filters.admits(e)).collect(),
    ))
}

/// Resolves a requested name to a file inside the gallery, or `NotFound`.
fn resolve(g: &Gallery, name: &str) -> Result<(PathBuf, ArtifactName), GalleryError> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name != "..";
    let parsed = ArtifactName::parse(name)
        .filter(|_| plain)
        .ok_or(GalleryError::NotFound)?;
    let path = g
        .dir
        .join(name)
        .canonicalize()
        .map_err(|_| GalleryError::NotFound)?;
    if path.parent() != Some(g.dir.as_path()) || !path.is_file() {
        return Err(GalleryError::NotFound);
    }
    Ok((path, parsed))
}

async fn file(
    State(g): State<Gallery>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, GalleryError> {
    let (path, _) = resolve(&g, &name)?;
    let content_type = if name.ends_with(".svg") {
        "image/svg+xml"
    } else if name.ends_with(".md") {
        "text/markdown; charset=utf-8"
    } else if name.ends_with(".txt") {
        "text/plain; charset=utf-8"
    } else if name.ends_with(".gz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    };
    let body = tokio::fs::read(&path)
        .await
        .map_err(GalleryError::Internal)?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

async fn report(
    State(g): State<Gallery>,
    UrlPath(name): UrlPath<String>,
) -> Result<Html<String>, GalleryError> {
    let (path, parsed) = resolve(&g, &name)?;
    if parsed.artifact != ArtifactKind::Report {
        return Err(GalleryError::NotFound);
    }
    let markdown = tokio::fs::read_to_string(&path)
        .await
        .map_err(GalleryError::Internal)?;
    Ok(Html(page(&name, &render_markdown(&markdown), "")))
}

/// Markdown to HTML with tables; raw HTML in the source is shown as text, never executed.
pub fn render_markdown(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

async fn index(
    State(g): State<Gallery>,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, GalleryError> {
    let entries = list(&g.dir).map_err(GalleryError::Internal)?;
    Ok(Html(index_html(&entries, &filters, &g.dir)))
}

fn options(
    name: &str,
    label: &str,
    values: &BTreeSet<String>,
    selected: &Option<String>,
) -> String {
    let mut html = format!(
        "<label>{label} <select id=\"f-{name}\" name=\"{name}\" data-filter=\"{name}\"><option value=\"\">all</option>"
    );
    for v in values {
        let sel = if selected.as_deref() == Some(v.as_str()) {
            " selected"
        } else {
            ""
        };
        html.push_str(&format!(
            "<option value=\"{0}\"{sel}>{0}</option>",
            escape(v)
        ));
    }
    html.push_str("</select></label> ");
    html
}

fn index_html(entries: &[Entry], filters: &Filters, dir: &Path) -> String {
    let services: BTreeSet<String> = entries
        .iter()
        .filter(|e| !e.service.is_empty())
        .map(|e| e.service.clone())
        .collect();
    let types: BTreeSet<String> = entries
        .iter()
        .filter(|e| !e.profile_type.is_empty())
        .map(|e| e.profile_type.clone())
        .collect();
    let kinds: BTreeSet<String> = entries.iter().map(|e| e.kind.as_str().to_owned()).collect();
    let mut body = format!(
        "<h1>Profile gallery</h1><p>{} files in <code>{}</code>. Newest first.</p><form id=\"filters\" method=\"get\">",
        entries.len(),
        escape(&dir.display().to_string())
    );
    body.push_str(&options("service", "Service", &services, &filters.service));
    body.push_str(&options("type", "Type", &types, &filters.profile_type));
    body.push_str(&options("kind", "Kind", &kinds, &filters.kind));
    body.push_str("<noscript><button type=\"submit\">Filter</button></noscript> <span id=\"shown\"></span></form>");
    if entries.is_empty() {
        body.push_str(
            "<p id=\"empty\">No profiles yet. Capture one with <code>make profile-cpu</code>.</p>",
        );
    }
    body.push_str("<table id=\"artifacts\"><thead><tr><th>Time (UTC)</th><th>Service</th><th>Type</th><th>Kind</th><th>File</th><th>Size</th></tr></thead><tbody>");
    for e in entries {
        let href = match e.kind {
            ArtifactKind::Report => format!("/report/{}", escape(&e.name)),
            _ => format!("/files/{}", escape(&e.name)),
        };
        let hidden = if filters.admits(e) { "" } else { " hidden" };
        body.push_str(&format!(
            "<tr class=\"artifact\" data-service=\"{s}\" data-type=\"{t}\" data-kind=\"{k}\"{hidden}><td>{time}</td><td>{s}</td><td>{t}</td><td>{k}</td><td><a href=\"{href}\">{name}</a></td><td>{size}</td></tr>",
            s = escape(&e.service),
            t = escape(&e.profile_type),
            k = e.kind.as_str(),
            time = escape(&e.time),
            name = escape(&e.name),
            size = human_size(e.size),
        ));
    }
    body.push_str("</tbody></table>");
    page("Profile gallery", &body, SCRIPT)
}

/// Live filtering: hides rows and keeps the query string in step, so a filtered view can be
/// bookmarked and the server-side filter agrees with it on reload.
const SCRIPT: &str = r#"<script>
function applyFilters() {
  var want = {};
  document.querySelectorAll('[data-filter]').forEach(function (s) { want[s.dataset.filter] = s.value; });
  var shown = 0;
  document.querySelectorAll('tr.artifact').forEach(function (row) {
    var ok = Object.keys(want).every(function (k) { return !want[k] || row.dataset[k] === want[k]; });
    row.hidden = !ok;
    if (ok) shown++;
  });
  var params = new URLSearchParams();
  Object.keys(want).forEach(function (k) { if (want[k]) params.set(k, want[k]); });
  var qs = params.toString();
  history.replaceState(null, '', qs ? '?' + qs : location.pathname);
  document.getElementById('shown').textContent = shown + ' shown';
}
// A fragment (`#service=trading-api&kind=flamegraph`) filters without asking the server.
function fromHash() {
  var h = new URLSearchParams(location.hash.slice(1));
  document.querySelectorAll('[data-filter]').forEach(function (s) {
    if (h.has(s.dataset.filter)) s.value = h.get(s.dataset.filter);
  });
}
document.querySelectorAll('[data-filter]').forEach(function (s) { s.addEventListener('change', applyFilters); });
window.addEventListener('hashchange', function () { fromHash(); applyFilters(); });
fromHash();
applyFilters();
</script>"#;

fn page(title: &str, body: &str, script: &str) -> String {
    // Sub-pages link back; the gallery itself does not.
    let back = if script.is_empty() {
        "<p><a href=\"/\">← gallery</a></p>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>{back}{body}{script}</body></html>",
        escape(title)
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}tr[hidden]{display:none}code{background:#f4f4f4}";

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

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
