//! `alloc-churn`: many short-lived allocations. In a CPU flamegraph: `churn` with wide
//! `malloc`/`free` (jemalloc `je_*`) children; in `/debug/pprof/allocs` a hot allocation site,
//! while `/debug/pprof/heap` (in use) stays flat: allocated and freed at once.

use std::hint::black_box;

/// Allocates `count` buffers of varied sizes (16 B to 4 KiB), touches each, drops it.
#[inline(never)]
pub fn churn(count: usize) -> usize {
    let mut total = 0;
    for i in 0..count {
        let len = 16 + (i * 97) % 4080;
        let mut buffer = black_box(vec![0u8; len]);
        buffer[len - 1] = 1;
        let text = black_box(format!("order-{i}"));
        total += buffer.len() + text.len();
    }
    total
}
