//! The `/debug/pprof/*` routes every service mounts, configured from [`CommonArgs`].
//!
//! Merge them into the finished application router, outside the service's own layers, so a
//! 30-second CPU profile is not cut by a request timeout meant for order entry:
//!
//! ```no_run
//! # let common: service_kit::CommonArgs = unimplemented!();
//! # let app: axum::Router = axum::Router::new();
//! let app = app.merge(service_kit::debug::pprof_routes(&common));
//! ```

use axum::Router;
use http_pprof::PprofConfig;

use crate::CommonArgs;

/// Go-compatible profiling endpoints: loopback clients always, others with `--pprof-token`.
pub fn pprof_routes(common: &CommonArgs) -> Router {
    http_pprof::router(
        PprofConfig::default()
            .with_token(common.pprof_token.clone())
            .with_cpu_clock(common.cpu_sampler),
    )
}
