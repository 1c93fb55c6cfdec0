//! "No allocation per order on the hot path", checked with a counting global allocator: once
//! a book has reached its high-water mark (orders, levels) and the caller's event buffer has
//! grown, a further cycle of submits, fills, amends and cancels allocates nothing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use matching::{Command, OrderBook, Side, TimeInForce};

/// Counts allocations (and reallocations) made by threads that opted in, so the test
/// harness's own threads cannot disturb the count.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (const-initialised: no allocation).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One busy cycle with ids from `base`: 2000 resting orders over 100 levels a side, amends
/// that keep and lose priority, crossing orders that sweep levels, IOC, market, cancels.
fn cycle(base: u64) -> Vec<Command> {
    let mut cmds = Vec::new();
    for i in 0..2000u64 {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let price = match side {
            Side::Buy => 1000 - 10 * (i % 100),
            Side::Sell => 1010 + 10 * (i % 100),
        };
        cmds.push(limit(base + i, 1 + i % 7, side, price, 5 * (1 + i % 4)));
    }
    for i in (0..2000u64).step_by(5) {
        cmds.push(amend(base + i, 1 + i % 7, None, Some(5)));
    }
    for i in (1..2000u64).step_by(7) {
        let price = if i % 2 == 0 { 900 } else { 1500 };
        cmds.push(amend(base + i, 1 + i % 7, Some(price), None));
    }
    cmds.push(limit_tif(
        base + 5000,
        99,
        Side::Buy,
        1100,
        400,
        TimeInForce::Ioc,
    ));
    cmds.push(market(base + 5001, 99, Side::Sell, 400, TimeInForce::Ioc));
    cmds.push(limit(base + 5002, 99, Side::Buy, 1050, 300));
    for i in 0..2000u64 {
        cmds.push(cancel(base + i, 1 + i % 7));
    }
    cmds.push(cancel(base + 5002, 99));
    cmds
}

#[test]
fn steady_state_cycle_allocates_nothing() {
    COUNTED.with(|c| c.set(true));
    let mut book = OrderBook::new(SYM, instrument("TEST"));
    let mut events = Vec::new();
    let warm = cycle(0);
    let again = cycle(1_000_000);
    let start = ALLOCATIONS.load(Ordering::Relaxed);
    for cmd in &warm {
        book.execute(cmd, &mut events);
    }
    // The counter works: the event buffer grew while warming up.
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > start);
    assert!(book.last_trade_id() > 0, "the cycle should trade");
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for cmd in &again {
        events.clear();
        book.execute(cmd, &mut events);
    }
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocated, 0, "allocations during a warmed-up cycle");
    assert_eq!(book.open_orders(), 0);
}
