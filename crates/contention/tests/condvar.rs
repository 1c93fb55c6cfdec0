//! The profiled `Condvar`: it must behave as a condition variable (no lost wakeups under a
//! ping-pong stress) and its waits must land in the block profile at the waiter's stack.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use contention::{Condvar, Mutex};

struct Slot {
    lock: Mutex<(u64, bool)>,
    cv: Condvar,
}

/// Waits until the flag is set, clears it; a named frame for the block profile.
#[inline(never)]
fn wait_for_flag(slot: &Slot) {
    let mut st = slot.lock.lock();
    while !st.1 {
        slot.cv.wait(&mut st);
    }
    st.1 = false;
}

#[test]
fn ping_pong_loses_no_wakeup_and_waits_are_in_the_block_profile() {
    contention::set_block_profile_rate(1);
    let slot = Arc::new(Slot {
        lock: Mutex::new((0, false)),
        cv: Condvar::new(),
    });
    // Stress: 2000 hand-offs; a lost wakeup would hang, so the waiter uses a timed wait and
    // counts how often it had to rely on the timeout.
    let rounds = 2000;
    let waiter = {
        let slot = Arc::clone(&slot);
        std::thread::spawn(move || {
            let mut timeouts = 0;
            for _ in 0..rounds {
                let mut st = slot.lock.lock();
                while !st.1 {
                    if slot
                        .cv
                        .wait_for(&mut st, Duration::from_secs(2))
                        .timed_out()
                    {
                        timeouts += 1;
                    }
                }
                st.1 = false;
                st.0 += 1;
                slot.cv.notify_one();
            }
            timeouts
        })
    };
    for _ in 0..rounds {
        let mut st = slot.lock.lock();
        st.1 = true;
        slot.cv.notify_one();
        while st.1 {
            slot.cv.wait(&mut st);
        }
    }
    assert_eq!(waiter.join().unwrap(), 0, "a wakeup was lost");
    assert_eq!(slot.lock.lock().0, rounds);

    // A 50 ms wait for a notification, at the waiter's own stack.
    let notifier = {
        let slot = Arc::clone(&slot);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            slot.lock.lock().1 = true;
            slot.cv.notify_all();
        })
    };
    let started = Instant::now();
    wait_for_flag(&slot);
    assert!(started.elapsed() >= Duration::from_millis(45));
    notifier.join().unwrap();
    let start = wait_for_flag as fn(&Slot) as usize;
    let waited: u64 = contention::block_profile()
        .snapshot()
        .records
        .iter()
        .filter(|(stack, _)| {
            stack
                .ips()
                .iter()
                .take(6)
                .any(|&ip| ip > start && ip < start + 4096)
        })
        .map(|(_, r)| r.delay_ns)
        .sum();
    assert!(
        waited >= 45_000_000,
        "block delay at wait_for_flag: {waited} ns"
    );
}
