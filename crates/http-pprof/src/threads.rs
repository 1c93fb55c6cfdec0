//! `threadcreate`: as in Go, one sample per OS thread created since the process started, at the
//! stack of the code that created it (recorded by the `contention` crate's `pthread_create`
//! interposer; see `contention::threads`). The main thread, which nobody creates, is not in it.

use crate::raw_profile::{RawProfile, RawSample, TextLayout};
use crate::symbolize::Frame;

/// Frames of the interposer itself, so each stack starts at the creating code (std's
/// `Thread::new`, then `thread::Builder::spawn`, then who called it).
fn is_interposer_frame(frame: &Frame) -> bool {
    frame.function.starts_with("contention::") || frame.file.contains("/contention/src/")
}

/// Threads created so far (the index page's count, as Go's `threadcreate` count).
pub fn created() -> usize {
    contention::threadcreate_profile()
        .snapshot()
        .records
        .iter()
        .map(|(_, r)| usize::try_from(r.count).unwrap_or(usize::MAX))
        .sum()
}

/// The threadcreate profile: `threadcreate/count` per creating stack.
pub fn profile() -> RawProfile {
    let mut profile = RawProfile::new(
        "threadcreate",
        vec![("threadcreate", "count")],
        ("threadcreate", "count"),
        1,
        TextLayout::Count,
    );
    profile.trim = Some(is_interposer_frame);
    profile.samples = contention::threadcreate_profile()
        .snapshot()
        .records
        .into_iter()
        // Go's text reader needs at least one address per record; a stack that could not be
        // walked at all is dropped rather than served as a line pprof rejects.
        .filter(|(stack, _)| !stack.ips().is_empty())
        .map(|(stack, record)| RawSample {
            stack: stack.ips().to_vec(),
            values: vec![i64::try_from(record.count).unwrap_or(i64::MAX)],
            labels: Vec::new(),
        })
        .collect();
    profile
}
