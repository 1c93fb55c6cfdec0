//! `memory-leak`: the heap grows at a set rate and is freed when the fault ends. In
//! `/debug/pprof/heap` (inuse_space): a growing share under `chaos::scenarios::memory_leak::leak_chunk`;
//! in the process RSS and `process_resident_memory_bytes`: a ramp, then a cliff at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::scenario::MemoryLeakParams;

/// How often the leak grows: ten steps a second make a smooth ramp.
const TICK: Duration = Duration::from_millis(100);

/// Allocates `bytes` and writes every page, so the memory is resident, not just reserved.
#[inline(never)]
pub fn leak_chunk(bytes: usize) -> Box<[u8]> {
    let mut chunk = vec![0u8; bytes].into_boxed_slice();
    for page in chunk.chunks_mut(4096) {
        page[0] = 0xA5;
    }
    chunk
}

/// Grows the leak until `stop` fires, then frees it; `leaked` tracks the bytes held.
pub async fn run(params: MemoryLeakParams, stop: CancellationToken, leaked: Arc<AtomicU64>) {
    let per_tick = (params.bytes_per_sec / 10).max(1);
    let mut held: Vec<Box<[u8]>> = Vec::new();
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let current = leaked.load(Ordering::Relaxed);
        let room = params.max_bytes.saturating_sub(current);
        let bytes = per_tick.min(room);
        if bytes == 0 {
            continue;
        }
        let Ok(len) = usize::try_from(bytes) else {
            continue;
        };
        held.push(leak_chunk(len));
        leaked.fetch_add(bytes, Ordering::Relaxed);
    }
    drop(held);
    leaked.store(0, Ordering::Relaxed);
}
