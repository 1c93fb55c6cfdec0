//! Which kind of work a frame is: memory, locks, serialization, regex, formatting, hashing, I/O,
//! the async runtime or logging, for Rust and Go frame names alike.
//!
//! Matching is on whole tokens, never substrings: a name is split into *segments* at every
//! character that cannot be part of an identifier (`::`, `.`, `/`, `(`, `*`, `<`, …), and a
//! segment into *words* at `_`, digit runs and lower-to-upper case changes. A rule matches a
//! contiguous run of segments (`tokio::runtime`, `encoding/json`) or a single word (`futex`,
//! `mallocgc`). So `tokio::runtime::blocking` is the runtime (the word is `blocking`, not
//! `lock`), and `async` is never `sync`.
//!
//! A sample is attributed by walking from its leaf towards the root through categorised and
//! library frames, stopping at the first application frame; the outermost category seen wins.
//! That makes `serde_json::to_vec → malloc` serialization, `tracing → fmt → malloc` logging, an
//! idle tokio worker (`tokio::runtime … park → futex`) the runtime, and a handler's
//! `parking_lot … lock_slow → futex` lock contention.

/// A kind of work with its own optimisation advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Allocation, deallocation, copying and (in Go) garbage collection.
    Memory,
    /// Mutexes, read-write locks, semaphores, futex waits.
    LockContention,
    /// serde, JSON, protobuf, Go's encoding/*.
    Serialization,
    /// Regular expression compilation and matching.
    Regex,
    /// `core::fmt`, `to_string`, Go's fmt/strconv/reflect.
    FormattingAndDispatch,
    /// Hash functions and hash-map probing.
    Hashing,
    /// Syscalls, sockets, files, the I/O driver.
    IoAndSyscalls,
    /// The async runtime (tokio) or Go scheduler itself.
    AsyncRuntime,
    /// Logging and tracing.
    Logging,
}

/// How one frame classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// The frame does a kind of work we have advice for.
    Work(Category),
    /// Standard library or framework plumbing: look further towards the root.
    Library,
    /// Code outside the known libraries: the program's own code (attribution stops there), or
    /// a third-party crate, which [`crate::analyze`] tells apart with [`code_owner`].
    Application,
}

impl Category {
    /// Every category, in report order.
    pub const ALL: [Category; 9] = [
        Category::Memory,
        Category::LockContention,
        Category::Serialization,
        Category::Regex,
        Category::FormattingAndDispatch,
        Category::Hashing,
        Category::IoAndSyscalls,
        Category::AsyncRuntime,
        Category::Logging,
    ];

    /// Human title.
    pub fn title(self) -> &'static str {
        match self {
            Category::Memory => "Memory and the allocator",
            Category::LockContention => "Lock contention",
            Category::Serialization => "Serialization",
            Category::Regex => "Regular expressions",
            Category::FormattingAndDispatch => "Formatting and dynamic dispatch",
            Category::Hashing => "Hashing",
            Category::IoAndSyscalls => "I/O and syscalls",
            Category::AsyncRuntime => "Async runtime",
            Category::Logging => "Logging",
        }
    }

    /// Concrete advice for a Rust service (with the Go equivalent where it differs).
    pub fn advice(self) -> &'static [&'static str] {
        match self {
            Category::Memory => &[
                "Pre-size collections on hot paths (`Vec::with_capacity`, `HashMap::with_capacity`) and reuse buffers with `clear()` instead of allocating new ones per request.",
                "Avoid `clone()` of `String`/`Vec` in loops; borrow (`&str`, `&[T]`), use `Cow`, or share with `Arc<str>`/`bytes::Bytes`.",
                "Keep small collections inline with `smallvec`/`arrayvec`; intern repeated strings such as symbols.",
                "Run with jemalloc (`tikv-jemallocator`) or mimalloc; under many threads glibc malloc contends on its arenas.",
                "Go: `runtime.mallocgc`/`gcBgMarkWorker` mean GC pressure; use `sync.Pool`, pre-allocate slices, and tune `GOGC`.",
            ],
            Category::LockContention => &[
                "Shorten critical sections: compute outside the lock, hold the guard only to swap or push, and never across `.await` or I/O.",
                "Shard hot state (one lock per symbol or per N keys) or use `RwLock` when reads dominate; `parking_lot` locks are cheaper uncontended.",
                "Replace shared counters with atomics and shared queues with channels (`crossbeam-channel`, `tokio::sync::mpsc`) owned by one task.",
                "Inside async code prefer `std`/`parking_lot` mutexes for short sections; `tokio::sync::Mutex` only when the guard must live across `.await`.",
                "Go: `sync.(*Mutex).Lock` here means the same; split the lock or use `sync.RWMutex`/channels.",
            ],
            Category::Serialization => &[
                "Serialize once and reuse the bytes (cache market-data snapshots as `Bytes`), instead of per subscriber or per request.",
                "Borrow while deserializing (`&'a str` with `#[serde(borrow)]`) and avoid `serde_json::Value` on hot paths; use typed structs.",
                "Write into a reused buffer with `serde_json::to_writer`; consider `simd-json` or a binary format (bincode, prost) for internal hops.",
                "Go: `encoding/json` reflects on every call; use generated codecs or `json.RawMessage` to delay parsing.",
            ],
            Category::Regex => &[
                "Compile each regex once (`std::sync::LazyLock<Regex>` or a field), never inside a request handler or loop.",
                "Use `RegexSet` for many patterns, `regex::bytes` to skip UTF-8 checks, or plain `str::starts_with`/`split` when the pattern is literal.",
                "Go: hoist `regexp.MustCompile` to package level; prefer `strings` functions for fixed text.",
            ],
            Category::FormattingAndDispatch => &[
                "Avoid `format!`/`to_string()` on hot paths; write into a reused `String` with `write!`, or use `itoa`/`ryu` for numbers.",
                "Do not build log or error strings eagerly; format lazily (only when the message is actually emitted).",
                "Replace `Box<dyn Trait>` calls in tight loops with generics or an `enum` so the compiler can inline.",
                "Go: `fmt.Sprintf` and `reflect` are slow on hot paths; use `strconv` and concrete types.",
            ],
            Category::Hashing => &[
                "Use a faster hasher for internal keys (`ahash`, `rustc-hash`/FxHash) where HashDoS is not a concern; keep SipHash for keys from clients.",
                "Hash once: look up with the `entry` API instead of `contains_key` + `insert`, and keep small integer ids instead of string keys.",
                "Pre-size maps (`with_capacity`) to avoid rehashing; consider `BTreeMap` or a `Vec` indexed by id for dense keys.",
                "Go: `runtime.mapaccess`/`mapassign` here mean map-heavy code; pre-size with `make(map[K]V, n)`.",
            ],
            Category::IoAndSyscalls => &[
                "Batch writes: buffer with `BufWriter`/`tokio::io::BufWriter` and flush per batch, or use vectored writes.",
                "Reuse connections (HTTP keep-alive, a shared `reqwest::Client`) and avoid one syscall per small message.",
                "Move blocking file I/O off the async workers (`tokio::task::spawn_blocking`) and `fsync` per batch, not per record.",
                "Go: `syscall.Syscall`/`internal/poll` here mean the same; use `bufio` and fewer, larger reads and writes.",
            ],
            Category::AsyncRuntime => &[
                "Much time in the scheduler (park/unpark, wake-ups) means many tiny tasks or messages: batch work per task and coalesce wake-ups.",
                "Do not block worker threads; move CPU-heavy or blocking work to `spawn_blocking` or a dedicated thread so other tasks keep running.",
                "Size the runtime to the machine (`worker_threads`) and check `tokio-console`/task metrics for tasks that poll too often.",
                "Go: `runtime.schedule`/`findRunnable` here mean goroutine churn; reuse worker goroutines.",
            ],
            Category::Logging => &[
                "Lower the log level on hot paths (`RUST_LOG`), or use `tracing` with `level = \"debug\"` filtered statically (`max_level_info` feature).",
                "Log asynchronously with a non-blocking writer (`tracing-appender::non_blocking`) and avoid formatting arguments eagerly.",
                "Sample or aggregate repetitive events (one summary per second instead of one line per order).",
                "Go: use a structured, allocation-free logger (zap, slog) and guard debug logs by level.",
            ],
        }
    }
}

/// Segment runs that identify a category; checked before words. Order of categories matters:
/// the first match wins, so specific rules (a lock inside tokio) come before general ones.
const SEGMENT_RULES: &[(Category, &[&str])] = &[
    (
        Category::Logging,
        &[
            "tracing",
            "tracing_core",
            "tracing_subscriber",
            "tracing_appender",
            "log",
            "env_logger",
            "slog",
            "zap",
            "logrus",
            "zerolog",
        ],
    ),
    (
        Category::Serialization,
        &[
            "serde",
            "serde_json",
            "serde_urlencoded",
            "serde_path_to_error",
            "simd_json",
            "bincode",
            "rmp_serde",
            "prost",
            "json",
            "encoding/gob",
            "encoding/xml",
            "encoding/binary",
            "protobuf",
            "jsoniter",
            "easyjson",
        ],
    ),
    (
        Category::Regex,
        &[
            "regex",
            "regex_automata",
            "regex_syntax",
            "regexp",
            "fancy_regex",
            "aho_corasick",
        ],
    ),
    (
        Category::Hashing,
        &[
            "core::hash",
            "std::hash",
            "hashbrown",
            "ahash",
            "siphasher",
            "fxhash",
            "rustc_hash",
            "foldhash",
            "hash/maphash",
            "hash/fnv",
            "crc32fast",
        ],
    ),
    (
        Category::FormattingAndDispatch,
        &[
            "core::fmt",
            "alloc::fmt",
            "std::fmt",
            "fmt",
            "to_string",
            "spec_to_string",
            "itoa",
            "ryu",
            "strconv",
            "reflect",
        ],
    ),
    (
        Category::LockContention,
        &[
            "parking_lot",
            "parking_lot_core",
            "lock_api",
            "std::sync::mutex",
            "std::sync::rwlock",
            "std::sync::poison",
            "tokio::sync::mutex",
            "tokio::sync::rwlock",
            "tokio::sync::batch_semaphore",
            "tokio::sync::semaphore",
            "sync.Mutex",
            "sync.RWMutex",
            "sync.Cond",
            "crossbeam_utils::backoff",
        ],
    ),
    (
        Category::Memory,
        &[
            "alloc::alloc",
            "alloc::raw_vec",
            "__rust_alloc",
            "__rust_dealloc",
            "__rust_realloc",
            "__rust_alloc_zeroed",
            "__rdl_alloc",
            "__rdl_dealloc",
            "__rdl_realloc",
            "drop_in_place",
            "tikv_jemallocator",
            "tikv_jemalloc_sys",
            "mimalloc",
        ],
    ),
    (
        Category::IoAndSyscalls,
        &[
            "std::io",
            "std::fs",
            "std::net",
            "std::os::fd",
            "tokio::io",
            "tokio::net",
            "tokio::fs",
            "mio",
            "socket2",
            "syscall",
            "internal/poll",
            "os.File",
            "bufio",
            "net.conn",
            "net.netFD",
        ],
    ),
    (
        Category::AsyncRuntime,
        &[
            "tokio::runtime",
            "tokio::task",
            "tokio::park",
            "tokio::time",
            "tokio::sync::notify",
            "futures_executor",
            "async_std",
            "async_executor",
            "smol",
            "block_on",
        ],
    ),
];

/// Single words that identify a category (checked after segment rules, same order semantics).
const WORD_RULES: &[(Category, &[&str])] = &[
    (
        Category::Serialization,
        &[
            "serialize",
            "deserialize",
            "serializer",
            "deserializer",
            "marshal",
            "unmarshal",
        ],
    ),
    (
        Category::Hashing,
        &[
            "hash",
            "hasher",
            "siphash",
            "memhash",
            "aeshashbody",
            "strhash",
            "mapaccess",
            "mapassign",
            "mapdelete",
            "mapiternext",
            "rehash",
        ],
    ),
    (
        Category::FormattingAndDispatch,
        &["sprintf", "fprintf", "printf"],
    ),
    (
        Category::LockContention,
        &[
            "mutex",
            "rwlock",
            "futex",
            "semacquire",
            "semrelease",
            "lock",
            "unlock",
            "lockslow",
            "contended",
            "spin",
        ],
    ),
    (
        Category::Memory,
        &[
            "malloc",
            "calloc",
            "realloc",
            "free",
            "cfree",
            "dealloc",
            "memcpy",
            "memmove",
            "memset",
            "memclr",
            "mallocgc",
            "newobject",
            "makeslice",
            "growslice",
            "newarray",
            "mmap",
            "munmap",
            "madvise",
            "brk",
            "sbrk",
            "mheap",
            "mcache",
            "mcentral",
            "nextfreefast",
            "gc",
            "scanobject",
            "greyobject",
            "markroot",
            "sweepone",
            "bgsweep",
            "bgscavenge",
            "scavenge",
            "wbbuf",
            "jemalloc",
            // tikv-jemalloc-sys prefixes every jemalloc symbol with `_rjem_je_`.
            "rjem",
        ],
    ),
    (
        Category::IoAndSyscalls,
        &[
            "syscall",
            "syscall6",
            "rawsyscall",
            "epoll",
            "epollwait",
            "read",
            "write",
            "readv",
            "writev",
            "recv",
            "recvfrom",
            "recvmsg",
            "send",
            "sendto",
            "sendmsg",
            "fsync",
            "fdatasync",
            // std's `File::sync_data` reaches fdatasync through `os_datasync`.
            "datasync",
            "netpoll",
            "entersyscall",
            "exitsyscall",
            "pread64",
            "pwrite64",
            "accept4",
            "io_uring",
        ],
    ),
    (
        Category::AsyncRuntime,
        &[
            "park",
            "unpark",
            "gopark",
            "goready",
            "findrunnable",
            "runnable",
            "waker",
            "wake",
            "goexit0",
        ],
    ),
];

/// Crates and packages that are plumbing: attribution looks through them to the caller.
const LIBRARY_ROOTS: &[&str] = &[
    "std",
    "core",
    "alloc",
    "tokio",
    "tokio_util",
    "futures",
    "futures_util",
    "futures_core",
    "hyper",
    "hyper_util",
    "axum",
    "axum_core",
    "tower",
    "tower_http",
    "h2",
    "http",
    "http_body",
    "http_body_util",
    "bytes",
    "pin_project",
    "pin_project_lite",
    "libc",
    "crossbeam",
    "crossbeam_channel",
    "crossbeam_epoch",
    "crossbeam_utils",
    "matchit",
];

/// Frames that start or trampoline every thread; never a reason to stop or to categorise.
const ROOT_FRAMES: &[&str] = &[
    "main",
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "start_thread",
    "clone",
    "clone3",
    "__clone",
    "__clone3",
    "runtime.goexit",
    "runtime.main",
    "runtime.mstart",
    "runtime.mstart0",
    "runtime.mstart1",
    "runtime.systemstack",
    "runtime.mcall",
    "runtime.asmcgocall",
    "[unknown]",
    // Injected at an arbitrary instruction of the caller by Go's preemption signal: the time
    // belongs to the caller.
    "runtime.asyncPreempt",
];

/// [`SEGMENT_RULES`] split into segments once, not once per frame.
static SPLIT_SEGMENT_RULES: std::sync::LazyLock<Vec<(Category, Vec<Vec<String>>)>> =
    std::sync::LazyLock::new(|| {
        SEGMENT_RULES
            .iter()
            .map(|(c, rules)| (*c, rules.iter().map(|r| segments(r)).collect()))
            .collect()
    });

/// Splits a frame name into lowercase segments.
fn segments(name: &str) -> Vec<String> {
    name.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Splits a frame name into lowercase words (segments further split at `_`, digits and
/// camelCase boundaries).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in name.split(|c: char| !c.is_alphanumeric()) {
        let mut current = String::new();
        let mut prev: Option<char> = None;
        for c in raw.chars() {
            let boundary = match prev {
                Some(p) => {
                    (p.is_lowercase() && c.is_uppercase())
                        || (p.is_ascii_digit() != c.is_ascii_digit())
                }
                None => false,
            };
            if boundary && !current.is_empty() {
                out.push(std::mem::take(&mut current).to_lowercase());
            }
            current.push(c);
            prev = Some(c);
        }
        if !current.is_empty() {
            out.push(current.to_lowercase());
        }
    }
    out
}

fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty()
        && haystack.len() >= needle.len()
        && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Classifies one frame name.
pub fn classify(name: &str) -> FrameClass {
    let trimmed = name.trim();
    if ROOT_FRAMES.contains(&trimmed) || trimmed.starts_with("0x") || trimmed.is_empty() {
        return FrameClass::Library;
    }
    let segs = segments(trimmed);
    for (category, rules) in SPLIT_SEGMENT_RULES.iter() {
        if rules.iter().any(|rule| contains_run(&segs, rule)) {
            return FrameClass::Work(*category);
        }
    }
    let library = is_library(trimmed, &segs);
    if !library {
        // Words describe system and runtime internals (`malloc`, `futex`, `runtime.mapaccess`);
        // in the program's own names they are just words (`main.mutexWork` takes no lock).
        return FrameClass::Application;
    }
    let ws = words(trimmed);
    for (category, rules) in WORD_RULES {
        if rules.iter().any(|rule| ws.iter().any(|w| w == rule)) {
            return FrameClass::Work(*category);
        }
    }
    // Go's scheduler and the rest of package runtime, checked last so that `runtime.mallocgc`
    // is memory and `runtime.futex` a lock. Only Go-style names: Rust's
    // `core::ub_checks::…::runtime` is not a scheduler.
    if trimmed.starts_with("runtime.") {
        return FrameClass::Work(Category::AsyncRuntime);
    }
    FrameClass::Library
}

/// Standard library and framework frames, Rust or Go.
fn is_library(name: &str, segs: &[String]) -> bool {
    // Skip `&mut`, `dyn`, `as` and generic parameters (`<T as alloc::vec::SpecFromElem>`), so
    // the first real path decides.
    let first = segs.iter().find(|s| {
        !matches!(s.as_str(), "mut" | "dyn" | "impl" | "const" | "as") && s.chars().count() > 1
    });
    let Some(first) = first else {
        return true;
    };
    if name.contains("::") {
        return LIBRARY_ROOTS.contains(&first.as_str()) || first.starts_with("__");
    }
    // A Go name `path/to/pkg.Func`: the standard library's first path element has no dot
    // (`net/http`, `strings`) while modules do (`github.com/...`); `main` is the program.
    if name.contains('.') {
        let package_path = name.split(['(', '.']).next().unwrap_or_default();
        let first_element = name.split('/').next().unwrap_or_default();
        let module_like = name.contains('/') && first_element.contains('.');
        return !module_like && package_path != "main";
    }
    // A bare C symbol (`memcpy`, `__libc_send`, `epoll_wait`): system code.
    first.starts_with('_') || !name.contains(char::is_uppercase)
}

/// The crate (Rust) or package path (Go) a frame's code belongs to, e.g. `trading_api` or
/// `github.com/x/y`; used to tell the program's own code from third-party libraries.
pub fn code_owner(name: &str) -> String {
    let name = name.trim();
    if name.contains("::") {
        return segments(name)
            .into_iter()
            .find(|s| {
                !matches!(s.as_str(), "mut" | "dyn" | "impl" | "const" | "as")
                    && s.chars().count() > 1
            })
            .unwrap_or_default();
    }
    let after_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[after_slash..].find('.') {
        Some(dot) => name[..after_slash + dot].to_owned(),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_case_digits_and_underscores() {
        assert_eq!(words("lockSlow"), ["lock", "slow"]);
        assert_eq!(
            words("RawMutex::lock_slow"),
            ["raw", "mutex", "lock", "slow"]
        );
        assert_eq!(words("runtime.lock2"), ["runtime", "lock", "2"]);
        assert_eq!(segments("sync.(*Mutex).Lock"), ["sync", "mutex", "lock"]);
    }

    #[test]
    fn whole_tokens_only() {
        // "blocking" contains "lock" and "async" contains "sync": neither is contention.
        assert_eq!(
            classify("tokio::runtime::blocking::pool::Inner::run"),
            FrameClass::Work(Category::AsyncRuntime)
        );
        assert_ne!(
            classify("my_app::async_worker"),
            FrameClass::Work(Category::LockContention)
        );
        assert_eq!(classify("my_app::clock::tick"), FrameClass::Application);
        assert_eq!(classify("main.blockingWork"), FrameClass::Application);
        // Words only count in library code: the program's own `mutexWork` is not a lock.
        assert_eq!(classify("main.mutexWork.func1"), FrameClass::Application);
    }
}
