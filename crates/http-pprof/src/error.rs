//! [`PprofError`]: every way a profile request can fail, answered the way Go's
//! `net/http/pprof` answers (`serveError`): `text/plain`, header `X-Go-Pprof: 1`, the message
//! followed by a newline. The messages Go has are copied exactly, because `go tool pprof` shows
//! them to the user and scripts match on them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A failed profile request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PprofError {
    /// 404: no profile with that name.
    UnknownProfile,
    /// 400: `seconds` on a named profile is not a positive integer.
    InvalidSeconds,
    /// 400: `seconds` given with a nonzero `debug`.
    SecondsWithDebug,
    /// 400: the profile would outlast the server's request timeout.
    ExceedsWriteTimeout,
    /// 400: `seconds` above the configured cap.
    ExceedsLimit(u64),
    /// 400: `rate` is not a non-negative integer.
    InvalidRate,
    /// 400: `hz` (our extension to the CPU profile) is not an integer in 1..=1000.
    InvalidHz,
    /// 500: another CPU profile is running (Go's exact wording).
    CpuInUse,
    /// 500: the CPU profiler could not start.
    CpuStart(String),
    /// 501: execution traces do not exist for this runtime.
    TraceUnsupported,
    /// 501: heap profiling is not available in this process; the text says how to enable it.
    HeapInactive(String),
    /// 503: the tokio task dump did not finish in time.
    TaskDumpTimeout,
    /// 503: a task dump was not started because it could stall the runtime (the reason says
    /// why; see `goroutine.rs`).
    TaskDumpRefused(String),
    /// 500: collecting the profile failed; the cause is logged, not sent.
    Collect(String),
}

impl PprofError {
    /// HTTP status, as Go's handlers use it.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownProfile => StatusCode::NOT_FOUND,
            Self::InvalidSeconds
            | Self::SecondsWithDebug
            | Self::ExceedsWriteTimeout
            | Self::ExceedsLimit(_)
            | Self::InvalidRate
            | Self::InvalidHz => StatusCode::BAD_REQUEST,
            Self::CpuInUse | Self::CpuStart(_) | Self::Collect(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::TraceUnsupported | Self::HeapInactive(_) => StatusCode::NOT_IMPLEMENTED,
            Self::TaskDumpTimeout | Self::TaskDumpRefused(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The body line.
    pub fn message(&self) -> String {
        match self {
            Self::UnknownProfile => "Unknown profile".into(),
            Self::InvalidSeconds => {
                r#"invalid value for "seconds" - must be a positive integer"#.into()
            }
            Self::SecondsWithDebug => "seconds and debug params are incompatible".into(),
            Self::ExceedsWriteTimeout => "profile duration exceeds server's WriteTimeout".into(),
            Self::ExceedsLimit(max) => {
                format!("profile duration exceeds the limit of {max} seconds")
            }
            Self::InvalidRate => {
                r#"invalid value for "rate" - must be a non-negative integer"#.into()
            }
            Self::InvalidHz => {
                r#"invalid value for "hz" - must be an integer from 1 to 1000"#.into()
            }
            Self::CpuInUse => "Could not enable CPU profiling: cpu profiling already in use".into(),
            Self::CpuStart(cause) => format!("Could not enable CPU profiling: {cause}"),
            Self::TraceUnsupported => "Could not enable tracing: execution traces are not \
                supported by this Rust service; use /debug/pprof/profile or /debug/pprof/goroutine"
                .into(),
            Self::HeapInactive(why) => format!("heap profiling is not active: {why}"),
            Self::TaskDumpTimeout => "goroutine dump timed out: a runtime worker is busy; \
                tokio task dumps need every worker to reach a yield point"
                .into(),
            Self::TaskDumpRefused(why) => format!("goroutine dump refused, try again: {why}"),
            Self::Collect(_) => "failed to collect profile".into(),
        }
    }
}

impl std::fmt::Display for PprofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for PprofError {}

impl IntoResponse for PprofError {
    fn into_response(self) -> Response {
        if let Self::Collect(cause) | Self::CpuStart(cause) = &self {
            tracing::warn!(%cause, "pprof: profile collection failed");
        }
        let mut response = (self.status(), format!("{}\n", self.message())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert("x-go-pprof", HeaderValue::from_static("1"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}
