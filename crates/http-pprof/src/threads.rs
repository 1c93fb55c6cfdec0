//! `threadcreate`: Go reports the stacks that created OS threads. Rust does not record where a
//! thread was spawned, so we answer honestly with what is known: the live threads, counted
//! per thread name (label `thread`), with no stack.

use crate::raw_profile::{merge_samples, RawProfile, RawSample, TextLayout};

/// Names of the live threads of this process (Linux `/proc/self/task/*/comm`).
pub fn thread_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .map(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// The threadcreate profile: `threadcreate/count` per thread name.
pub fn profile() -> RawProfile {
    let mut profile = RawProfile::new(
        "threadcreate",
        vec![("threadcreate", "count")],
        ("threadcreate", "count"),
        1,
        TextLayout::Count,
    );
    profile
        .comments
        .push("live threads per name; thread creation stacks are not recorded".into());
    profile.samples = merge_samples(
        thread_names()
            .into_iter()
            .map(|name| RawSample {
                stack: Vec::new(),
                values: vec![1],
                labels: vec![("thread".into(), name)],
            })
            .collect(),
    );
    profile
}
