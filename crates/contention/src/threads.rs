//! Thread creation stacks for Go's `threadcreate` profile.
//!
//! Go records, for every OS thread the runtime creates, the stack of the code that caused it.
//! Rust has no hook at thread creation, so on Linux/glibc this module *interposes*
//! `pthread_create`: the executable defines the symbol, so every thread creation linked into it
//! (std's `thread::spawn`, tokio's worker and blocking-pool threads, C libraries linked
//! statically) calls [`pthread_create`] below, which records the creator's frame-pointer stack
//! and then calls glibc's real function, found once with `dlsym(RTLD_NEXT, ...)`. Threads are
//! created on ordinary (non-signal) code paths, so recording may allocate and lock.
//!
//! What it cannot see: threads created by shared libraries that bind `pthread_create` to libc
//! directly (we link none that create threads), and the main thread, which nobody creates. If
//! the real function cannot be found the call fails with `EAGAIN`, as if out of resources,
//! rather than crash.
//!
//! The interposer is only linked into a program that uses this module (as
//! [`threadcreate_profile`] does), which keeps the link honest: the object that defines it is
//! pulled in by that reference.

use crate::profile::ContentionProfile;

/// Every successful thread creation since start, per creating stack (delays unused: 0).
static THREADCREATE_PROFILE: ContentionProfile = ContentionProfile::new(1);

/// The process-wide threadcreate profile: one event per thread created, at its creator's stack.
pub fn threadcreate_profile() -> &'static ContentionProfile {
    // Referencing the interposer keeps its object file in the link (see the module doc).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::hint::black_box(interpose::pthread_create as *const () as usize);
    &THREADCREATE_PROFILE
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod interpose {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use libc::{c_int, c_void, pthread_attr_t, pthread_t};

    use crate::stack::RawStack;

    type StartRoutine = Option<extern "C" fn(*mut c_void) -> *mut c_void>;
    type PthreadCreate = unsafe extern "C" fn(
        *mut pthread_t,
        *const pthread_attr_t,
        StartRoutine,
        *mut c_void,
    ) -> c_int;

    /// glibc's `pthread_create`, looked up on first use (0: not yet).
    static REAL: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// Set while this thread records a creation, so a thread created by the recording
        /// itself (it never does today) is not recorded recursively.
        static RECORDING: Cell<bool> = const { Cell::new(false) };
    }

    fn real() -> Option<PthreadCreate> {
        let mut addr = REAL.load(Ordering::Acquire);
        if addr == 0 {
            // SAFETY: dlsym with a valid NUL-terminated name; RTLD_NEXT finds the next
            // definition after this object, i.e. glibc's.
            addr = unsafe { libc::dlsym(libc::RTLD_NEXT, c"pthread_create".as_ptr()) } as usize;
            // Never call ourselves: that would recurse forever.
            if addr == 0 || addr == pthread_create as *const () as usize {
                return None;
            }
            REAL.store(addr, Ordering::Release);
        }
        // SAFETY: `addr` is glibc's pthread_create, whose signature PthreadCreate matches.
        Some(unsafe { std::mem::transmute::<usize, PthreadCreate>(addr) })
    }

    /// The interposed `pthread_create`: creates the thread with glibc's, then records the
    /// creator's stack in the threadcreate profile.
    ///
    /// # Safety
    /// Same contract as glibc's `pthread_create`.
    #[no_mangle]
    pub unsafe extern "C" fn pthread_create(
        thread: *mut pthread_t,
        attr: *const pthread_attr_t,
        start: StartRoutine,
        arg: *mut c_void,
    ) -> c_int {
        let Some(real) = real() else {
            return libc::EAGAIN;
        };
        // SAFETY: the caller's arguments are passed through unchanged.
        let rc = unsafe { real(thread, attr, start, arg) };
        if rc == 0 {
            record_creation();
        }
        rc
    }

    #[inline(never)]
    fn record_creation() {
        let first = RECORDING.try_with(|r| !r.replace(true)).unwrap_or(false);
        if !first {
            return;
        }
        super::THREADCREATE_PROFILE.record_weighted(RawStack::capture(), 1.0, 0);
        let _ = RECORDING.try_with(|r| r.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn spawn_one() -> usize {
        std::thread::spawn(|| ()).join().expect("thread panicked");
        spawn_one as fn() -> usize as usize
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn spawned_threads_are_counted_at_their_creators_stack() {
        let count = |start: usize| -> u64 {
            threadcreate_profile()
                .snapshot()
                .records
                .iter()
                .filter(|(stack, _)| {
                    stack
                        .ips()
                        .iter()
                        .any(|&ip| ip > start && ip < start + 4096)
                })
                .map(|(_, r)| r.count)
                .sum()
        };
        let start = spawn_one as fn() -> usize as usize;
        let before = count(start);
        for _ in 0..3 {
            spawn_one();
        }
        assert_eq!(count(start) - before, 3);
    }
}
