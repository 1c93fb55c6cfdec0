//! The HTTP surface: one handler per endpoint of Go's `net/http/pprof`, with Go's parameters
//! (`seconds`, `debug`), content types, file names and error contract.
//!
//! Like Go's handlers, every endpoint answers any method (a POST to `heap` is a heap profile,
//! parameters may come as a form body), and `/debug/pprof` redirects to `/debug/pprof/` with
//! 301, as Go's `ServeMux` does for a subtree pattern.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, RawQuery, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Form, Router};

use crate::access::require_access;
use crate::config::PprofConfig;
use crate::error::PprofError;
use crate::index::{self, IndexEntry};
use crate::proto::encode_gzip;
use crate::raw_profile::RawProfile;
use crate::sync_profiles::{self, SyncKind};
use crate::{cpu, goroutine, symbolize, threads};

/// Request parameters as Go's `r.FormValue` sees them: a url-encoded form body of a POST, PUT
/// or PATCH first, then the query; the first value of a name wins. Malformed input reads as
/// absent, as Go ignores `ParseMultipartForm`'s error there. (Multipart bodies, which Go also
/// parses, are not read: no pprof client sends them.)
struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query: Vec<(String, String)> = Query::try_from_uri(req.uri())
            .map(|Query(q)| q)
            .unwrap_or_default();
        let form_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let body: Vec<(String, String)> = if form_body {
            Form::from_request(req, state)
                .await
                .map(|Form(f)| f)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut params = HashMap::new();
        for (name, value) in body.into_iter().chain(query) {
            params.entry(name).or_insert(value);
        }
        Ok(Params(params))
    }
}

/// Go's `strconv.Atoi(r.FormValue("debug"))`, errors read as 0.
fn debug_level(params: &HashMap<String, String>) -> i64 {
    params
        .get("debug")
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// The named profiles of Go's `pprof.Profiles()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NamedProfile {
    Allocs,
    Block,
    Goroutine,
    Heap,
    Mutex,
    ThreadCreate,
}

impl NamedProfile {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "allocs" => Self::Allocs,
            "block" => Self::Block,
            "goroutine" => Self::Goroutine,
            "heap" => Self::Heap,
            "mutex" => Self::Mutex,
            "threadcreate" => Self::ThreadCreate,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Allocs => "allocs",
            Self::Block => "block",
            Self::Goroutine => "goroutine",
            Self::Heap => "heap",
            Self::Mutex => "mutex",
            Self::ThreadCreate => "threadcreate",
        }
    }
}

/// Builds the router; see [`crate::router`].
pub fn build<S: Clone + Send + Sync + 'static>(config: PprofConfig) -> Router<S> {
    if let Some(fraction) = config.mutex_profile_fraction {
        contention::set_mutex_profile_fraction(fraction);
    }
    if let Some(rate) = config.block_profile_rate {
        contention::set_block_profile_rate(rate);
    }
    let config = Arc::new(config);
    // `any`: Go's handlers look at no method (only `symbol` reads a POST body).
    Router::new()
        .route("/debug/pprof", any(redirect_to_index))
        .route("/debug/pprof/", any(index_page))
        .route("/debug/pprof/cmdline", any(cmdline))
        .route("/debug/pprof/profile", any(cpu_profile))
        .route("/debug/pprof/symbol", any(symbol))
        .route("/debug/pprof/trace", any(trace))
        // A catch-all, so `heap/` or `a/b` get Go's "Unknown profile" rather than a bare 404.
        .route("/debug/pprof/{*name}", any(named_profile))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&config),
            require_access,
        ))
        .with_state(config)
}

/// Go's `durationExceedsWriteTimeout`, plus our cap.
fn check_duration(config: &PprofConfig, seconds: i64) -> Result<(), PprofError> {
    if let Some(timeout) = config.request_timeout {
        if !timeout.is_zero() && seconds as f64 >= timeout.as_secs_f64() {
            return Err(PprofError::ExceedsWriteTimeout);
        }
    }
    if u64::try_from(seconds).unwrap_or(u64::MAX) > config.max_seconds {
        return Err(PprofError::ExceedsLimit(config.max_seconds));
    }
    Ok(())
}

fn with_headers(mut response: Response, pairs: &[(header::HeaderName, String)]) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), v);
        }
    }
    response
}

fn text_response(body: String) -> Response {
    with_headers(
        (StatusCode::OK, body).into_response(),
        &[(header::CONTENT_TYPE, "text/plain; charset=utf-8".into())],
    )
}

/// Symbolises, encodes and gzips off the async workers, then answers as Go does.
async fn proto_response(profile: RawProfile, filename: String) -> Result<Response, PprofError> {
    let bytes = tokio::task::spawn_blocking(move || {
        symbolize::unsampled(|| encode_gzip(&profile.to_proto()))
    })
    .await
    .map_err(|e| PprofError::Collect(format!("encoding: {e}")))?;
    Ok(with_headers(
        (StatusCode::OK, bytes).into_response(),
        &[
            (header::CONTENT_TYPE, "application/octet-stream".into()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
    ))
}

async fn text_profile(profile: RawProfile) -> Result<Response, PprofError> {
    let text = tokio::task::spawn_blocking(move || symbolize::unsampled(|| profile.to_text()))
        .await
        .map_err(|e| PprofError::Collect(format!("rendering: {e}")))?;
    Ok(text_response(text))
}

/// `/debug/pprof` (no slash): what Go's `ServeMux` answers for a subtree pattern registered
/// with its slash, `301 Moved Permanently` to the path with the slash, query kept; GET and HEAD
/// get an HTML content type and GET a short body, as `http.Redirect` writes them.
async fn redirect_to_index(method: Method, RawQuery(query): RawQuery) -> Response {
    let location = match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("/debug/pprof/?{q}"),
        None => "/debug/pprof/".to_owned(),
    };
    let body = if method == Method::GET {
        format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            index::html_escape(&location)
        )
    } else {
        String::new()
    };
    let mut response = (StatusCode::MOVED_PERMANENTLY, body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    if method == Method::GET || method == Method::HEAD {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    } else {
        headers.remove(header::CONTENT_TYPE);
    }
    response
}

/// `/debug/pprof/`.
async fn index_page(State(config): State<Arc<PprofConfig>>) -> Response {
    let runtime = config
        .runtime
        .clone()
        .unwrap_or_else(tokio::runtime::Handle::current);
    let tasks = runtime.metrics().num_alive_tasks();
    let counts = tokio::task::spawn_blocking(move || {
        let heap = heap_record_count();
        vec![
            ("allocs", heap),
            ("block", contention::block_profile().len()),
            ("cmdline", 0),
            ("goroutine", tasks),
            ("heap", heap),
            ("mutex", contention::mutex_profile().len()),
            ("profile", 0),
            ("threadcreate", threads::created()),
            ("trace", 0),
        ]
    })
    .await
    .unwrap_or_default();
    let entries: Vec<IndexEntry> = counts
        .into_iter()
        .map(|(name, count)| IndexEntry {
            name,
            count,
            description: index::description(name),
        })
        .collect();
    with_headers(
        (StatusCode::OK, index::render(&entries)).into_response(),
        &[(header::CONTENT_TYPE, "text/html; charset=utf-8".into())],
    )
}

#[cfg(feature = "jemalloc")]
fn heap_record_count() -> usize {
    crate::heap::record_count()
}

#[cfg(not(feature = "jemalloc"))]
fn heap_record_count() -> usize {
    0
}

/// `GET /debug/pprof/cmdline`: argv joined by NUL bytes, secret flag values redacted.
async fn cmdline() -> Response {
    let args =
        crate::cmdline::redact(std::env::args_os().map(|a| a.to_string_lossy().into_owned()));
    text_response(args.join("\0"))
}

/// `/debug/pprof/profile?seconds=N`: CPU profile (default 30 s, as Go).
///
/// `hz=F` is our extension (Go's handler has none): sample at F Hz instead of 99, for short
/// profiles of a lightly loaded process where 99 Hz catches too few samples.
async fn cpu_profile(State(config): State<Arc<PprofConfig>>, Params(params): Params) -> Response {
    let seconds = params
        .get("seconds")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(30);
    let frequency_hz = match params.get("hz").filter(|s| !s.is_empty()) {
        None => Ok(cpu::FREQUENCY_HZ),
        Some(hz) => hz.parse::<u32>().map_err(|_| PprofError::InvalidHz),
    };
    let result = async {
        let frequency_hz = frequency_hz?;
        check_duration(&config, seconds)?;
        let duration = Duration::from_secs(u64::try_from(seconds).unwrap_or(30));
        let profile =
            symbolize::unsampled_polls(cpu::profile(duration, frequency_hz, config.cpu_clock))
                .await?;
        proto_response(profile, "profile".into()).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `/debug/pprof/trace`: Go's execution tracer has no counterpart here; say so clearly.
async fn trace(State(config): State<Arc<PprofConfig>>, Params(params): Params) -> Response {
    let seconds = params
        .get("seconds")
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|&s| s > 0.0)
        .unwrap_or(1.0);
    if let Some(timeout) = config.request_timeout {
        if !timeout.is_zero() && seconds >= timeout.as_secs_f64() {
            return PprofError::ExceedsWriteTimeout.into_response();
        }
    }
    PprofError::TraceUnsupported.into_response()
}

/// `/debug/pprof/symbol`: addresses `0x1+0x2` in the body of a POST, else in the query (Go's
/// rule: only POST reads the body).
async fn symbol(method: Method, RawQuery(query): RawQuery, body: Bytes) -> Response {
    if method == Method::POST {
        symbol_lookup(&body).await
    } else {
        symbol_lookup(query.unwrap_or_default().as_bytes()).await
    }
}

/// Go's `Symbol`: "num_symbols: 1" then `0xaddr name` for every address that names a
/// function.
async fn symbol_lookup(words: &[u8]) -> Response {
    let words: Vec<u64> = words
        .split(|&b| b == b'+')
        .filter_map(|w| std::str::from_utf8(w).ok())
        .filter_map(parse_uint_base0)
        .filter(|&pc| pc != 0)
        .collect();
    let body = tokio::task::spawn_blocking(move || {
        let mut out = String::from("num_symbols: 1\n");
        for pc in words {
            if let Some(name) = usize::try_from(pc).ok().and_then(symbolize::function_name) {
                out.push_str(&format!("{pc:#x} {name}\n"));
            }
        }
        out
    })
    .await
    .unwrap_or_else(|_| String::from("num_symbols: 1\n"));
    text_response(body)
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x` hex, `0o`/leading-0 octal, `0b` binary, else decimal.
fn parse_uint_base0(s: &str) -> Option<u64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse().ok()
    }
}

/// `/debug/pprof/{name}`: the named profiles.
async fn named_profile(
    State(config): State<Arc<PprofConfig>>,
    Path(name): Path<String>,
    Params(params): Params,
) -> Response {
    let Some(profile) = NamedProfile::from_name(&name) else {
        return PprofError::UnknownProfile.into_response();
    };
    serve_named(&config, profile, params)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn serve_named(
    config: &PprofConfig,
    profile: NamedProfile,
    params: HashMap<String, String>,
) -> Result<Response, PprofError> {
    // Our addition to Go's contract: `rate=N` sets the sampling of mutex (1 in N) and block
    // (N ns) profiles, like runtime.SetMutexProfileFraction / SetBlockProfileRate.
    if let Some(rate) = params.get("rate") {
        let rate: u64 = rate.parse().map_err(|_| PprofError::InvalidRate)?;
        match profile {
            NamedProfile::Mutex => {
                contention::set_mutex_profile_fraction(rate);
            }
            NamedProfile::Block => {
                contention::set_block_profile_rate(rate);
            }
            _ => {}
        }
    }
    let debug = debug_level(&params);
    if let Some(seconds) = params.get("seconds").filter(|s| !s.is_empty()) {
        let seconds: i64 = seconds
            .parse()
            .ok()
            .filter(|&s| s > 0)
            .ok_or(PprofError::InvalidSeconds)?;
        check_duration(config, seconds)?;
        if debug != 0 {
            return Err(PprofError::SecondsWithDebug);
        }
        let before = collect(config, profile, &params, None).await?;
        let window_start = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(u64::try_from(seconds).unwrap_or(1))).await;
        // Not a cached goroutine dump from before the window: the delta would be empty.
        let after = collect(config, profile, &params, Some(window_start)).await?;
        let delta = after.delta(&before);
        return proto_response(delta, format!("{}-delta", profile.name())).await;
    }
    if profile == NamedProfile::Goroutine && debug != 0 {
        // Goroutine text is its own: labels (state, spawn site) and, at debug=2, every branch.
        let tasks = symbolize::unsampled_polls(goroutine::dump_tasks(
            &runtime(config),
            config.task_dump_timeout,
        ))
        .await?;
        let text = tokio::task::spawn_blocking(move || {
            symbolize::unsampled(|| {
                if debug >= 2 {
                    goroutine::full_dump_text(&tasks)
                } else {
                    goroutine::count_text(&tasks)
                }
            })
        })
        .await
        .map_err(|e| PprofError::Collect(format!("rendering: {e}")))?;
        return Ok(text_response(text));
    }
    let raw = collect(config, profile, &params, None).await?;
    if debug != 0 {
        text_profile(raw).await
    } else {
        proto_response(raw, profile.name().into()).await
    }
}

fn runtime(config: &PprofConfig) -> tokio::runtime::Handle {
    config
        .runtime
        .clone()
        .unwrap_or_else(tokio::runtime::Handle::current)
}

/// Collects `profile` now; `not_before`: a cached task dump older than this is not reused.
async fn collect(
    config: &PprofConfig,
    profile: NamedProfile,
    params: &HashMap<String, String>,
    not_before: Option<std::time::Instant>,
) -> Result<RawProfile, PprofError> {
    // The profiler's own allocations stay out of heap/allocs profiles.
    symbolize::unsampled_polls(collect_unsampled(config, profile, params, not_before)).await
}

async fn collect_unsampled(
    config: &PprofConfig,
    profile: NamedProfile,
    params: &HashMap<String, String>,
    not_before: Option<std::time::Instant>,
) -> Result<RawProfile, PprofError> {
    match profile {
        NamedProfile::Heap | NamedProfile::Allocs => collect_heap(profile, params).await,
        NamedProfile::Goroutine => {
            let tasks = symbolize::unsampled_polls(goroutine::dump_tasks_since(
                &runtime(config),
                config.task_dump_timeout,
                not_before,
            ))
            .await?;
            Ok(goroutine::profile(&tasks))
        }
        NamedProfile::ThreadCreate => Ok(threads::profile()),
        NamedProfile::Mutex => Ok(sync_profiles::collect(SyncKind::Mutex)),
        NamedProfile::Block => Ok(sync_profiles::collect(SyncKind::Block)),
    }
}

/// `gc` and `trim` are read by the heap collector (see `heap::HeapOptions`).
#[cfg(feature = "jemalloc")]
async fn collect_heap(
    profile: NamedProfile,
    params: &HashMap<String, String>,
) -> Result<RawProfile, PprofError> {
    use crate::heap::{collect_with, HeapOptions, HeapView};
    let view = if profile == NamedProfile::Allocs {
        HeapView::Allocs
    } else {
        HeapView::Heap
    };
    let options = HeapOptions::from_query(view, params);
    tokio::task::spawn_blocking(move || collect_with(view, options))
        .await
        .map_err(|e| PprofError::Collect(format!("heap dump: {e}")))?
}

#[cfg(not(feature = "jemalloc"))]
async fn collect_heap(
    _profile: NamedProfile,
    _params: &HashMap<String, String>,
) -> Result<RawProfile, PprofError> {
    Err(PprofError::HeapInactive(
        "http-pprof was built without its `jemalloc` feature".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_like_go() {
        assert_eq!(parse_uint_base0("0x10"), Some(16));
        assert_eq!(parse_uint_base0("010"), Some(8));
        assert_eq!(parse_uint_base0("10"), Some(10));
        assert_eq!(parse_uint_base0("0"), Some(0));
        assert_eq!(parse_uint_base0("zz"), None);
    }

    #[test]
    fn duration_limits() {
        let mut config = PprofConfig::default();
        assert_eq!(check_duration(&config, 300), Ok(()));
        assert_eq!(
            check_duration(&config, 301),
            Err(PprofError::ExceedsLimit(300))
        );
        config.request_timeout = Some(Duration::from_secs(10));
        assert_eq!(
            check_duration(&config, 10),
            Err(PprofError::ExceedsWriteTimeout)
        );
        assert_eq!(check_duration(&config, 9), Ok(()));
    }
}
