//! `cpu-burn`: threads spinning on arithmetic. In a CPU flamegraph: a wide plateau of
//! `chaos::scenarios::cpu_burn::spin` on threads `chaos-cpu-burn-N`, beside the service's own
//! stacks (which get narrower as they lose the CPU).

use std::hint::black_box;

/// Burns roughly 50 microseconds of CPU (a few thousand rounds of an xorshift).
#[inline(never)]
pub fn spin() -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}
