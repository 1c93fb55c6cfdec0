//! End-to-end: the `pprof-demo` service on 127.0.0.1:0, real HTTP, and `go tool pprof` reading
//! every profile type. Skips loudly when `go` is not installed.

#![allow(clippy::unwrap_used)]

mod go_tool;
use go_tool::{go_pprof, have_go};

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Tests share two cores with the demo's busy threads: run them one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running demo service, killed on drop.
struct Demo {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Demo {
    fn start() -> Demo {
        Demo::start_with_env(&[])
    }

    fn start_with_env(env: &[(&str, &str)]) -> Demo {
        let (child, base) = go_tool::start_pprof_demo(env);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        Demo {
            child,
            base,
            client,
        }
    }

    async fn get(&self, path: &str) -> Fetched {
        let response = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Fetched::from(response).await
    }

    async fn post(&self, path: &str, body: String) -> Fetched {
        let response = self
            .client
            .post(format!("{}{}", self.base, path))
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Fetched::from(response).await
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    async fn from(response: reqwest::Response) -> Fetched {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("read body").to_vec();
        Fetched {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a Go-style pprof error: status, text/plain, `X-Go-Pprof: 1`, exact message.
    fn assert_go_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.header("x-go-pprof"), "1");
        assert_eq!(self.header("content-type"), "text/plain; charset=utf-8");
        assert_eq!(self.header("content-disposition"), "");
        assert_eq!(self.text(), format!("{message}\n"));
    }

    /// Asserts a protobuf download named `filename` and writes it to a temp file.
    fn save_profile(&self, filename: &str) -> ProfileFile {
        assert_eq!(self.status, 200, "body: {}", self.text());
        assert_eq!(self.header("content-type"), "application/octet-stream");
        assert_eq!(
            self.header("content-disposition"),
            format!("attachment; filename=\"{filename}\"")
        );
        assert_eq!(&self.body[..2], &[0x1f, 0x8b], "profile is not gzip'd");
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "http-pprof-test-{}-{}-{filename}.pb.gz",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, &self.body).expect("write profile");
        ProfileFile(path)
    }
}

/// A downloaded profile on disk, removed when dropped.
struct ProfileFile(PathBuf);

impl std::ops::Deref for ProfileFile {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ProfileFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `go tool pprof <args> <file>`; fails the test if pprof fails.
#[tokio::test]
async fn cpu_profile_names_the_hot_function_with_file_and_line() {
    if !have_go() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    let file = demo
        .get("/debug/pprof/profile?seconds=2")
        .await
        .save_profile("profile");
    let raw = go_pprof(&["-raw"], &file);
    assert!(raw.contains("PeriodType: cpu nanoseconds"), "{raw}");
    assert!(
        raw.contains("Period: 10101010"),
        "99 Hz is the default: {raw}"
    );
    assert!(raw.contains("samples/count cpu/nanoseconds"), "{raw}");
    assert!(raw.contains("pprof-demo.rs:"), "no file:line in {raw}");
    let top = go_pprof(&["-top", "-nodecount=200"], &file);
    assert!(top.contains("pprof_demo::demo_cpu_hot_loop"), "{top}");
    // Only inline-aware symbolisation can name a function that was inlined into a closure.
    assert!(
        top.contains("pprof_demo::demo_inlined_mix (inline)"),
        "{top}"
    );
    // The interrupted function itself is recorded: a call-free leaf has flat samples.
    let leaf = top
        .lines()
        .find(|l| l.trim_end().ends_with("pprof_demo::demo_leaf_spin"))
        .unwrap_or_else(|| panic!("demo_leaf_spin missing: {top}"));
    let flat = leaf.split_whitespace().next().unwrap_or("0");
    assert_ne!(flat, "0", "no flat samples in the leaf: {leaf}");
    // `hz` raises the sampling rate; the period says so to every reader of the profile.
    let fast = demo
        .get("/debug/pprof/profile?seconds=1&hz=500")
        .await
        .save_profile("profile");
    let fast_raw = go_pprof(&["-raw"], &fast);
    assert!(fast_raw.contains("Period: 2000000"), "{fast_raw}");
    let list = go_pprof(&["-list", "demo_cpu_hot_loop"], &file);
    assert!(
        list.contains("ROUTINE ======================== pprof_demo::demo_cpu_hot_loop in")
            && list.contains("src/bin/pprof-demo.rs"),
        "{list}"
    );
    assert!(
        list.contains("for i in 0..rounds"),
        "source not listed: {list}"
    );
}

#[tokio::test]
async fn heap_and_allocs_name_the_allocation_sites() {
    if !have_go() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    let heap = demo.get("/debug/pprof/heap").await.save_profile("heap");
    let raw = go_pprof(&["-raw"], &heap);
    assert!(
        raw.contains("alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"),
        "{raw}"
    );
    assert!(raw.contains("PeriodType: space bytes"), "{raw}");
    let top = go_pprof(&["-top", "-sample_index=inuse_space"], &heap);
    assert!(top.contains("pprof_demo::demo_retain_buffers"), "{top}");
    // jemalloc and allocator shims are trimmed: the top frames are the callers' code.
    let traces = go_pprof(&["-traces", "-sample_index=inuse_space"], &heap);
    for machinery in [
        "prof_backtrace",
        "__rust_alloc",
        "je_malloc",
        "irallocx",
        "GlobalAlloc",
        "jemalloc.c",
    ] {
        assert!(!traces.contains(machinery), "{machinery} left in {traces}");
    }

    let allocs = demo.get("/debug/pprof/allocs").await.save_profile("allocs");
    let top = go_pprof(&["-top"], &allocs);
    assert!(
        top.contains("Type: alloc_space"),
        "allocs defaults to alloc_space: {top}"
    );
    assert!(top.contains("pprof_demo::demo_churn_allocations"), "{top}");

    let text = demo.get("/debug/pprof/heap?debug=1").await;
    assert_eq!(text.status, 200);
    assert!(text.text().starts_with("heap profile: "), "{}", text.text());
    assert!(text.text().contains("demo_retain_buffers"));
}

#[tokio::test]
async fn goroutine_profile_shows_the_long_lived_task() {
    if !have_go() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    // A tokio task dump skips tasks that are being polled or woken at that instant, so the
    // 50 ms sleeper may be missed once in a while; a few bounded attempts tell that apart from
    // never finding it.
    let mut raw = String::new();
    for _ in 0..5 {
        let file = demo
            .get("/debug/pprof/goroutine")
            .await
            .save_profile("goroutine");
        raw = go_pprof(&["-raw"], &file);
        if raw.contains("pprof_demo::demo_long_lived_task") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(raw.contains("goroutine/count"), "{raw}");
    assert!(raw.contains("pprof_demo::demo_long_lived_task"), "{raw}");

    let mut debug1 = String::new();
    let mut debug2 = String::new();
    for _ in 0..5 {
        debug1 = demo.get("/debug/pprof/goroutine?debug=1").await.text();
        debug2 = demo.get("/debug/pprof/goroutine?debug=2").await.text();
        if debug1.contains("demo_long_lived_task") && debug2.contains("demo_long_lived_task") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(debug1.starts_with("goroutine profile: total "), "{debug1}");
    assert!(debug1.contains("demo_long_lived_task"), "{debug1}");
    assert!(debug2.starts_with("goroutine "), "{debug2}");
    assert!(
        debug2.contains("pprof_demo::demo_long_lived_task"),
        "{debug2}"
    );
    assert!(
        debug2.contains("pprof_demo::demo_drain_slow_channel"),
        "{debug2}"
    );
}

#[tokio::test]
async fn mutex_and_block_profiles_name_the_waiting_callers() {
    if !have_go() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mutex = demo.get("/debug/pprof/mutex").await.save_profile("mutex");
    let raw = go_pprof(&["-raw"], &mutex);
    assert!(raw.contains("contentions/count delay/nanoseconds"), "{raw}");
    let top = go_pprof(&["-top"], &mutex);
    assert!(top.contains("pprof_demo::demo_contend_on_book"), "{top}");
    let text = demo.get("/debug/pprof/mutex?debug=1").await.text();
    assert!(
        text.starts_with("--- mutex:\ncycles/second=1000000000\nsampling period=1\n"),
        "{text}"
    );

    let block = demo.get("/debug/pprof/block").await.save_profile("block");
    let top = go_pprof(&["-top"], &block);
    assert!(top.contains("pprof_demo::demo_drain_slow_channel"), "{top}");
    let raw = go_pprof(&["-raw"], &block);
    assert!(raw.contains("contentions/count delay/nanoseconds"), "{raw}");

    // Delta over one second: a valid profile named "<name>-delta".
    let delta = demo
        .get("/debug/pprof/mutex?seconds=1")
        .await
        .save_profile("mutex-delta");
    let top = go_pprof(&["-top"], &delta);
    assert!(top.contains("pprof_demo::demo_contend_on_book"), "{top}");
    let threads = demo
        .get("/debug/pprof/threadcreate")
        .await
        .save_profile("threadcreate");
    let raw = go_pprof(&["-raw"], &threads);
    assert!(raw.contains("threadcreate/count"), "{raw}");
}

#[tokio::test]
async fn errors_follow_go_contract() {
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    demo.get("/debug/pprof/nosuch")
        .await
        .assert_go_error(404, "Unknown profile");
    demo.get("/debug/pprof/heap?seconds=abc")
        .await
        .assert_go_error(
            400,
            r#"invalid value for "seconds" - must be a positive integer"#,
        );
    demo.get("/debug/pprof/mutex?seconds=-1")
        .await
        .assert_go_error(
            400,
            r#"invalid value for "seconds" - must be a positive integer"#,
        );
    demo.get("/debug/pprof/heap?seconds=1&debug=1")
        .await
        .assert_go_error(400, "seconds and debug params are incompatible");
    // The demo declares a 120 s request timeout.
    demo.get("/debug/pprof/profile?seconds=200")
        .await
        .assert_go_error(400, "profile duration exceeds server's WriteTimeout");
    demo.get("/debug/pprof/block?seconds=120")
        .await
        .assert_go_error(400, "profile duration exceeds server's WriteTimeout");
    let trace = demo.get("/debug/pprof/trace?seconds=1").await;
    assert_eq!(trace.status, 501);
    assert_eq!(trace.header("x-go-pprof"), "1");
    assert!(trace.text().starts_with("Could not enable tracing: "));
    demo.get("/debug/pprof/mutex?rate=x").await.assert_go_error(
        400,
        r#"invalid value for "rate" - must be a non-negative integer"#,
    );
    for hz in ["0", "1001", "fast", "-5"] {
        demo.get(&format!("/debug/pprof/profile?seconds=1&hz={hz}"))
            .await
            .assert_go_error(
                400,
                r#"invalid value for "hz" - must be an integer from 1 to 1000"#,
            );
    }

    // A second CPU profile while one runs.
    let first = {
        let client = demo.client.clone();
        let url = format!("{}/debug/pprof/profile?seconds=2", demo.base);
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    demo.get("/debug/pprof/profile?seconds=1")
        .await
        .assert_go_error(
            500,
            "Could not enable CPU profiling: cpu profiling already in use",
        );
    assert_eq!(first.await.unwrap().expect("first profile"), 200);
}

#[tokio::test]
async fn heap_answers_a_clear_error_when_jemalloc_profiling_is_off() {
    let _serial = SERIAL.lock().await;
    // The environment overrides the binary's compiled-in malloc_conf.
    let demo = Demo::start_with_env(&[("MALLOC_CONF", "prof:false")]);
    for path in ["/debug/pprof/heap", "/debug/pprof/allocs?debug=1"] {
        let response = demo.get(path).await;
        assert_eq!(response.status, 501, "{}", response.text());
        assert_eq!(response.header("x-go-pprof"), "1");
        assert!(
            response
                .text()
                .starts_with("heap profiling is not active: jemalloc profiling is off"),
            "{}",
            response.text()
        );
    }
}

#[tokio::test]
async fn index_cmdline_and_symbol_behave_like_go() {
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    let index = demo.get("/debug/pprof/").await;
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), "text/html; charset=utf-8");
    let html = index.text();
    for name in [
        "allocs",
        "block",
        "goroutine",
        "heap",
        "mutex",
        "threadcreate",
        "profile",
    ] {
        assert!(
            html.contains(&format!("<a href='{name}?debug=1'>{name}</a>")),
            "{html}"
        );
    }
    assert!(html.contains("<a href=\"goroutine?debug=2\">full goroutine stack dump</a>"));

    let cmdline = demo.get("/debug/pprof/cmdline").await;
    assert_eq!(cmdline.header("content-type"), "text/plain; charset=utf-8");
    assert!(cmdline.text().ends_with("pprof-demo"), "{}", cmdline.text());

    let get = demo.get("/debug/pprof/symbol").await;
    assert_eq!(get.text(), "num_symbols: 1\n");

    // Take a real code address from the mutex profile and ask for its name.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = demo.get("/debug/pprof/mutex?debug=1").await.text();
    let addr = text
        .lines()
        .find(|l| l.contains("pprof_demo::demo_contend_on_book+"))
        .and_then(|l| l.split('\t').nth(1))
        .unwrap_or_else(|| panic!("no demo_contend_on_book frame in {text}"))
        .to_owned();
    let posted = demo
        .post("/debug/pprof/symbol", format!("{addr}+0x0+junk"))
        .await;
    assert_eq!(
        posted.text(),
        format!("num_symbols: 1\n{addr} pprof_demo::demo_contend_on_book\n")
    );
}

#[tokio::test]
async fn cpu_and_heap_profiles_run_together_without_deadlock() {
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    let rounds = async {
        for _ in 0..6 {
            let cpu = demo.get("/debug/pprof/profile?seconds=1");
            let heaps = async {
                for _ in 0..6 {
                    assert_eq!(demo.get("/debug/pprof/heap").await.status, 200);
                    assert_eq!(demo.get("/debug/pprof/allocs?debug=1").await.status, 200);
                }
            };
            let (cpu, ()) = tokio::join!(cpu, heaps);
            assert_eq!(cpu.status, 200);
        }
    };
    tokio::time::timeout(Duration::from_secs(90), rounds)
        .await
        .expect("CPU and heap profiling together did not finish: deadlock?");
}

/// One line of the `Mappings` section of `go tool pprof -raw`:
/// `1: 0x5598c000/0x55a00000/0x1000 /path/to/binary 4f0e...c1 [FN][FL][LN][IN]`.
#[derive(Debug)]
struct RawMapping {
    id: u64,
    start: u64,
    limit: u64,
    file: String,
    build_id: String,
    flags: String,
}

fn raw_mappings(raw: &str) -> Vec<RawMapping> {
    let section = raw
        .split("\nMappings\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no Mappings section in {raw}"));
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    section
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            // Fields are separated by exactly one space; an empty build id leaves two.
            let parts: Vec<&str> = line.split(' ').collect();
            let range: Vec<&str> = parts[1].split('/').collect();
            RawMapping {
                id: parts[0].trim_end_matches(':').parse().unwrap(),
                start: hex(range[0]),
                limit: hex(range[1]),
                file: parts[2].to_owned(),
                build_id: parts.get(3).unwrap_or(&"").to_string(),
                flags: parts.get(4).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// (address, mapping id, first function name) of each location in `go tool pprof -raw`.
fn raw_locations(raw: &str) -> Vec<(u64, u64, String)> {
    let section = raw
        .split("\nLocations\n")
        .nth(1)
        .and_then(|s| s.split("\nMappings\n").next())
        .unwrap_or_else(|| panic!("no Locations section in {raw}"));
    section
        .lines()
        .filter_map(|line| {
            // `    12: 0x55d1c0 M=1 name file:line s=0`; inlined lines continue without an id.
            let (_id, rest) = line.trim_start().split_once(": 0x")?;
            let mut fields = rest.split(' ');
            let address = u64::from_str_radix(fields.next()?, 16).ok()?;
            let mapping = fields.next()?.strip_prefix("M=")?.parse().ok()?;
            Some((address, mapping, fields.next().unwrap_or("").to_owned()))
        })
        .collect()
}

/// The GNU build id of the ELF file at `path`, as lower-case hex.
fn build_id_on_disk(path: &str) -> String {
    use object::Object as _;
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let file = object::File::parse(&*data).unwrap_or_else(|e| panic!("parse {path}: {e}"));
    file.build_id()
        .expect("notes readable")
        .map(|id| id.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

/// Issue 11 item 6: one mapping per loaded object with its build id, so `go tool pprof` finds
/// the binary for `-disasm` and charges libc code to libc.
#[tokio::test]
async fn mappings_let_pprof_disassemble_and_place_libc_code_in_libc() {
    if !have_go() {
        return;
    }
    let _serial = SERIAL.lock().await;
    // Two busy threads: `demo_write_small_buffers` in libc's `write`, `demo_cpu_hot_loop` in Rust.
    let demo = Demo::start_with_env(&[("PPROF_DEMO_WORKLOAD", "syscalls")]);
    let file = demo
        .get("/debug/pprof/profile?seconds=2")
        .await
        .save_profile("profile");
    let raw = go_pprof(&["-raw"], &file);
    let mappings = raw_mappings(&raw);
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_pprof-demo")).unwrap();
    let exe = exe.to_str().unwrap();
    let main = &mappings[0];
    assert_eq!(main.file, exe, "the main binary comes first: {mappings:?}");
    assert_eq!(main.build_id, build_id_on_disk(exe), "{raw}");
    assert!(main.build_id.len() >= 16, "no build id: {main:?}");
    assert_eq!(main.flags, "[FN][FL][LN][IN]", "{main:?}");
    let libc = mappings
        .iter()
        .find(|m| m.file.contains("/libc.so") || m.file.contains("/libc-"))
        .unwrap_or_else(|| panic!("no libc mapping in {mappings:?}"));
    assert_eq!(libc.build_id, build_id_on_disk(&libc.file), "{libc:?}");
    assert!(libc.flags.contains("[FN]"), "{libc:?}");

    let locations = raw_locations(&raw);
    for (address, mapping, name) in &locations {
        let m = mappings
            .iter()
            .find(|m| m.id == *mapping)
            .unwrap_or_else(|| panic!("location {address:#x} ({name}) has no mapping"));
        assert!(
            m.start <= *address && *address < m.limit,
            "{name} at {address:#x} outside its mapping {m:?}"
        );
    }
    // The write loop's time is in libc, and libc's functions are named there.
    let in_libc: Vec<&String> = locations
        .iter()
        .filter(|(_, m, _)| *m == libc.id)
        .map(|(_, _, name)| name)
        .collect();
    assert!(
        in_libc.iter().any(|n| n.contains("write")),
        "no libc write frame under the libc mapping: {in_libc:?}\n{raw}"
    );
    assert!(
        !locations
            .iter()
            .any(|(_, m, name)| *m == main.id && name.contains("libc_write")),
        "a libc frame charged to the main binary: {raw}"
    );

    // -disasm reads the binary at the mapping's base: instructions with samples. The regex has
    // to match the demangled name in the profile and the mangled one in the symbol table.
    let disasm = go_pprof(&["-disasm=demo_cpu_hot_loop"], &file);
    assert!(
        disasm.contains("ROUTINE ======================== "),
        "{disasm}"
    );
    let sampled_instructions = disasm
        .lines()
        .filter(|l| {
            let mut f = l.split_whitespace();
            let flat = f.next().unwrap_or(".");
            let _cum = f.next();
            flat != "." && f.next().is_some_and(|a| a.ends_with(':'))
        })
        .count();
    assert!(
        sampled_instructions > 0,
        "no instruction with samples: {disasm}"
    );
    // (-weblist stays empty with Go's cmd/pprof for any non-Go binary: it takes each
    // instruction's source line from Go's pclntab only. -list, tested above, shows the source.)
}

/// Checks what Parca and Pyroscope need from a pprof upload beyond `go tool pprof`'s own
/// validity rules: named sample types and period, a capture time, the main binary first with
/// its build id (Parca's symbolizer and debuginfo upload key on it), every location inside
/// the mapping it names, and symbolized mappings flagged so neither re-symbolizes them.
///
/// `stacks` says whether every sample must have a stack (Pyroscope drops those without one).
fn assert_fit_for_profile_stores(name: &str, bytes: &[u8], delta: bool, stacks: bool) {
    let p = pprof_proto::decode(bytes, 1 << 30).unwrap_or_else(|e| panic!("{name}: {e}"));
    let s = |i: i64| -> &str {
        p.string_table
            .get(usize::try_from(i).unwrap())
            .unwrap_or_else(|| panic!("{name}: string {i} out of range"))
    };
    assert_eq!(
        p.string_table.first().map(String::as_str),
        Some(""),
        "{name}"
    );
    assert!(!p.sample_type.is_empty(), "{name}: no sample types");
    for t in &p.sample_type {
        assert!(!s(t.r#type).is_empty() && !s(t.unit).is_empty(), "{name}");
    }
    let period_type = p
        .period_type
        .unwrap_or_else(|| panic!("{name}: no period type"));
    assert!(!s(period_type.r#type).is_empty() && !s(period_type.unit).is_empty());
    assert!(p.period > 0, "{name}: period {}", p.period);
    if p.default_sample_type != 0 {
        let default = s(p.default_sample_type);
        assert!(
            p.sample_type.iter().any(|t| s(t.r#type) == default),
            "{name}"
        );
    }
    assert!(
        p.time_nanos > 1_600_000_000_000_000_000,
        "{name}: time_nanos"
    );
    if delta {
        assert!(p.duration_nanos > 0, "{name}: a delta has a duration");
    }

    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_pprof-demo")).unwrap();
    let main = p
        .mapping
        .first()
        .unwrap_or_else(|| panic!("{name}: no mappings"));
    assert_eq!(s(main.filename), exe.to_str().unwrap(), "{name}");
    let build_id = s(main.build_id);
    assert!(
        build_id.len() >= 16 && build_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}: build id {build_id:?}"
    );
    let mut ids: Vec<u64> = p.mapping.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), p.mapping.len(), "{name}: mapping ids repeat");
    assert!(!ids.contains(&0), "{name}: mapping id 0");

    for sample in &p.sample {
        assert_eq!(sample.value.len(), p.sample_type.len(), "{name}");
        assert!(
            !stacks || !sample.location_id.is_empty(),
            "{name}: a sample without a stack"
        );
        for id in &sample.location_id {
            assert!(
                p.location.iter().any(|l| l.id == *id),
                "{name}: location {id}"
            );
        }
    }
    for l in &p.location {
        assert!(!l.line.is_empty(), "{name}: unsymbolized location {l:?}");
        for line in &l.line {
            let f = p
                .function
                .iter()
                .find(|f| f.id == line.function_id)
                .unwrap_or_else(|| panic!("{name}: function {}", line.function_id));
            assert!(!s(f.name).is_empty(), "{name}: nameless function");
        }
        if l.mapping_id == 0 {
            continue;
        }
        let m = p
            .mapping
            .iter()
            .find(|m| m.id == l.mapping_id)
            .unwrap_or_else(|| panic!("{name}: mapping {}", l.mapping_id));
        assert!(
            m.memory_start <= l.address && l.address < m.memory_limit,
            "{name}: location {:#x} outside {}",
            l.address,
            s(m.filename)
        );
        // A location our symbolizer named (a symbol, not an address placeholder) must be in a
        // mapping flagged as symbolized, or readers would symbolize it again (worse, with
        // DWARF's short names).
        let named = l.line.iter().any(|line| {
            p.function
                .iter()
                .any(|f| f.id == line.function_id && !s(f.system_name).is_empty())
        });
        assert!(
            !named || m.has_functions,
            "{name}: {} not flagged symbolized ({l:?})",
            s(m.filename)
        );
    }
    assert!(
        !stacks || p.sample.is_empty() || p.location.iter().any(|l| l.mapping_id == main.id),
        "{name}: no location in the main binary"
    );
}

/// Issue 11 item 6 and issue 12: every profile type, decoded with the shared profile.proto
/// model, carries what continuous-profiling stores (Parca, Pyroscope) read.
#[tokio::test]
async fn every_profile_type_is_fit_for_parca_and_pyroscope() {
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (path, delta, stacks) in [
        ("/debug/pprof/profile?seconds=1", true, true),
        ("/debug/pprof/heap", false, true),
        ("/debug/pprof/allocs", false, true),
        ("/debug/pprof/goroutine", false, true),
        ("/debug/pprof/mutex", false, true),
        ("/debug/pprof/block", false, true),
        ("/debug/pprof/threadcreate", false, true),
        ("/debug/pprof/mutex?seconds=1", true, true),
    ] {
        let response = demo.get(path).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_fit_for_profile_stores(path, &response.body, delta, stacks);
    }
}

/// Issue 11 item 9: Go's handlers serve any method, and `/debug/pprof` redirects with 301.
#[tokio::test]
async fn any_method_is_served_and_the_bare_path_redirects_like_go() {
    let _serial = SERIAL.lock().await;
    let demo = Demo::start();
    // POST and PUT to a profile: the profile, not 405.
    let posted = demo.post("/debug/pprof/heap", String::new()).await;
    posted.save_profile("heap");
    let put = demo
        .client
        .put(format!("{}/debug/pprof/goroutine?debug=1", demo.base))
        .send()
        .await
        .unwrap();
    let put = Fetched::from(put).await;
    assert_eq!(put.status, 200);
    assert!(put.text().starts_with("goroutine profile: total "));
    // Go's FormValue reads a url-encoded POST body, before the query.
    let form = demo
        .client
        .post(format!("{}/debug/pprof/mutex?debug=0", demo.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("debug=1")
        .send()
        .await
        .unwrap();
    let form = Fetched::from(form).await;
    assert!(form.text().starts_with("--- mutex:"), "{}", form.text());
    // Errors keep Go's contract whatever the method.
    let deleted = demo
        .client
        .delete(format!("{}/debug/pprof/heap?seconds=x", demo.base))
        .send()
        .await
        .unwrap();
    Fetched::from(deleted).await.assert_go_error(
        400,
        r#"invalid value for "seconds" - must be a positive integer"#,
    );
    demo.get("/debug/pprof/heap/")
        .await
        .assert_go_error(404, "Unknown profile");
    demo.get("/debug/pprof/a/b")
        .await
        .assert_go_error(404, "Unknown profile");
    let index = demo.post("/debug/pprof/", String::new()).await;
    assert_eq!(index.status, 200);
    assert!(index.text().contains("Types of profiles available:"));
    let cmdline = demo.post("/debug/pprof/cmdline", String::new()).await;
    assert!(cmdline.text().ends_with("pprof-demo"));

    // The bare path: 301 (Go's ServeMux), not axum's 308; query kept; Go's body for GET only.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/debug/pprof?debug=1", demo.base);
    let get = Fetched::from(no_redirects.get(&url).send().await.unwrap()).await;
    assert_eq!(get.status, 301);
    assert_eq!(get.header("location"), "/debug/pprof/?debug=1");
    assert_eq!(get.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(
        get.text(),
        "<a href=\"/debug/pprof/?debug=1\">Moved Permanently</a>.\n\n"
    );
    let post = Fetched::from(no_redirects.post(&url).send().await.unwrap()).await;
    assert_eq!(post.status, 301);
    assert_eq!(post.header("location"), "/debug/pprof/?debug=1");
    assert_eq!(post.header("content-type"), "");
    assert!(post.body.is_empty());
    let bare = format!("{}/debug/pprof", demo.base);
    let get = Fetched::from(no_redirects.get(&bare).send().await.unwrap()).await;
    assert_eq!(get.header("location"), "/debug/pprof/");
    // A client that follows it lands on the index.
    let followed = demo.get("/debug/pprof").await;
    assert_eq!(followed.status, 200);
    assert!(followed.text().contains("Types of profiles available:"));
}
