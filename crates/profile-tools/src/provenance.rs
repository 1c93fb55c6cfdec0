//! Whose code a frame is: the program's own, or a dependency's (standard library, runtime,
//! third-party crates and modules, the C library).
//!
//! The answer a user acts on names their own function: `chaos::scenarios::json_heavy::parse`,
//! not `serde_json::...::visit_map` beneath it. Names alone cannot tell an unknown crate from
//! the program (every crate is `name::path`), but symbolized profiles also carry each
//! function's source file, and where a file lives says whose it is: cargo's registry and git
//! checkouts, the Rust toolchain's `library/` sources, Go's module cache and `GOROOT`, vendored
//! trees and system headers are dependencies; anything else is the program's. When a profile
//! has no file names, the name-based classification ([`crate::categories::classify`]) decides.

use crate::categories::{classify, FrameClass};

/// Where a source file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The program's own source tree.
    Own,
    /// A dependency: toolchain library, third-party package, system code.
    Dependency,
}

/// The origin of a source file path, `None` when the path is empty.
pub fn origin_of_file(file: &str) -> Option<Origin> {
    let file = file.trim();
    if file.is_empty() || file == "?" {
        return None;
    }
    let path = file.replace('\\', "/");
    let dependency = DEPENDENCY_MARKERS.iter().any(|m| path.contains(m))
        || path.starts_with("/rustc/")
        || path.starts_with("/usr/include/")
        || path.starts_with("/usr/src/")
        || is_go_dependency(&path)
        || is_system_c_source(&path);
    Some(if dependency {
        Origin::Dependency
    } else {
        Origin::Own
    })
}

/// Path fragments that only dependency sources have.
const DEPENDENCY_MARKERS: &[&str] = &[
    // cargo: crates.io and other registries, git dependencies (any CARGO_HOME).
    "/registry/src/",
    "/git/checkouts/",
    // The Rust standard library, from rust-src or a remapped toolchain path.
    "/rustlib/src/rust/library/",
    "/library/std/src/",
    "/library/core/src/",
    "/library/alloc/src/",
    // The standard library's own dependencies (hashbrown, ...), as rustc's builds remap them.
    "/rust/deps/",
    // Vendored dependencies (cargo vendor, go mod vendor).
    "/vendor/",
    // Go's module cache.
    "/pkg/mod/",
];

/// Go: the standard library under GOROOT (`/usr/lib/go-1.19/src/runtime/proc.go`,
/// `/usr/local/go/src/...`), or with `-trimpath` a bare standard package path
/// (`runtime/proc.go`) or a versioned module path (`github.com/x/y@v1.2.3/z.go`).
fn is_go_dependency(path: &str) -> bool {
    if !path.ends_with(".go") && !path.ends_with(".s") {
        return false;
    }
    if path.contains('@') {
        return true;
    }
    // GOROOT: the part after `.../go/src/` (or `go-1.19/src/`, Homebrew's `libexec/src/`) is
    // a standard package when its first element has no dot; with a dot (`github.com/...`) it
    // is GOPATH-mode code, which may well be the program's own.
    let goroot = path.split('/').collect::<Vec<_>>().windows(3).any(|w| {
        let toolchain = w[0] == "go"
            || w[0] == "libexec"
            || w[0]
                .strip_prefix("go-")
                .or_else(|| w[0].strip_prefix("go1"))
                .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'));
        toolchain && w[1] == "src" && !w[2].contains('.')
    });
    // `-trimpath`: the program's own files keep their module path, whose first element has a
    // dot (`example.com/app/main.go`); standard packages have none (`runtime/proc.go`).
    let trimmed_std = !path.starts_with('/')
        && path.contains('/')
        && !path.split('/').next().unwrap_or_default().contains('.');
    goroot || trimmed_std
}

/// C and assembly compiled into system libraries record relative paths from their build tree
/// (`../sysdeps/unix/sysv/linux/read.c`, `./nptl/pthread_mutex_lock.c`).
fn is_system_c_source(path: &str) -> bool {
    let c_like = [".c", ".h", ".S", ".s", ".cc", ".cpp"]
        .iter()
        .any(|ext| path.ends_with(ext));
    c_like && (path.starts_with("../") || path.starts_with("./"))
}

/// Crates that observe a program rather than make it up: the profiler behind
/// `/debug/pprof` (`http_pprof`, pprof-rs) and the contention-profiling locks. Wherever their
/// source lives, their frames are never "the program's function to change".
const INSTRUMENTATION: &[&str] = &["http_pprof::", "pprof::", "pprof_proto::", "contention::"];

/// A frame of the instrumentation ([`INSTRUMENTATION`]), by name.
pub fn is_instrumentation(name: &str) -> bool {
    let name = name.trim_start_matches(['<', '&']);
    INSTRUMENTATION
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// A frame of the profiler at work (serving, symbolizing or encoding a profile), not of the
/// program: `http_pprof::routes::…`, `http_pprof::goroutine::resolve_dump`. Its wrappers around
/// the program's own work (`<http_pprof::labels::Labelled<F> as Future>::poll`) are not.
pub fn is_profiler_at_work(name: &str) -> bool {
    (name.starts_with("http_pprof::") && !name.starts_with("http_pprof::labels::"))
        || name.starts_with("pprof::")
}

/// Is this frame the program's own code? By its source file when known, else by its name;
/// never the instrumentation's.
pub fn is_own_code(name: &str, file: &str) -> bool {
    let name = name.trim();
    if name.is_empty() || name.starts_with("0x") || is_instrumentation(name) {
        return false;
    }
    match origin_of_file(file) {
        Some(origin) => origin == Origin::Own,
        None => classify(name) == FrameClass::Application,
    }
}

/// A copy of `profile` with only the samples whose stack passes through the program's own
/// code: growth in runtime-only stacks (connections waiting, the HTTP stack's buffers) cannot
/// then hide a smaller growth that the program's code caused.
pub fn own_code_samples(profile: &crate::Profile) -> crate::Profile {
    let own: Vec<bool> = profile
        .frame_names
        .iter()
        .zip(&profile.frame_files)
        .map(|(name, file)| is_own_code(name, file))
        .collect();
    let mut filtered = profile.clone();
    filtered.stacks.retain(|stack| {
        stack
            .frames
            .iter()
            .any(|&f| own.get(f as usize).copied().unwrap_or(false))
    });
    filtered
}

/// A copy of `profile` without the samples of the profiler at work ([`is_profiler_at_work`]):
/// comparing two windows of a service, the cost of taking the profiles is not a finding.
pub fn without_profiler_work(profile: &crate::Profile) -> crate::Profile {
    let busy: Vec<bool> = profile
        .frame_names
        .iter()
        .map(|name| is_profiler_at_work(name))
        .collect();
    let mut filtered = profile.clone();
    filtered.stacks.retain(|stack| {
        !stack
            .frames
            .iter()
            .any(|&f| busy.get(f as usize).copied().unwrap_or(false))
    });
    filtered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_sources_are_recognised_in_their_usual_places() {
        for file in [
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde_json-1.0.145/src/de.rs",
            "/home/me/.cargo/git/checkouts/tokio-abc/1234/tokio/src/runtime/task/harness.rs",
            "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs",
            "/opt/rust/lib/rustlib/src/rust/library/std/src/thread/mod.rs",
            "/rust/deps/hashbrown-0.16.1/src/raw/mod.rs",
            "/srv/app/vendor/regex/src/lib.rs",
            "/usr/lib/go-1.19/src/runtime/proc.go",
            "/usr/local/go/src/net/http/server.go",
            "/root/go/pkg/mod/github.com/gorilla/mux@v1.8.0/mux.go",
            "github.com/gorilla/mux@v1.8.0/mux.go",
            "runtime/proc.go",
            "../sysdeps/unix/sysv/linux/read.c",
            "./nptl/pthread_mutex_lock.c",
            "/usr/include/x86_64-linux-gnu/bits/string_fortified.h",
        ] {
            assert_eq!(origin_of_file(file), Some(Origin::Dependency), "{file}");
        }
    }

    #[test]
    fn the_programs_own_sources_are_its_own() {
        for file in [
            "/work/main/crates/chaos/src/scenarios/json_heavy.rs",
            "crates/chaos/src/scenarios/json_heavy.rs",
            "src/main.rs",
            "/home/me/src/shop/cmd/server/main.go",
            "example.com/shop/cmd/server/main.go",
            "/root/go/src/github.com/me/shop/main.go",
            "/build/app/native/codec.c",
        ] {
            assert_eq!(origin_of_file(file), Some(Origin::Own), "{file}");
        }
        assert_eq!(origin_of_file(""), None);
    }

    #[test]
    fn the_file_outranks_the_name_and_the_name_decides_without_one() {
        // An unknown crate from the registry is a dependency, whatever its name looks like.
        assert!(!is_own_code(
            "hashbrown::map::HashMap<K,V,S,A>::insert",
            "/root/.cargo/registry/src/index.crates.io-x/hashbrown-0.15.2/src/map.rs"
        ));
        assert!(is_own_code(
            "chaos::scenarios::hash_heavy::insert_all",
            "/work/main/crates/chaos/src/scenarios/hash_heavy.rs"
        ));
        // No file: the name rules (tokio is a library, an unknown crate is the program).
        assert!(!is_own_code(
            "tokio::runtime::task::harness::Harness<T,S>::poll",
            ""
        ));
        assert!(is_own_code("shop::checkout::total", ""));
        assert!(is_own_code("main.handleOrder", ""));
        assert!(!is_own_code("0x4f2a10", ""));
        // The profiler and the profiled locks observe the program; they are not its code,
        // even when their sources sit in the program's own tree.
        for frame in [
            "http_pprof::goroutine::resolve_dump::{{closure}}",
            "contention::block::blocked::{{closure}}::{{closure}}",
            "<http_pprof::labels::Labelled<F> as core::future::future::Future>::poll",
        ] {
            assert!(
                !is_own_code(frame, "/work/app/crates/x/src/lib.rs"),
                "{frame}"
            );
        }
        assert!(is_profiler_at_work(
            "http_pprof::routes::named_profile::{{closure}}"
        ));
        assert!(!is_profiler_at_work(
            "<http_pprof::labels::Labelled<F> as core::future::future::Future>::poll"
        ));
    }
}
