//! The CPU sampler: a per-thread clock ([`sample_clock`](crate::sample_clock)) sends SIGPROF
//! to a thread after each interval of its CPU time; the handler records the interrupted program
//! counter and walks the frame-pointer chain from the interrupted frame (async-signal-safe,
//! unlike DWARF unwinding: pprof-rs issue 36) into a preallocated ring that an ordinary thread
//! drains.
//!
//! Why not the `pprof` crate's sampler, which works the same way: its frame-pointer unwinder
//! (0.15) starts at the interrupted frame's *return address*, so the function that was
//! actually running is never recorded (a hot loop inlined into a thread's closure showed up as
//! its caller, `__rust_begin_short_backtrace`), and its collector merges samples per function
//! start address, so every sample in a function gets the line of the first one. Here the leaf
//! is kept and samples are aggregated per exact address.
//!
//! Samples interrupted inside libc, libgcc, pthread or the vDSO (syscall wrappers, `memcpy`,
//! `futex`, `clock_gettime`) are kept, as Go keeps them: in a network server that is a large
//! share of the CPU (a profile that dropped them showed 2.05 s of 3.43 s used). That code has
//! no (or only partial) frame pointers, so its frames are unwound with the call frame
//! information of those objects ([`cfi`](crate::cfi), read once before sampling starts): the
//! CFA from the interrupted `rsp`/`rbp`, the return address and saved `rbp` below it, frame
//! after frame until the pc is back in code with frame pointers, where the frame-pointer walk
//! continues with the recovered `rbp`. Every recovered return address must lie in executable
//! code and follow a call instruction, and the stack must grow upwards; the first check that
//! fails ends the stack, so a sample is at worst the leaf alone, never garbage. Where no table
//! exists (aarch64), the caller's return address is searched in the first few stack words
//! above `sp` (or taken from the link register), a heuristic that stops at the first address
//! that fails the same checks.
//!
//! Signal-safety rules of the handler: no allocation, no locks, only atomics, reads of memory
//! proven readable (a `write` of it into a pipe fails with EFAULT otherwise), and errno
//! preserved.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sample_clock::{Mechanism, SampleClocks};

/// Deepest stack recorded (Go keeps 64 frames for CPU samples too).
pub const MAX_FRAMES: usize = 64;
/// Ring capacity; drained every few tens of milliseconds, so a few hundred would do.
const SLOTS: usize = 2048;
/// Address ranges (libc, libgcc, pthread, vDSO) where frame pointers cannot be trusted: walks
/// stop at return addresses in them.
const MAX_BLOCKED_RANGES: usize = 64;
/// Executable mappings outside the blocked ranges (the binary itself, other libraries): where a
/// recovered return address must point.
const MAX_CODE_RANGES: usize = 64;
/// How many stack words above `rsp` are searched for the return address out of a libc leaf
/// (its own pushes and locals come first).
const LEAF_SCAN_WORDS: usize = 8;

const FREE: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

/// One recorded stack.
struct Slot {
    /// FREE, WRITING (handler owns it) or READY (drainer may take it).
    state: AtomicU8,
    /// Number of valid entries in `ips`.
    depth: UnsafeCell<usize>,
    /// Leaf first: the interrupted pc + 1, then return addresses.
    ips: UnsafeCell<[usize; MAX_FRAMES]>,
    /// The interrupted thread's profile label set ([`labels`](crate::labels)).
    labels: UnsafeCell<u32>,
    /// Sampling intervals this signal stands for: 1, plus the timer expirations the kernel
    /// merged into it (see [`timer_overrun`]).
    weight: UnsafeCell<u32>,
}

// SAFETY: `depth`/`ips` are only touched by the owner designated by `state` (CAS-acquired).
unsafe impl Sync for Slot {}

impl Slot {
    const fn new() -> Self {
        Self {
            state: AtomicU8::new(FREE),
            depth: UnsafeCell::new(0),
            ips: UnsafeCell::new([0; MAX_FRAMES]),
            labels: UnsafeCell::new(0),
            weight: UnsafeCell::new(1),
        }
    }
}

static RING: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
/// Samples dropped because the ring was full.
static LOST: AtomicUsize = AtomicUsize::new(0);
/// The handler records only while this is set; it stays installed afterwards so that a late
/// SIGPROF is ignored instead of killing the process (SIGPROF's default action).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HANDLER_INSTALLED: AtomicBool = AtomicBool::new(false);
/// Pipe used to test readability of stack memory from the handler.
static PROBE_WRITE: AtomicI32 = AtomicI32::new(-1);
static PROBE_READ: AtomicI32 = AtomicI32::new(-1);
static BLOCKED_START: [AtomicUsize; MAX_BLOCKED_RANGES] =
    [const { AtomicUsize::new(0) }; MAX_BLOCKED_RANGES];
static BLOCKED_END: [AtomicUsize; MAX_BLOCKED_RANGES] =
    [const { AtomicUsize::new(0) }; MAX_BLOCKED_RANGES];
static BLOCKED_LEN: AtomicUsize = AtomicUsize::new(0);
static CODE_START: [AtomicUsize; MAX_CODE_RANGES] =
    [const { AtomicUsize::new(0) }; MAX_CODE_RANGES];
static CODE_END: [AtomicUsize; MAX_CODE_RANGES] = [const { AtomicUsize::new(0) }; MAX_CODE_RANGES];
static CODE_LEN: AtomicUsize = AtomicUsize::new(0);
/// SIGPROFs handled while active since [`start`]: compared with the CPU time used, it shows
/// how many timer expirations were lost to signal coalescing.
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Starts sampling at `frequency_hz` of each thread's CPU time, with mechanism `only` or the
/// best that works, and says which.
/// The caller guarantees that only one profile runs at a time, and calls [`follow_threads`]
/// periodically while it runs.
pub fn start(frequency_hz: u32, only: Option<Mechanism>) -> std::io::Result<Mechanism> {
    load_code_ranges(&["libc", "libgcc", "pthread", "[vdso]"]);
    // Built on the first profile, outside the handler; later profiles reuse it.
    crate::cfi::table(blocked);
    ensure_probe_pipe()?;
    for slot in &RING {
        slot.state.store(FREE, Ordering::Relaxed);
    }
    NEXT_SLOT.store(0, Ordering::Relaxed);
    LOST.store(0, Ordering::Relaxed);
    SIGNALS.store(0, Ordering::Relaxed);
    install_handler()?;
    ACTIVE.store(true, Ordering::Release);
    let interval_ns = 1_000_000_000 / i64::from(frequency_hz.max(1));
    match SampleClocks::start(interval_ns, only) {
        Ok(clocks) => {
            let mechanism = clocks.mechanism();
            *running_clocks() = Some(clocks);
            Ok(mechanism)
        }
        Err(e) => {
            ACTIVE.store(false, Ordering::Release);
            Err(e)
        }
    }
}

/// Gives threads started since the last call their sampling clock.
pub fn follow_threads() {
    if let Some(clocks) = running_clocks().as_mut() {
        clocks.follow();
    }
}

/// Stops every clock; samples already in the ring stay there for [`drain`].
pub fn stop() {
    if let Some(clocks) = running_clocks().take() {
        clocks.stop();
    }
    ACTIVE.store(false, Ordering::Release);
}

static RUNNING_CLOCKS: Mutex<Option<SampleClocks>> = Mutex::new(None);

fn running_clocks() -> std::sync::MutexGuard<'static, Option<SampleClocks>> {
    RUNNING_CLOCKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Moves ready samples from the ring into `counts` ((stack, leaf first; label set id) ->
/// number of sampling intervals).
pub fn drain(counts: &mut HashMap<(Vec<usize>, u32), i64>) {
    for slot in &RING {
        if slot.state.load(Ordering::Acquire) != READY {
            continue;
        }
        // SAFETY: READY means the handler finished writing and no one else reads this slot.
        let key = unsafe {
            let depth = (*slot.depth.get()).min(MAX_FRAMES);
            (
                ((&(*slot.ips.get()))[..depth].to_vec(), *slot.labels.get()),
                *slot.weight.get(),
            )
        };
        let (key, weight) = key;
        slot.state.store(FREE, Ordering::Release);
        *counts.entry(key).or_insert(0) += i64::from(weight);
    }
}

/// Samples lost to a full ring since [`start`].
pub fn lost() -> usize {
    LOST.load(Ordering::Relaxed)
}

/// SIGPROFs handled since [`start`] (recorded or lost).
pub fn signals() -> usize {
    SIGNALS.load(Ordering::Relaxed)
}

fn install_handler() -> std::io::Result<()> {
    if HANDLER_INSTALLED.load(Ordering::Acquire) {
        return Ok(());
    }
    // SAFETY: installs an async-signal-safe handler for SIGPROF with a zeroed, then filled,
    // sigaction.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigprof as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGPROF, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    HANDLER_INSTALLED.store(true, Ordering::Release);
    Ok(())
}

fn ensure_probe_pipe() -> std::io::Result<()> {
    if PROBE_WRITE.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills `fds` on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    PROBE_READ.store(fds[0], Ordering::Release);
    PROBE_WRITE.store(fds[1], Ordering::Release);
    Ok(())
}

/// Records the executable ranges from `/proc/self/maps`: those of the named libraries as
/// blocked, all others as code where return addresses may point.
fn load_code_ranges(blocked_names: &[&str]) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let (mut blocked, mut code) = (0, 0);
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let path = fields.nth(3).unwrap_or("");
        let file = path.rsplit('/').next().unwrap_or("");
        if !perms.contains('x') {
            continue;
        }
        let mut bounds = range.split('-').map(|h| usize::from_str_radix(h, 16));
        let (Some(Ok(start)), Some(Ok(end))) = (bounds.next(), bounds.next()) else {
            continue;
        };
        if blocked_names.iter().any(|n| file.contains(n)) {
            if blocked < MAX_BLOCKED_RANGES {
                BLOCKED_START[blocked].store(start, Ordering::Relaxed);
                BLOCKED_END[blocked].store(end, Ordering::Relaxed);
                blocked += 1;
            }
        } else if path.starts_with('/') && code < MAX_CODE_RANGES {
            CODE_START[code].store(start, Ordering::Relaxed);
            CODE_END[code].store(end, Ordering::Relaxed);
            code += 1;
        }
    }
    BLOCKED_LEN.store(blocked, Ordering::Release);
    CODE_LEN.store(code, Ordering::Release);
}

/// True if `addr` lies in an executable mapping outside the blocked libraries.
fn in_code(addr: usize) -> bool {
    let n = CODE_LEN.load(Ordering::Acquire);
    (0..n).any(|i| {
        addr >= CODE_START[i].load(Ordering::Relaxed) && addr < CODE_END[i].load(Ordering::Relaxed)
    })
}

/// True if `ret` is a plausible return address: in executable code (ours or a blocked
/// library's), right after a call instruction
/// (x86-64: `call rel32`, `call [rip+disp32]`, `call reg`/`call [reg+disp]` forms; aarch64:
/// `bl`/`blr`).
fn is_return_address(ret: usize) -> bool {
    let executable = |a: usize| in_code(a) || blocked(a);
    if ret < 8 || !executable(ret) || !executable(ret - 8) || !readable(ret - 8, 8) {
        return false;
    }
    // SAFETY: just proven readable.
    let before = unsafe { ((ret - 8) as *const [u8; 8]).read_unaligned() };
    if cfg!(target_arch = "aarch64") {
        let insn = u32::from_le_bytes([before[4], before[5], before[6], before[7]]);
        // bl imm26, blr xN
        return insn & 0xfc00_0000 == 0x9400_0000 || insn & 0xffff_fc1f == 0xd63f_0000;
    }
    // ModRM with reg field 2 (`/2` = call) and the given mod bits.
    let call_modrm = |b: u8, mode: u8| (b >> 3) & 7 == 2 && b >> 6 == mode;
    before[3] == 0xe8
        || (before[2] == 0xff && before[3] == 0x15)
        || (before[6] == 0xff && call_modrm(before[7], 3))
        || (before[6] == 0xff && call_modrm(before[7], 0))
        || (before[5] == 0xff && call_modrm(before[6], 1))
        || (before[2] == 0xff && call_modrm(before[3], 2))
}

fn blocked(addr: usize) -> bool {
    let n = BLOCKED_LEN.load(Ordering::Acquire);
    (0..n).any(|i| {
        addr >= BLOCKED_START[i].load(Ordering::Relaxed)
            && addr < BLOCKED_END[i].load(Ordering::Relaxed)
    })
}

/// True if `len` bytes at `addr` can be read, without faulting: the kernel copies them into a
/// pipe or answers EFAULT.
fn readable(addr: usize, len: usize) -> bool {
    let (w, r) = (
        PROBE_WRITE.load(Ordering::Relaxed),
        PROBE_READ.load(Ordering::Relaxed),
    );
    if w < 0 || len > 64 {
        return false;
    }
    // SAFETY: write/read are async-signal-safe; the kernel validates `addr`.
    unsafe {
        if libc::write(w, addr as *const libc::c_void, len) != len as isize {
            return false;
        }
        let mut sink = [0u8; 64];
        libc::read(r, sink.as_mut_ptr().cast(), len.min(sink.len()));
    }
    true
}

/// The interrupted context's registers the walk needs.
struct Registers {
    pc: usize,
    /// Frame pointer (rbp / x29).
    fp: usize,
    /// Stack pointer.
    sp: usize,
    /// Link register (aarch64 x30: the return address of a leaf that has not saved it); 0 on
    /// x86-64, where the return address is on the stack.
    lr: usize,
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn registers(ucontext: *mut libc::c_void) -> Registers {
    let uc = ucontext as *const libc::ucontext_t;
    // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
    let gregs = unsafe { &(*uc).uc_mcontext.gregs };
    Registers {
        pc: gregs[libc::REG_RIP as usize] as usize,
        fp: gregs[libc::REG_RBP as usize] as usize,
        sp: gregs[libc::REG_RSP as usize] as usize,
        lr: 0,
    }
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn registers(ucontext: *mut libc::c_void) -> Registers {
    let uc = ucontext as *const libc::ucontext_t;
    // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
    let mc = unsafe { &(*uc).uc_mcontext };
    Registers {
        pc: mc.pc as usize,
        fp: mc.regs[29] as usize,
        sp: mc.sp as usize,
        lr: mc.regs[30] as usize,
    }
}

/// Most expirations one signal may stand for: beyond it the thread was descheduled for long,
/// and a huge weight on one stack would distort the profile more than the loss.
const MAX_WEIGHT: u32 = 64;

/// Timer expirations merged into this signal. POSIX CPU timers (`thread-timer`) are checked
/// only at the scheduler tick, so at `hz` above the tick rate one signal arrives for several
/// elapsed intervals and the kernel reports the rest as `si_overrun`; counting them restores
/// the CPU time the profile would otherwise miss (a 997 Hz thread-timer profile covered 35%).
fn timer_overrun(info: *const libc::siginfo_t) -> u32 {
    if info.is_null() {
        return 0;
    }
    // SAFETY: the kernel passes a valid siginfo; for SI_TIMER its union holds `_timer`:
    // `int si_tid; int si_overrun;` right after the three leading ints and their padding.
    unsafe {
        if (*info).si_code != libc::SI_TIMER {
            return 0;
        }
        let overrun = info
            .cast::<u8>()
            .add(20)
            .cast::<libc::c_int>()
            .read_unaligned();
        u32::try_from(overrun).unwrap_or(0)
    }
}

extern "C" fn on_sigprof(_: libc::c_int, info: *mut libc::siginfo_t, ucontext: *mut libc::c_void) {
    // SAFETY: errno is thread-local; we restore what the interrupted code saw.
    let errno = unsafe { *libc::__errno_location() };
    if ACTIVE.load(Ordering::Acquire) && !ucontext.is_null() {
        // SAFETY: ucontext comes from the kernel.
        let regs = unsafe { registers(ucontext) };
        SIGNALS.fetch_add(1, Ordering::Relaxed);
        let weight = (1 + timer_overrun(info)).min(MAX_WEIGHT);
        record(&regs, weight);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The return address out of a leaf interrupted in blocked code (no frame pointer of its
/// own), and the stack slot it was found in (0 for the link register).
fn leaf_return(regs: &Registers) -> Option<(usize, usize)> {
    if regs.lr != 0 && is_return_address(regs.lr) {
        return Some((regs.lr, 0));
    }
    let word = std::mem::size_of::<usize>();
    if regs.sp == 0 || regs.sp % word != 0 || !readable(regs.sp, LEAF_SCAN_WORDS * word) {
        return None;
    }
    (0..LEAF_SCAN_WORDS)
        .map(|i| regs.sp + i * word)
        // The caller's frame record lies above its return address (when rbp holds a frame
        // pointer at all: leaf code may use it as a scratch register).
        .take_while(|&slot| regs.fp <= regs.sp || slot < regs.fp)
        // SAFETY: the whole scanned window was proven readable.
        .map(|slot| (unsafe { (slot as *const usize).read() }, slot))
        .find(|&(ret, _)| in_code(ret) && is_return_address(ret))
}

/// Where the walk stands: a frame's pc and the registers that locate its caller.
#[derive(Clone, Copy)]
struct Frame {
    pc: usize,
    sp: usize,
    fp: usize,
}

/// The caller of `frame` per the unwind `row` covering its pc, if every address involved
/// checks out: readable stack words, a return address after a call, a stack that grows up.
fn caller_by_cfi(row: &crate::cfi::Row, frame: Frame) -> Option<Frame> {
    let word = std::mem::size_of::<usize>();
    let cfa = row.cfa(frame.sp, frame.fp)?;
    if cfa <= frame.sp || cfa % word != 0 {
        return None;
    }
    let read = |offset: i32| {
        let addr = cfa.checked_add_signed(offset as isize)?;
        // SAFETY: proven readable first.
        (addr >= frame.sp && readable(addr, word)).then(|| unsafe { (addr as *const usize).read() })
    };
    let pc = read(row.ra_offset)?;
    if !is_return_address(pc) {
        return None;
    }
    let fp = match row.fp_offset {
        Some(offset) => read(offset)?,
        None => frame.fp,
    };
    Some(Frame { pc, sp: cfa, fp })
}

/// Unwinds the blocked-code frames at the top of the stack by their unwind table, appending
/// each caller to `ips` from `depth` on. Returns the new depth and the first frame outside
/// blocked code (whose `fp` continues the frame-pointer walk), or `None` if the walk failed.
fn unwind_blocked(
    rows: &[crate::cfi::Row],
    mut frame: Frame,
    ips: &mut [usize; MAX_FRAMES],
    mut depth: usize,
) -> (usize, Option<Frame>) {
    let mut interrupted = true;
    while blocked(frame.pc) {
        if depth >= MAX_FRAMES {
            return (depth, None);
        }
        // A return address may be one past the end of its function (a call that never
        // returns); the interrupted pc is the instruction itself.
        let lookup = if interrupted { frame.pc } else { frame.pc - 1 };
        let Some(caller) = crate::cfi::find(rows, lookup).and_then(|row| caller_by_cfi(row, frame))
        else {
            return (depth, None);
        };
        ips[depth] = caller.pc;
        depth += 1;
        frame = caller;
        interrupted = false;
    }
    (depth, Some(frame))
}

fn record(regs: &Registers, weight: u32) {
    let (pc, mut fp) = (regs.pc, regs.fp);
    if pc == 0 {
        return;
    }
    let in_blocked_leaf = blocked(pc);
    let slot = &RING[NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS];
    if slot
        .state
        .compare_exchange(FREE, WRITING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        LOST.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: WRITING gives this handler exclusive access to the slot.
    let ips = unsafe { &mut *slot.ips.get() };
    // Every address is later symbolised as `addr - 1` (right for return addresses); +1 makes
    // the interrupted pc itself come out right, as Go does for the leaf.
    ips[0] = pc + 1;
    let mut depth = 1;
    let mut previous = 0usize;
    let word = std::mem::size_of::<usize>();
    let rows = crate::cfi::built();
    if in_blocked_leaf && !rows.is_empty() {
        let leaf = Frame {
            pc,
            sp: regs.sp,
            fp,
        };
        let (unwound, outside) = unwind_blocked(rows, leaf, ips, depth);
        depth = unwound;
        match outside {
            Some(frame) => {
                fp = frame.fp;
                // The caller's frame record lies at or above its stack pointer.
                previous = frame.sp.saturating_sub(1);
            }
            None => fp = 0,
        }
    } else if in_blocked_leaf {
        match leaf_return(regs) {
            Some((ret, slot)) => {
                ips[1] = ret;
                depth = 2;
                previous = slot;
            }
            // The leaf alone: better than dropping the sample's CPU time.
            None => fp = 0,
        }
    }
    while depth < MAX_FRAMES {
        // The chain must move up the stack, stay aligned and point at readable memory.
        if fp == 0 || fp % word != 0 || fp <= previous || !readable(fp, 2 * word) {
            break;
        }
        // SAFETY: just proven readable.
        let (next, ret) = unsafe {
            let record = fp as *const usize;
            (record.read(), record.add(1).read())
        };
        if ret == 0 || blocked(ret) || (in_blocked_leaf && !is_return_address(ret)) {
            break;
        }
        ips[depth] = ret;
        depth += 1;
        previous = fp;
        fp = next;
    }
    // SAFETY: still exclusive.
    unsafe {
        *slot.depth.get() = depth;
        *slot.labels.get() = crate::labels::current_id();
        *slot.weight.get() = weight;
    }
    slot.state.store(READY, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A call-free loop: the interrupted pc of its samples lies inside it.
    #[inline(never)]
    fn spin_leaf(deadline: Instant) -> u64 {
        let mut acc = 0_u64;
        while Instant::now() < deadline {
            for i in 0..100_000_u64 {
                acc = std::hint::black_box(acc ^ (i << 3));
            }
        }
        acc
    }

    /// Every sampling clock that can start here delivers samples whose leaf is the spinning
    /// function (one test, because only one profile may run at a time).
    #[test]
    fn every_clock_samples_the_interrupted_function() {
        let start_addr = spin_leaf as fn(Instant) -> u64 as usize;
        for clock in [None].into_iter().chain(Mechanism::ALL.map(Some)) {
            let mechanism = match start(199, clock) {
                Ok(m) => m,
                // perf needs root or perf_event_paranoid <= 1 and no seccomp filter against it.
                Err(e) if clock == Some(Mechanism::PerfTaskClock) => {
                    eprintln!("perf clock unavailable here ({e}); the others are tested");
                    continue;
                }
                Err(e) => panic!("{clock:?} failed to start: {e}"),
            };
            if let Some(asked) = clock {
                assert_eq!(mechanism, asked);
            }
            spin_leaf(Instant::now() + Duration::from_millis(600));
            stop();
            let mut counts = HashMap::new();
            drain(&mut counts);
            let in_leaf: i64 = counts
                .iter()
                .filter(|((stack, _), _)| {
                    stack
                        .first()
                        .is_some_and(|&pc| pc > start_addr && pc < start_addr + 4096)
                })
                .map(|(_, n)| n)
                .sum();
            assert!(
                in_leaf > 0,
                "{mechanism:?}: no sample with spin_leaf as leaf: {counts:?}"
            );
        }
    }
}
