//! The `/debug/pprof/` index page, Go's template with our counts and descriptions.

use std::fmt::Write as _;

/// One row of the index.
pub struct IndexEntry {
    /// Profile name (also the link).
    pub name: &'static str,
    /// Count shown in the table (0 for endpoints that are not profiles).
    pub count: usize,
    /// Description, as Go's `profileDescriptions`.
    pub description: &'static str,
}

/// Description of each endpoint (Go's wording, adjusted where our source differs).
pub fn description(name: &str) -> &'static str {
    match name {
        "allocs" => "A sampling of all past memory allocations. Stacks start at the allocating function; trim=0 keeps the standard library's allocating wrappers.",
        // Ours, like Go's, charge the block profile to the waiter and the mutex profile to the
        // holder (at its unlock); both cover only the `contention` crate's profiled primitives.
        "block" => "Stack traces that led to blocking on synchronization primitives (profiled mutexes, condition variables, channel, semaphore and oneshot waits; charged to the waiter)",
        "cmdline" => "The command line invocation of the current program (secret flag values redacted)",
        "goroutine" => "Stack traces of all current goroutines (tokio tasks)",
        "heap" => "A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample (here: jemalloc purges its unused pages; the profile is unchanged, as freed objects leave it at once). Stacks start at the allocating function; trim=0 keeps the standard library's allocating wrappers (RawVec growth, Box::new, ...).",
        "mutex" => "Stack traces of holders of contended mutexes (the delay their waiters accumulated, charged where the holder unlocked)",
        "profile" => "CPU profile. You can specify the duration in the seconds GET parameter. After you get the profile file, use the go tool pprof command to investigate the profile.",
        "threadcreate" => "Stack traces that led to the creation of new OS threads (every pthread_create since start)",
        "trace" => "A trace of execution of the current program. You can specify the duration in the seconds GET parameter. After you get the trace file, use the go tool trace command to investigate the trace.",
        _ => "",
    }
}

/// Renders Go's index HTML; `entries` must be sorted by name.
pub fn render(entries: &[IndexEntry]) -> String {
    let mut b = String::from(
        "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n<body>\n/debug/pprof/<br>\n<br>\nTypes of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n",
    );
    for e in entries {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td><a href='{}?debug=1'>{}</a></td></tr>",
            e.count, e.name, e.name
        );
    }
    b.push_str("</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n<p>\nProfile Descriptions:\n<ul>\n");
    for e in entries {
        let _ = writeln!(
            b,
            "<li><div class=profile-name>{}: </div> {}</li>",
            e.name,
            html_escape(e.description)
        );
    }
    b.push_str("</ul>\n</p>\n</body>\n</html>");
    b
}

/// Go's `htmlEscape` (`html/template` rules for text), also used for the redirect body.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
        .replace('"', "&#34;")
}
