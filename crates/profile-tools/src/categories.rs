//! Which kind of work a frame is, and which kind of work a whole *stack* is: memory, locks,
//! channel and condition waits, serialization, regex, formatting, hashing, I/O, the async
//! runtime or logging, for Rust and Go frame names alike.
//!
//! ## One frame
//!
//! Matching is on whole tokens, never substrings: a name is split into *segments* at every
//! character that cannot be part of an identifier (`::`, `.`, `/`, `(`, `*`, `<`, …), and a
//! segment into *words* at `_`, digit runs and lower-to-upper case changes. A rule matches a
//! contiguous run of segments (`tokio::runtime`, `encoding/json`, `crypto/sha256`) or a single
//! word (`futex`, `mallocgc`). So `tokio::runtime::blocking` is the runtime (the word is
//! `blocking`, not `lock`), and `async` is never `sync`. Library *identity* (segment rules: the
//! package or crate the frame belongs to) is checked before words, so `crypto/sha256.(*digest).Write`
//! is hashing, not a `write`. Words only count in library and system code: the program's own
//! `main.mutexWork` takes no lock.
//!
//! ## One stack ([`decide`])
//!
//! A CPU sample is judged by the frames between its leaf and the first frame of the program
//! (third-party crates and the standard library are looked through), in this order:
//!
//! 1. **Logging** anywhere in that stretch wins: whatever logging costs (formatting, writes) is
//!    the logging's doing.
//! 2. **A data syscall** (`write`, `read`, `send*`, `recv*`, `fsync`, `fdatasync`, Go's
//!    `syscall.Syscall` under `internal/poll`) makes the sample I/O: the kernel is doing the
//!    work, whatever library asked for it (`json.Encoder` on a file is I/O). Waits that are not
//!    data (`epoll_wait`, `futex`, `nanosleep`) are not I/O: an idle worker is the runtime.
//! 3. Otherwise the **outermost domain** (serialization, regex, formatting, hashing) wins: the
//!    library the program called explains the cost of everything below it, so `serde_json →
//!    malloc` is serialization, `encoding/json → strconv` serialization, and `io.Copy →
//!    sha256` hashing (I/O plumbing above a hash is not a domain).
//! 4. Otherwise the **outermost mechanism** (memory, locks, I/O, runtime) wins: an idle tokio
//!    worker (`tokio::runtime … park → futex`) is the runtime, a handler's `parking_lot …
//!    lock_slow → futex` lock contention, `mallocgc → lock → futex` memory.
//!
//! Contention and goroutine profiles are judged by what the task waits on ([`wait_kind`]):
//! channel operations (`runtime.chansend1`, `selectgo`, `tokio::sync::mpsc`) are channel
//! contention, `sync.(*Cond).Wait`/`WaitGroup.Wait`/`Condvar` condition waits, mutexes lock
//! contention; checked in that order, because a channel or condition wait takes a lock inside.

/// A kind of work with its own optimisation advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Allocation, deallocation, copying and (in Go) garbage collection.
    Memory,
    /// Mutexes, read-write locks, semaphores, futex waits.
    LockContention,
    /// Tasks blocked sending to or receiving from a channel (or in `select`).
    ChannelContention,
    /// Tasks blocked on a condition variable, a wait group or a notification.
    ConditionWait,
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
    pub const ALL: [Category; 11] = [
        Category::Memory,
        Category::LockContention,
        Category::ChannelContention,
        Category::ConditionWait,
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
            Category::ChannelContention => "Channel contention",
            Category::ConditionWait => "Condition and wait-group waits",
            Category::Serialization => "Serialization",
            Category::Regex => "Regular expressions",
            Category::FormattingAndDispatch => "Formatting and dynamic dispatch",
            Category::Hashing => "Hashing",
            Category::IoAndSyscalls => "I/O and syscalls",
            Category::AsyncRuntime => "Async runtime",
            Category::Logging => "Logging",
        }
    }

    /// Whether this is a kind of work a library does for the program (a *domain*: the library
    /// call explains the cost below it) rather than a mechanism (memory, locks, waits, I/O,
    /// the runtime). See the module header.
    pub fn is_domain(self) -> bool {
        matches!(
            self,
            Category::Serialization
                | Category::Regex
                | Category::FormattingAndDispatch
                | Category::Hashing
                | Category::Logging
        )
    }

    /// Concrete advice, each tip with the language it is for and what the program must (not)
    /// already do for the tip to make sense; [`crate::analyze`] picks the tips that apply.
    pub fn tips(self) -> &'static [Tip] {
        use Fact::*;
        use Lang::*;
        // A struct literal (not a `const fn` call) so the slices are promoted to statics.
        macro_rules! t {
            ($lang:expr, $when:expr, $text:expr) => {
                Tip {
                    lang: $lang,
                    when: $when,
                    text: $text,
                }
            };
        }
        match self {
            Category::Memory => &[
                t!(Rust, None, "Pre-size collections on hot paths (`Vec::with_capacity`, `HashMap::with_capacity`) and reuse buffers with `clear()` instead of allocating new ones per request."),
                t!(Rust, None, "Avoid `clone()` of `String`/`Vec` in loops; borrow (`&str`, `&[T]`), use `Cow`, or share with `Arc<str>`/`bytes::Bytes`."),
                t!(Rust, None, "Keep small collections inline with `smallvec`/`arrayvec`; intern repeated strings such as symbols."),
                t!(Rust, Some((Jemalloc, false)), "Run with jemalloc (`tikv-jemallocator`) or mimalloc; under many threads glibc malloc contends on its arenas."),
                t!(Rust, Some((Jemalloc, true)), "The binary already allocates through jemalloc (its frames are in the profile), so switching allocators will not help: allocate less often."),
                t!(Go, None, "Pre-allocate slices and maps with their final size (`make([]T, 0, n)`, `make(map[K]V, n)`) and reuse buffers (`sync.Pool`, `bytes.Buffer.Reset`)."),
                t!(Go, None, "`runtime.mallocgc`, `gcBgMarkWorker` and `scanobject` mean GC pressure: fewer, larger, pointer-free allocations; tune `GOGC`/`GOMEMLIMIT` only after that."),
            ],
            Category::LockContention => &[
                t!(Any, None, "Shorten critical sections: compute outside the lock, hold it only to swap or push, never across I/O (or `.await`)."),
                t!(Rust, None, "Shard hot state (one lock per symbol or per N keys) or use `RwLock` when reads dominate; `parking_lot` locks are cheaper uncontended."),
                t!(Rust, None, "Replace shared counters with atomics and shared queues with channels owned by one task; `tokio::sync::Mutex` only when the guard must live across `.await`."),
                t!(Go, None, "Split the lock (per key or shard), use `sync.RWMutex` when reads dominate, or atomics for counters; `sync.Map` for read-mostly maps."),
            ],
            Category::ChannelContention => &[
                t!(Any, None, "Senders blocked on a channel mean its consumer is too slow or the channel has no room: profile the receiving side, add consumers, or give the channel a buffer sized to the burst."),
                t!(Any, None, "Receivers blocked on a channel are waiting for producers: that is idle time, not cost, unless the producer should have been faster."),
                t!(Any, None, "Send batches instead of single items, so each hand-off carries more work."),
                t!(Go, None, "An unbuffered channel (`make(chan T)`) makes every send wait for a receiver; `make(chan T, n)` decouples them."),
                t!(Rust, None, "Use a bounded `tokio::sync::mpsc`/`crossbeam_channel` with room for bursts, and `try_send` with back-pressure where dropping is acceptable."),
            ],
            Category::ConditionWait => &[
                t!(Any, None, "Waiting on a condition or a wait group is waiting for other work to finish: find what signals it (the producer, the workers) and profile that side."),
                t!(Any, None, "A coordinator waiting for its workers (`WaitGroup.Wait`, `JoinHandle::join`) is expected; count it only if the workers themselves are slow."),
                t!(Any, None, "Signal per batch rather than per item, and avoid spurious wake-ups (`Broadcast` where `Signal` would do)."),
            ],
            Category::Serialization => &[
                t!(Rust, None, "Serialize once and reuse the bytes (cache snapshots as `Bytes`), instead of per subscriber or per request."),
                t!(Rust, None, "Borrow while deserializing (`&'a str` with `#[serde(borrow)]`) and avoid `serde_json::Value` on hot paths; use typed structs."),
                t!(Rust, None, "Write into a reused buffer with `serde_json::to_writer`; consider `simd-json` or a binary format (bincode, prost) for internal hops."),
                t!(Go, None, "`encoding/json` reflects on every call: cache encoded bytes, decode into concrete structs rather than `map[string]interface{}`, or use a generated codec."),
                t!(Go, None, "Use `json.RawMessage` to delay parsing parts you may not need; `encoding/gob` and `encoding/xml` are slower still."),
            ],
            Category::Regex => &[
                t!(Rust, Some((RegexCompile, true)), "Compile each regex once (`std::sync::LazyLock<Regex>` or a struct field), never inside a request handler or loop: compiling dominates here."),
                t!(Go, Some((RegexCompile, true)), "Hoist `regexp.MustCompile` to a package-level variable: compiling dominates here."),
                t!(Rust, None, "Use `RegexSet` for many patterns, `regex::bytes` to skip UTF-8 checks, or plain `str::starts_with`/`split_once` when the pattern is literal."),
                t!(Go, None, "Go's `regexp` is linear-time but slow: prefer `strings`/`bytes` functions for fixed text, anchor patterns, and avoid `FindAll` when one match is enough."),
            ],
            Category::FormattingAndDispatch => &[
                t!(Rust, None, "Avoid `format!`/`to_string()` on hot paths; write into a reused `String` with `write!`, or use `itoa`/`ryu` for numbers."),
                t!(Rust, None, "Do not build log or error strings eagerly; format only when the message is emitted."),
                t!(Rust, None, "Replace `Box<dyn Trait>` calls in tight loops with generics or an `enum` so the compiler can inline."),
                t!(Go, None, "`fmt.Sprintf` reflects on every argument: use `strconv.AppendInt`/`AppendFloat` into a reused `[]byte`, or `strings.Builder`."),
                t!(Go, None, "Avoid `reflect` on hot paths; concrete types and generated code are much faster."),
            ],
            Category::Hashing => &[
                t!(Any, None, "Cryptographic hashes (SHA-256, SHA-1, MD5) are expensive per byte: hash each payload once and cache the digest, and hash less data (only what must be verified)."),
                t!(Any, None, "For checksums and internal keys use a fast non-cryptographic hash (xxHash, CRC32C with hardware support, FxHash/ahash) where collision resistance against attackers is not needed."),
                t!(Rust, None, "Hash-map probing: use a faster hasher for keys not controlled by clients (`ahash`, `rustc-hash`), look up once with the `entry` API, and pre-size maps."),
                t!(Go, None, "`runtime.mapaccess`/`mapassign` mean map-heavy code: pre-size with `make(map[K]V, n)` and prefer integer keys to long strings."),
            ],
            Category::IoAndSyscalls => &[
                t!(Any, Some((Durability, true)), "Most of it is making data durable (`fsync`/`fdatasync`): sync once per batch of records (group commit) instead of per record, or relax the sync policy where the data can be rebuilt."),
                t!(Rust, Some((Buffered, false)), "Batch small writes: wrap the file or socket in `BufWriter` (or `tokio::io::BufWriter`) and flush per batch, or use vectored writes."),
                t!(Go, Some((Buffered, false)), "Batch small reads and writes with `bufio.Reader`/`bufio.Writer`; one syscall per few bytes is the usual cause."),
                t!(Any, Some((Buffered, true)), "Writes already go through a buffered writer, so the remaining cost is the syscalls themselves: write bigger batches, or fewer of them."),
                t!(Rust, None, "Keep blocking file I/O off the async workers (`tokio::task::spawn_blocking` or a dedicated thread)."),
                t!(Any, None, "Reuse connections (keep-alive, one shared client) rather than one syscall-heavy connection per request."),
            ],
            Category::AsyncRuntime => &[
                t!(Any, None, "Much time in the scheduler (park/unpark, wake-ups) means many tiny tasks or messages: batch work per task and coalesce wake-ups."),
                t!(Rust, None, "Do not block worker threads; move CPU-heavy or blocking work to `spawn_blocking` or a dedicated thread."),
                t!(Rust, None, "Size the runtime to the machine (`worker_threads`) and check `tokio-console`/task metrics for tasks that poll too often."),
                t!(Go, None, "`runtime.schedule`/`findrunnable` mean goroutine churn: reuse worker goroutines (a pool) instead of one per item."),
            ],
            Category::Logging => &[
                t!(Rust, None, "Lower the log level on hot paths (`RUST_LOG`), or filter `tracing` statically (`max_level_info` feature)."),
                t!(Rust, None, "Log through a non-blocking writer (`tracing-appender::non_blocking`) and do not format arguments eagerly."),
                t!(Any, None, "Sample or aggregate repetitive events (one summary per second instead of one line per order)."),
                t!(Go, None, "Use a structured, allocation-free logger (zap, slog) and guard debug logs by level."),
            ],
        }
    }
}

/// Which language a profile (or a tip) is about, judged from its frame names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Rust frames (`crate::path`).
    Rust,
    /// Go frames (`pkg.Func`, `runtime.*`).
    Go,
    /// Either (tips only) or unknown (profiles).
    Any,
}

/// Something the profiled program already does, read from its frames; decides which tips
/// make sense (no "switch to jemalloc" for a program on jemalloc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// jemalloc is the allocator (`tikv_jemallocator`, `_rjem_*`, `je_*` frames).
    Jemalloc,
    /// Writes go through a buffered writer (`BufWriter`, `bufio.Writer`).
    Buffered,
    /// Regexes are compiled in the profiled work (`Regex::new`, `regexp.Compile`).
    RegexCompile,
    /// The I/O is mostly `fsync`/`fdatasync`.
    Durability,
}

/// One piece of advice.
#[derive(Debug, Clone, Copy)]
pub struct Tip {
    /// The language it is written for; [`Lang::Any`] for both.
    pub lang: Lang,
    /// Shown only when the fact has this truth value.
    pub when: Option<(Fact, bool)>,
    /// The advice.
    pub text: &'static str,
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
            "serde_core",
            "serde_derive",
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
            "hash/crc32",
            "hash/crc64",
            "hash/adler32",
            "crc32fast",
            "crc32c",
            "crc",
            // Cryptographic digests: the package decides, whatever the method is called
            // (`crypto/sha256.(*digest).Write` is hashing, not a write).
            "crypto/sha256",
            "crypto/sha1",
            "crypto/sha512",
            "crypto/md5",
            "crypto/hmac",
            "crypto/internal/boring/sha",
            "golang.org/x/crypto/sha3",
            "golang.org/x/crypto/blake2b",
            "sha2",
            "sha1",
            "sha1_smol",
            "sha3",
            "md5",
            "md_5",
            "blake2",
            "blake3",
            "digest",
            "hmac",
            "ring::digest",
            "aws_lc_rs::digest",
            "xxhash_rust",
            "twox_hash",
            "seahash",
            "highway",
            "fnv",
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
            // Waiting for events or time is idle, not I/O work.
            "epoll",
            "epollwait",
            "netpoll",
            "nanosleep",
            "sleep",
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
    // Marker-trait bounds (`Box<dyn FnOnce() + Send>`) say nothing about the work: `Send`
    // is not a send.
    let unmarked = trimmed
        .replace("core::marker::Send", "")
        .replace("core::marker::Sync", "");
    let ws = words(&unmarked);
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

/// What a system-call frame does, when it does data I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    /// Reads, writes, sends, receives.
    Data,
    /// `fsync`/`fdatasync`: making written data durable.
    Durability,
}

/// Words of syscalls that move or persist data (waits such as `epoll_wait` or `futex` are not).
const DATA_SYSCALL_WORDS: &[&str] = &[
    "read",
    "write",
    "readv",
    "writev",
    "pread",
    "pwrite",
    "pread64",
    "pwrite64",
    "recv",
    "recvfrom",
    "recvmsg",
    "send",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "sendfile",
    "splice",
    "syscall",
    "syscall6",
    "rawsyscall",
    "openat",
    "fstat",
    "statx",
    "ftruncate",
];
const DURABILITY_WORDS: &[&str] = &["fsync", "fdatasync", "datasync", "msync", "syncfs"];

/// Whether `name` is a system call (or the thin layer right above one) that does data I/O:
/// a C symbol (`write`, `__GI___libc_write`, `fdatasync`), Rust's `std::sys` file and socket
/// code, or Go's `syscall`, `internal/poll` and `os.(*File)` methods.
pub fn syscall_kind(name: &str) -> Option<Syscall> {
    let name = name.trim();
    let system = if name.contains("::") {
        name.contains("std::sys::") || name.starts_with("<std::sys::")
    } else if name.contains('.') {
        [
            "syscall.",
            "runtime/internal/syscall.",
            "internal/poll.",
            "os.(*File)",
            "golang.org/x/sys/unix.",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    } else {
        // A bare C symbol: libc or the kernel.
        !name.contains(char::is_uppercase) || name.starts_with('_')
    };
    if !system {
        return None;
    }
    let ws = words(name);
    if ws.iter().any(|w| DURABILITY_WORDS.contains(&w.as_str()))
        // Go's `os.(*File).Sync` and `internal/poll.(*FD).Fsync`.
        || (name.starts_with("os.(*File).Sync"))
    {
        return Some(Syscall::Durability);
    }
    ws.iter()
        .any(|w| DATA_SYSCALL_WORDS.contains(&w.as_str()))
        .then_some(Syscall::Data)
}

/// What a blocked task waits on, from one frame of its stack: a channel, a condition (or wait
/// group, or notification), a lock, sleep/idle (the runtime) or I/O readiness. `None` for
/// frames that say nothing about waiting.
pub fn wait_kind(name: &str) -> Option<Category> {
    let name = name.trim();
    let segs = segments(name);
    let ws = words(name);
    let has_run = |rule: &str| contains_run(&segs, &segments(rule));
    let go_runtime = name.starts_with("runtime.");
    // Channels: Go's runtime channel operations, Rust's channel crates.
    if (go_runtime
        && ws.iter().any(|w| {
            matches!(
                w.as_str(),
                "chansend" | "chanrecv" | "selectgo" | "selectnbsend" | "selectnbrecv" | "block"
            )
        }))
        || [
            "tokio::sync::mpsc",
            "tokio::sync::oneshot",
            "tokio::sync::broadcast",
            "tokio::sync::watch",
            "std::sync::mpsc",
            "std::sync::mpmc",
            "crossbeam_channel",
            "flume",
            "async_channel",
            "futures_channel",
        ]
        .iter()
        .any(|r| has_run(r))
    {
        return Some(Category::ChannelContention);
    }
    // Conditions: condition variables, wait groups, barriers, notifications.
    if [
        "sync.Cond",
        "sync.WaitGroup",
        "std::sync::condvar",
        "std::sync::poison::condvar",
        "std::sync::barrier",
        "parking_lot::condvar",
        "tokio::sync::notify",
        "tokio::sync::barrier",
        "event_listener",
    ]
    .iter()
    .any(|r| has_run(r))
        || ws.iter().any(|w| w == "condvar")
    {
        return Some(Category::ConditionWait);
    }
    if ["sync.Mutex", "sync.RWMutex"].iter().any(|r| has_run(r)) {
        return Some(Category::LockContention);
    }
    // Go's sleeping and network-waiting goroutines.
    if name.starts_with("time.Sleep")
        || has_run("tokio::time::sleep")
        || name.starts_with("std::thread::sleep")
    {
        return Some(Category::AsyncRuntime);
    }
    if name.starts_with("internal/poll.") || name.starts_with("runtime.netpollblock") {
        return Some(Category::IoAndSyscalls);
    }
    match classify(name) {
        FrameClass::Work(Category::LockContention) => Some(Category::LockContention),
        _ => None,
    }
}

/// What kind of allocation a frame between an allocation site and the allocator means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationKind {
    /// Allocated in the site itself (`make`, `new`, literals; Go's heap profiles end there).
    Direct,
    /// A `Vec` or slice growing (`RawVec::grow`, `finish_grow`, `runtime.growslice`).
    VecGrowth,
    /// Strings built by formatting (`format!`, `to_string`, `fmt.Sprintf`, `strconv`).
    Formatting,
    /// Strings or buffers built piece by piece (`String::push_str`, `strings.Builder`,
    /// `bytes.Buffer`, string concatenation).
    StringBuilding,
    /// Copies (`clone`, `to_owned`, `to_vec`).
    Clone,
    /// Hash maps growing or inserting (`hashbrown`, `runtime.mapassign`, `makemap`).
    HashMap,
    /// Boxed or single heap objects (`Box::new`, `Arc::new`, `runtime.newobject`).
    Boxed,
    /// New slices or vectors of a known size (`make([]T, n)`, `vec![..; n]`,
    /// `with_capacity`).
    NewBuffer,
    /// Encoding or decoding (serde, `encoding/json`).
    Serialization,
}

impl AllocationKind {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            AllocationKind::Direct => "allocated in the function itself",
            AllocationKind::VecGrowth => "Vec/slice growth (push or append without capacity)",
            AllocationKind::Formatting => "string formatting",
            AllocationKind::StringBuilding => "string and buffer building",
            AllocationKind::Clone => "clones and copies",
            AllocationKind::HashMap => "hash map growth",
            AllocationKind::Boxed => "boxed or single heap objects",
            AllocationKind::NewBuffer => "new buffers of a known size",
            AllocationKind::Serialization => "serialization buffers",
        }
    }

    /// The fix that goes with it.
    pub fn advice(self) -> &'static str {
        match self {
            AllocationKind::Direct => "Look at what this function allocates per call (`make`, `new`, literals, `vec!`): allocate once and reuse, or keep less of it alive.",
            AllocationKind::VecGrowth => "Reserve the final size up front (`Vec::with_capacity`, `make([]T, 0, n)`) or reuse the vector with `clear()`/`s[:0]`: growth copies the data each time capacity doubles.",
            AllocationKind::Formatting => "Format into a reused buffer (`write!` into a `String`, `strconv.Append*` into a `[]byte`) instead of a new string per call.",
            AllocationKind::StringBuilding => "Size the builder once (`String::with_capacity`, `strings.Builder.Grow`, `bytes.Buffer.Grow`) and reuse it.",
            AllocationKind::Clone => "Borrow or share instead of copying (`&str`/`&[T]`, `Arc`, `Cow`).",
            AllocationKind::HashMap => "Pre-size maps (`HashMap::with_capacity`, `make(map[K]V, n)`) and avoid rebuilding them per request.",
            AllocationKind::Boxed => "Avoid a heap object per item: store values inline (in a `Vec` or struct, or a slab), or pool them (`sync.Pool`).",
            AllocationKind::NewBuffer => "Reuse the buffer across calls (a pool, a field, `sync.Pool`) instead of allocating a fresh one each time; check that its size is what you meant.",
            AllocationKind::Serialization => "Encode into a reused buffer (`serde_json::to_writer`, `json.NewEncoder` on a pooled `bytes.Buffer`) and decode into typed structs.",
        }
    }
}

/// The kind of allocation a frame (between the allocation site and the allocator) stands for.
pub fn allocation_kind(name: &str) -> Option<AllocationKind> {
    let name = name.trim();
    let segs = segments(name);
    let ws = words(name);
    let has_run = |rule: &str| contains_run(&segs, &segments(rule));
    let has_word = |w: &str| ws.iter().any(|x| x == w);
    if let FrameClass::Work(Category::Serialization) = classify(name) {
        return Some(AllocationKind::Serialization);
    }
    if has_run("raw_vec")
        && (has_word("grow") || has_word("reserve") || name.contains("finish_grow"))
        || name.starts_with("runtime.growslice")
        || (has_run("alloc::vec")
            && (has_word("push") || has_word("extend") || has_word("reserve")))
    {
        return Some(AllocationKind::VecGrowth);
    }
    if matches!(
        classify(name),
        FrameClass::Work(Category::FormattingAndDispatch)
    ) || name.starts_with("fmt.")
        || name.starts_with("strconv.")
    {
        return Some(AllocationKind::Formatting);
    }
    if name.starts_with("strings.(*Builder)")
        || name.starts_with("bytes.(*Buffer)")
        || name.starts_with("runtime.concatstring")
        || name.starts_with("runtime.rawstring")
        || name.starts_with("runtime.slicebytetostring")
        || name.starts_with("strings.Join")
        || name.starts_with("strings.Repeat")
        || (has_run("alloc::string")
            && (has_word("push") || has_word("extend") || has_word("insert")))
    {
        return Some(AllocationKind::StringBuilding);
    }
    if has_word("clone")
        || has_word("to_owned")
        || has_word("owned")
        || has_word("to_vec")
        || name.starts_with("runtime.slicecopy")
    {
        return Some(AllocationKind::Clone);
    }
    if has_run("hashbrown")
        || has_run("std::collections::hash")
        || name.starts_with("runtime.makemap")
        || name.starts_with("runtime.mapassign")
        || name.starts_with("runtime.hashGrow")
    {
        return Some(AllocationKind::HashMap);
    }
    if has_run("alloc::boxed")
        || has_run("alloc::sync::Arc")
        || has_run("alloc::rc::Rc")
        || has_word("exchange_malloc")
        || name.starts_with("runtime.newobject")
    {
        return Some(AllocationKind::Boxed);
    }
    if name.starts_with("runtime.makeslice")
        || has_word("with_capacity")
        || has_word("from_elem")
        || has_word("zeroed")
        || name.contains("SpecFromElem")
    {
        return Some(AllocationKind::NewBuffer);
    }
    None
}

/// The facts a frame shows about the program ([`Fact::Jemalloc`], [`Fact::Buffered`],
/// [`Fact::RegexCompile`]).
pub fn facts_of(name: &str) -> Vec<Fact> {
    let name = name.trim();
    let segs = segments(name);
    let mut out = Vec::new();
    if contains_run(&segs, &segments("tikv_jemallocator"))
        || contains_run(&segs, &segments("tikv_jemalloc_sys"))
        || name.starts_with("_rjem_")
        || name.starts_with("je_")
        || name.starts_with("jemalloc")
    {
        out.push(Fact::Jemalloc);
    }
    if segs.iter().any(|s| s == "bufwriter" || s == "linewriter")
        || name.starts_with("bufio.(*Writer)")
    {
        out.push(Fact::Buffered);
    }
    let ws = words(name);
    let regex = matches!(classify(name), FrameClass::Work(Category::Regex));
    if regex
        && (ws.iter().any(|w| {
            matches!(
                w.as_str(),
                "compile" | "compiler" | "builder" | "build" | "parse" | "parser"
            )
        }) || (name.contains("Regex") && ws.last().is_some_and(|w| w == "new")))
    {
        out.push(Fact::RegexCompile);
    }
    out
}

/// One frame of the stretch [`decide`] judges (leaf first): its category, if any, and whether
/// it is a data syscall.
#[derive(Debug, Clone, Copy)]
pub struct ChainFrame {
    /// The frame's own category ([`classify`]).
    pub category: Option<Category>,
    /// What syscall it is, if it is one ([`syscall_kind`]).
    pub syscall: Option<Syscall>,
}

/// The category of one CPU sample from the frames between its leaf and the program's first
/// frame, leaf first, with the position of the frame that decided it; `None` when no frame
/// in the stretch is recognised. The rules and their order are in the module header.
pub fn decide(chain: &[ChainFrame]) -> Option<(Category, usize)> {
    let outermost = |pred: &dyn Fn(&ChainFrame) -> bool| chain.iter().rposition(pred);
    if let Some(i) = outermost(&|f| f.category == Some(Category::Logging)) {
        return Some((Category::Logging, i));
    }
    // A syscall below a runtime frame is the runtime's own (a wake-up's eventfd write, the
    // I/O driver): the runtime decides, below.
    let runtime_above_syscall = chain
        .iter()
        .rposition(|f| f.syscall.is_some())
        .is_some_and(|s| {
            chain[s..]
                .iter()
                .any(|f| f.category == Some(Category::AsyncRuntime))
        });
    if chain.iter().any(|f| f.syscall.is_some()) && !runtime_above_syscall {
        // The outermost I/O frame names the call the program made (`os.(*File).Sync`,
        // `std::fs::File::sync_data`), better than the bare syscall.
        let i = outermost(&|f| f.category == Some(Category::IoAndSyscalls) || f.syscall.is_some())
            .unwrap_or(0);
        return Some((Category::IoAndSyscalls, i));
    }
    if let Some(i) = outermost(&|f| f.category.is_some_and(Category::is_domain)) {
        return chain[i].category.map(|c| (c, i));
    }
    let i = outermost(&|f| f.category.is_some())?;
    chain[i].category.map(|c| (c, i))
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
