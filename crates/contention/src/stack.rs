//! Capture of the current thread's call stack as raw return addresses.
//!
//! Walking the frame-pointer chain costs a few loads per frame and takes no lock, so it is cheap
//! enough to run on a contended lock path. Symbolisation (turning addresses into names) is left to
//! whoever reads the profile, once per distinct address. Requires code built with
//! `-C force-frame-pointers=yes`; frames without a frame pointer end the walk early.

/// Deepest stack kept, like Go's `maxStack` (deeper frames are dropped from the root side).
pub const MAX_DEPTH: usize = 64;

/// A call stack as return addresses, innermost (the caller of [`RawStack::capture`]) first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct RawStack {
    /// Return addresses; each points just after a call instruction, as in Go's stack records.
    ips: Vec<usize>,
}

impl RawStack {
    /// Builds a stack from addresses obtained elsewhere (innermost first).
    pub fn from_ips(ips: Vec<usize>) -> Self {
        Self { ips }
    }

    /// The return addresses, innermost first.
    pub fn ips(&self) -> &[usize] {
        &self.ips
    }

    /// Captures the stack of the calling function: the first address is the return address into
    /// the caller of `capture`.
    #[inline(never)]
    pub fn capture() -> Self {
        let mut ips = Vec::with_capacity(16);
        // The frame pointer is read here, in `capture`'s own frame, so the first return address
        // of the walk is the one into our caller.
        #[cfg(all(
            target_os = "linux",
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        walk_frame_pointers(current_frame_pointer(), &mut ips);
        Self { ips }
    }
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn walk_frame_pointers(mut fp: usize, ips: &mut Vec<usize>) {
    let (low, high) = thread_stack_bounds();
    if low == 0 {
        return;
    }
    // Each frame record is [saved caller frame pointer, return address]; the chain grows towards
    // higher addresses. Every dereference is checked against this thread's stack bounds, so a
    // frame compiled without frame pointers ends the walk instead of faulting.
    while ips.len() < MAX_DEPTH {
        if fp < low || fp + 2 * size_of::<usize>() > high || fp % align_of::<usize>() != 0 {
            break;
        }
        // SAFETY: `fp` is aligned and the two words lie inside this thread's mapped stack.
        let (next, ret) = unsafe {
            let record = fp as *const usize;
            (record.read(), record.add(1).read())
        };
        if ret == 0 {
            break;
        }
        ips.push(ret);
        if next <= fp {
            break;
        }
        fp = next;
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[inline(always)]
fn current_frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register, no memory access.
    unsafe {
        std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    fp
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
#[inline(always)]
fn current_frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register, no memory access.
    unsafe {
        std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    fp
}

/// This thread's stack as `[low, high)`, looked up once per thread (it allocates, so never from
/// a signal handler; we only call it from ordinary code).
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn thread_stack_bounds() -> (usize, usize) {
    use std::cell::Cell;
    thread_local! {
        static BOUNDS: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    }
    BOUNDS.with(|bounds| {
        if let Some(known) = bounds.get() {
            return known;
        }
        let found = query_stack_bounds().unwrap_or((0, 0));
        bounds.set(Some(found));
        found
    })
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn query_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: plain pthread queries on the current thread with a locally owned attr object,
    // destroyed before returning.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 || addr.is_null() {
            return None;
        }
        Some((addr as usize, addr as usize + size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn capture_here() -> (RawStack, usize) {
        (
            RawStack::capture(),
            capture_here as fn() -> (RawStack, usize) as usize,
        )
    }

    #[test]
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    fn capture_starts_in_the_caller_and_walks_outwards() {
        let (stack, caller_start) = capture_here();
        assert!(stack.ips().len() >= 2, "stack too short: {:?}", stack);
        let first = stack.ips()[0];
        // The first return address lies inside `capture_here` (a small function).
        assert!(
            first > caller_start && first < caller_start + 4096,
            "first ip {first:#x} not in caller starting at {caller_start:#x}"
        );
    }
}
