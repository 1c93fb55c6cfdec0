//! Profiling toolkit: reads pprof profiles (ours or Go's, gzip'd or raw) and turns them into
//! what people look at.
//!
//! A profile's path through this crate, top to bottom:
//! - [`proto`]: the pprof protobuf messages (prost structs, no build script).
//! - [`profile`]: bytes to a [`Profile`] with names resolved and stacks root-to-leaf.
//! - [`stacks`]: one sample type to folded stacks and flat/cumulative per function.
//! - [`flamegraph`]: folded stacks to interactive SVG (inferno), single or differential.
//! - [`diff`]: before/after per-function share changes.
//! - [`categories`]: which kind of work a frame is (memory, locks, serialization, …).
//! - [`analyze`]: the report: summary, hotspots, recommendations, next steps.
//! - [`top`]: `go tool pprof -top`-style text.
//! - [`files`]: our file-name convention and atomic writes.
//! - [`gallery`]: the axum page that lists and serves all of the above.
//!
//! Architecture invariant: nothing here reads flags or environment variables, or talks to a
//! running service; the `simex` binary does that and passes explicit arguments.

pub mod analyze;
pub mod categories;
pub mod diff;
pub mod files;
pub mod flamegraph;
pub mod gallery;
pub mod profile;
pub mod proto;
pub mod provenance;
pub mod stacks;
pub mod top;

use std::path::PathBuf;

pub use profile::{Profile, ProfileKind, SampleIndex, SampleType};

/// Everything that can go wrong reading, rendering or writing profiles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is not a valid pprof profile.
    #[error("{}: not a valid pprof profile: {reason}", if path.as_os_str().is_empty() { "input".into() } else { path.display().to_string() })]
    Corrupt {
        /// The file (empty when decoding bytes).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `--sample-index` names a sample type the profile does not have.
    #[error("no sample type {requested:?} in this profile; available: {available}")]
    SampleIndex {
        /// What was asked for.
        requested: String,
        /// What the profile has.
        available: String,
    },
    /// Nothing to draw: every sample of the chosen type is zero.
    #[error("the profile has no samples with a non-zero {sample_type} (capture under load, or pick another --sample-index)")]
    Empty {
        /// The chosen sample type.
        sample_type: String,
    },
    /// inferno failed to render.
    #[error("rendering the flamegraph failed: {0}")]
    Render(String),
    /// An output file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Any other I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
