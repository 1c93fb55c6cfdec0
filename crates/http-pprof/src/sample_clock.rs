//! What makes SIGPROF fire during a CPU profile: one sampling clock per thread, each signalling
//! its own thread after every `interval` of that thread's CPU time.
//!
//! Three mechanisms, tried in this order (or one chosen in
//! [`PprofConfig::cpu_clock`](crate::PprofConfig::cpu_clock)):
//!
//! 1. `perf` — a `perf_event_open` task-clock event per thread (`PERF_COUNT_SW_TASK_CLOCK`,
//!    user and kernel time), signalling through `F_SETSIG`/`F_SETOWN_EX`. The kernel drives it
//!    with a high-resolution timer while the thread runs, so it samples at the asked rate
//!    whatever the thread's rhythm. Needs `perf_event_paranoid` <= 1 or CAP_PERFMON (root),
//!    and no seccomp filter against the syscall (Docker's default profile has one).
//! 2. `thread-timer` — `timer_create` on each thread's CPU clock with `SIGEV_THREAD_ID`, as Go
//!    does on Linux since 1.18. Those timers are checked only at the scheduler tick, so a
//!    workload that runs in short bursts in step with the tick escapes them: on the test VMs,
//!    one 6-second profile in four of trading-api under 1000 orders/s got 3 to 17 signals where
//!    2000 were due (`perf stat -e signal:signal_generate` agreed: the kernel never sent them).
//!    Above the tick rate, one signal stands for several elapsed intervals; the kernel says how
//!    many in `si_overrun`, and the sampler weights the sample by them.
//! 3. `process-timer` — `setitimer(ITIMER_PROF)`, process-wide, the last resort: the same tick
//!    problem, plus a signal that may land on any thread, an idle one included.
//!
//! Threads started during a profile get their clock at the next [`SampleClocks::follow`]
//! (the collector calls it every 50 ms); clocks of threads that have exited are released then.
//! A thread id reused within one such interval keeps the dead thread's (silent) clock until the
//! profile ends: a small loss, stated here rather than guarded against.

use std::collections::BTreeMap;

/// How the sampling signal is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Per-thread `perf_event_open` task-clock events (hrtimer-driven).
    PerfTaskClock,
    /// Per-thread POSIX CPU-time timers (tick-checked).
    ThreadCpuTimer,
    /// One process-wide `ITIMER_PROF` (tick-checked).
    ProcessTimer,
}

impl Mechanism {
    /// Every mechanism, in the order they are tried.
    pub const ALL: [Self; 3] = [
        Self::PerfTaskClock,
        Self::ThreadCpuTimer,
        Self::ProcessTimer,
    ];

    /// The name services accept (`--cpu-sampler`) and each profile's comments show.
    pub fn name(self) -> &'static str {
        match self {
            Self::PerfTaskClock => "perf",
            Self::ThreadCpuTimer => "thread-timer",
            Self::ProcessTimer => "process-timer",
        }
    }
}

impl std::str::FromStr for Mechanism {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                format!("unknown CPU sampler {name:?}; one of: {}", names.join(", "))
            })
    }
}

/// One thread's armed clock.
enum ThreadClock {
    Perf(libc::c_int),
    Timer(libc::timer_t),
}

impl ThreadClock {
    fn release(self) {
        // SAFETY: a descriptor / timer this module created and has not released.
        unsafe {
            match self {
                Self::Perf(fd) => {
                    libc::close(fd);
                }
                Self::Timer(timer) => {
                    libc::timer_delete(timer);
                }
            }
        }
    }
}

/// The clocks of the running profile.
pub struct SampleClocks {
    interval_ns: i64,
    mechanism: Mechanism,
    by_tid: BTreeMap<libc::pid_t, ThreadClock>,
}

// SAFETY: `timer_t` is a kernel timer id (pointer-sized in glibc's ABI), never dereferenced; it
// and the perf descriptors may be used and released from any thread of the process.
unsafe impl Send for SampleClocks {}

impl SampleClocks {
    /// Arms a clock on every current thread with `only`, or else with the first mechanism
    /// that works.
    pub fn start(interval_ns: i64, only: Option<Mechanism>) -> std::io::Result<Self> {
        let candidates = match only {
            Some(m) => vec![m],
            None => Mechanism::ALL.to_vec(),
        };
        let mut last_error = std::io::Error::other("no sampling mechanism");
        for mechanism in candidates {
            let mut clocks = Self {
                interval_ns,
                mechanism,
                by_tid: BTreeMap::new(),
            };
            if mechanism == Mechanism::ProcessTimer {
                match set_process_timer(interval_ns / 1000) {
                    Ok(()) => return Ok(clocks),
                    Err(e) => last_error = e,
                }
                continue;
            }
            // SAFETY: gettid has no preconditions.
            let me = unsafe { libc::gettid() };
            match clocks.arm(me) {
                Ok(clock) => {
                    clocks.by_tid.insert(me, clock);
                    clocks.follow();
                    return Ok(clocks);
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Arms clocks on threads started since the last call, releases those of exited threads.
    pub fn follow(&mut self) {
        if self.mechanism == Mechanism::ProcessTimer {
            return;
        }
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        let live: Vec<libc::pid_t> = tasks
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        let gone: Vec<libc::pid_t> = self
            .by_tid
            .keys()
            .filter(|tid| !live.contains(tid))
            .copied()
            .collect();
        for tid in gone {
            if let Some(clock) = self.by_tid.remove(&tid) {
                clock.release();
            }
        }
        for tid in live {
            if self.by_tid.contains_key(&tid) {
                continue;
            }
            // A thread that exited since the directory was read cannot be armed; skip it.
            if let Ok(clock) = self.arm(tid) {
                self.by_tid.insert(tid, clock);
            }
        }
    }

    /// Stops and releases every clock.
    pub fn stop(mut self) {
        if self.mechanism == Mechanism::ProcessTimer {
            let _ = set_process_timer(0);
        }
        for (_, clock) in std::mem::take(&mut self.by_tid) {
            clock.release();
        }
    }

    fn arm(&self, tid: libc::pid_t) -> std::io::Result<ThreadClock> {
        match self.mechanism {
            Mechanism::PerfTaskClock => arm_perf_task_clock(tid, self.interval_ns),
            Mechanism::ThreadCpuTimer => arm_thread_cpu_timer(tid, self.interval_ns),
            Mechanism::ProcessTimer => Err(std::io::Error::other("process-wide")),
        }
    }
}

/// `struct perf_event_attr` up to `config1` (`PERF_ATTR_SIZE_VER0`, 64 bytes): the kernel
/// accepts this first published size, and nothing past it is needed here.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;
/// `flags` bits: `disabled` (armed by the refresh below), `exclude_hv`.
const PERF_FLAG_DISABLED: u64 = 1 << 0;
const PERF_FLAG_EXCLUDE_HV: u64 = 1 << 6;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
/// `_IO('$', 2)`: enable for N more overflows, each signalled.
const PERF_EVENT_IOC_REFRESH: libc::c_ulong = 0x2402;
/// Overflows allowed before the event disables itself: days at 1 kHz.
const PERF_OVERFLOWS: libc::c_int = 1 << 30;
/// `fcntl` commands and owner type glibc's headers have but the libc crate lacks for gnu targets
/// (the same numbers on x86-64 and aarch64).
const F_SETSIG: libc::c_int = 10;
const F_SETOWN_EX: libc::c_int = 15;
const F_OWNER_TID: libc::c_int = 0;

#[repr(C)]
struct FOwnerEx {
    kind: libc::c_int,
    pid: libc::pid_t,
}

/// A task-clock event on `tid` that sends SIGPROF to `tid` every `interval_ns` of its CPU time.
fn arm_perf_task_clock(tid: libc::pid_t, interval_ns: i64) -> std::io::Result<ThreadClock> {
    let attr = PerfEventAttr {
        kind: PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: PERF_COUNT_SW_TASK_CLOCK,
        sample_period: interval_ns.max(1) as u64,
        flags: PERF_FLAG_DISABLED | PERF_FLAG_EXCLUDE_HV,
        wakeup_events: 1,
        ..PerfEventAttr::default()
    };
    let last_error = std::io::Error::last_os_error;
    // SAFETY: perf_event_open reads `attr` (size given inside); the returned descriptor is ours.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            tid,
            -1 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_error());
    }
    let fd = fd as libc::c_int;
    let owner = FOwnerEx {
        kind: F_OWNER_TID,
        pid: tid,
    };
    // SAFETY: fcntl/ioctl on the descriptor just opened; `owner` outlives the call.
    let armed = unsafe {
        libc::fcntl(fd, libc::F_SETFL, libc::O_ASYNC) == 0
            && libc::fcntl(fd, F_SETSIG, libc::SIGPROF) == 0
            && libc::fcntl(fd, F_SETOWN_EX, &owner as *const FOwnerEx) == 0
            && libc::ioctl(fd, PERF_EVENT_IOC_REFRESH, PERF_OVERFLOWS) == 0
    };
    if !armed {
        let error = last_error();
        // SAFETY: ours, not yet handed out.
        unsafe { libc::close(fd) };
        return Err(error);
    }
    Ok(ThreadClock::Perf(fd))
}

/// Linux's clock id for thread `tid`'s CPU time (`MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)`:
/// the inverted id shifted left by 3, the per-thread bit 4, the scheduler-clock type 2), the
/// value `pthread_getcpuclockid` gives, for threads known only by id.
fn thread_cpu_clock(tid: libc::pid_t) -> libc::clockid_t {
    ((!tid) << 3) | 4 | 2
}

/// A periodic timer on `tid`'s CPU clock whose SIGPROF goes to `tid` itself.
fn arm_thread_cpu_timer(tid: libc::pid_t, interval_ns: i64) -> std::io::Result<ThreadClock> {
    // SAFETY: zeroed sigevent then filled; timer_create writes the id on success.
    unsafe {
        let mut event: libc::sigevent = std::mem::zeroed();
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = libc::SIGPROF;
        event.sigev_notify_thread_id = tid;
        let mut timer: libc::timer_t = std::mem::zeroed();
        if libc::timer_create(thread_cpu_clock(tid), &mut event, &mut timer) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let period = libc::timespec {
            tv_sec: (interval_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (interval_ns % 1_000_000_000) as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: period,
            it_value: period,
        };
        if libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) != 0 {
            let error = std::io::Error::last_os_error();
            libc::timer_delete(timer);
            return Err(error);
        }
        Ok(ThreadClock::Timer(timer))
    }
}

/// The process-wide fallback: `ITIMER_PROF` every `interval_us` (0 stops it).
fn set_process_timer(interval_us: i64) -> std::io::Result<()> {
    let tv = libc::timeval {
        tv_sec: (interval_us / 1_000_000) as libc::time_t,
        tv_usec: (interval_us % 1_000_000) as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: plain syscall with a valid itimerval.
    if unsafe { libc::setitimer(libc::ITIMER_PROF, &timer, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
