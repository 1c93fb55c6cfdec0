//! Allocation stacks end at the function that allocated, as Go's do: `go tool pprof` on a real
//! capture from `pprof-demo` shows application functions as the heaviest leaves, not
//! `RawVecInner::finish_grow` or jemalloc; `?trim=0` brings the std wrappers back.

#![allow(clippy::unwrap_used)]

mod heap_support;

use std::collections::HashMap;
use std::time::Duration;

use heap_support::{have_go, pprof_raw, type_index, Demo, TempFile};

/// Bytes per leaf function (the first function of each sample) of sample type `name`.
fn leaf_bytes(path: &std::path::Path, name: &str) -> Vec<(String, i64)> {
    let (types, samples) = pprof_raw(path);
    let index = type_index(&types, name);
    let mut by_leaf: HashMap<String, i64> = HashMap::new();
    for s in samples {
        let leaf = s.functions.first().cloned().unwrap_or_default();
        *by_leaf.entry(leaf).or_default() += s.values[index];
    }
    let mut leaves: Vec<(String, i64)> = by_leaf.into_iter().collect();
    leaves.sort_by_key(|(_, v)| std::cmp::Reverse(*v));
    leaves
}

fn is_std_or_allocator(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    [
        "alloc::",
        "core::",
        "std::",
        "hashbrown::",
        "__rust",
        "je_",
        "_rjem",
        "malloc",
        "realloc",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heaviest_leaves_are_the_allocating_functions() {
    if !have_go() {
        return;
    }
    let demo = Demo::start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (path, sample_type, expected) in [
        ("/debug/pprof/heap", "inuse_space", "demo_retain_buffers"),
        (
            "/debug/pprof/allocs",
            "alloc_space",
            "demo_churn_allocations",
        ),
    ] {
        let file = TempFile::write("leaves.pb.gz", &demo.get(path).await);
        let leaves = leaf_bytes(&file.0, sample_type);
        let top: Vec<&(String, i64)> = leaves.iter().take(3).collect();
        eprintln!("{path}: top leaves {top:?}");
        assert!(
            top[0].0.contains(expected),
            "{path}: heaviest leaf should be {expected}, got {top:?}"
        );
        for (leaf, _) in &top {
            assert!(
                !is_std_or_allocator(leaf),
                "{path}: a std/allocator wrapper is a top leaf: {top:?}"
            );
        }

        // `trim=0` keeps the wrappers: the same bytes now end in std's allocating code.
        let untrimmed = TempFile::write(
            "leaves-untrimmed.pb.gz",
            &demo.get(&format!("{path}?trim=0")).await,
        );
        let leaves = leaf_bytes(&untrimmed.0, sample_type);
        eprintln!(
            "{path}?trim=0: top leaves {:?}",
            &leaves[..leaves.len().min(3)]
        );
        assert!(
            leaves
                .iter()
                .take(3)
                .any(|(leaf, _)| is_std_or_allocator(leaf)),
            "{path}?trim=0 should keep std wrappers as leaves: {leaves:?}"
        );
    }
}
