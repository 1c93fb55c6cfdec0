//! Property test: the engine against the reference book in `common/reference.rs` on random
//! command sequences. Events must be identical, final books identical, and after every command
//! the book must be uncrossed, structurally sound, and conserve quantity.

mod common;

use common::reference::RefBook;
use common::*;
use matching::{
    Command, DoneReason, Event, NewOrder, OrderBook, OrderType, Price, Qty, Side, TimeInForce,
};
use proptest::prelude::*;

/// A command in small integers; `to_command` turns it into a real one. Prices cluster on
/// 10 ticks around 1000 so orders cross often; accounts are few so STP happens.
#[derive(Debug, Clone)]
enum Raw {
    Submit {
        side: bool,
        kind: u8,
        tick: u64,
        lots: u64,
        account: u64,
        reuse_id: Option<u64>,
    },
    Cancel {
        target: u64,
        account: u64,
    },
    Amend {
        target: u64,
        account: u64,
        tick: Option<u64>,
        lots: Option<u64>,
    },
}

fn raw() -> impl Strategy<Value = Raw> {
    raw_over(12, 6)
}

/// Commands with price ticks in `0..ticks` and submits weighted `submit_weight` to 2 cancels
/// and 2 amends.
fn raw_over(ticks: u64, submit_weight: u32) -> impl Strategy<Value = Raw> {
    prop_oneof![
        submit_weight => (any::<bool>(), 0u8..10, 0u64..ticks, 0u64..12, 1u64..4, prop::option::weighted(0.05, 0u64..40))
            .prop_map(|(side, kind, tick, lots, account, reuse_id)| Raw::Submit { side, kind, tick, lots, account, reuse_id }),
        2 => (0u64..60, 1u64..4).prop_map(|(target, account)| Raw::Cancel { target, account }),
        2 => (0u64..60, 1u64..4, prop::option::of(0u64..ticks), prop::option::of(0u64..12))
            .prop_map(|(target, account, tick, lots)| Raw::Amend { target, account, tick, lots }),
    ]
}

/// Price for a tick index; index 11 is deliberately off-tick.
fn price_of(tick: u64) -> u64 {
    if tick == 11 {
        1003
    } else {
        950 + tick * 10
    }
}

/// Quantity for a lot count; 11 is deliberately off-lot, 0 is zero.
fn qty_of(lots: u64) -> u64 {
    if lots == 11 {
        7
    } else {
        lots * 5
    }
}

fn to_command(raw: &Raw, next_id: &mut u64) -> Command {
    match *raw {
        Raw::Submit {
            side,
            kind,
            tick,
            lots,
            account,
            reuse_id,
        } => {
            let order_id = reuse_id.unwrap_or_else(|| {
                *next_id += 1;
                *next_id
            });
            let side = if side { Side::Buy } else { Side::Sell };
            let (order_type, tif, post_only, price) = match kind {
                0..=3 => (
                    OrderType::Limit,
                    TimeInForce::Gtc,
                    false,
                    Some(price_of(tick)),
                ),
                4 => (
                    OrderType::Limit,
                    TimeInForce::Ioc,
                    false,
                    Some(price_of(tick)),
                ),
                5 => (
                    OrderType::Limit,
                    TimeInForce::Fok,
                    false,
                    Some(price_of(tick)),
                ),
                6 => (
                    OrderType::Limit,
                    TimeInForce::Gtc,
                    true,
                    Some(price_of(tick)),
                ),
                7 => (OrderType::Market, TimeInForce::Ioc, false, None),
                8 => (OrderType::Market, TimeInForce::Fok, false, None),
                // Malformed on purpose: market with a price, or post-only IOC.
                _ => (
                    OrderType::Market,
                    TimeInForce::Gtc,
                    tick % 2 == 0,
                    Some(price_of(tick)),
                ),
            };
            Command::Submit(NewOrder {
                order_id,
                account,
                symbol: SYM,
                side,
                order_type,
                price: price.map(Price),
                qty: Qty(qty_of(lots)),
                time_in_force: tif,
                post_only,
            })
        }
        Raw::Cancel { target, account } => cancel(target, account),
        Raw::Amend {
            target,
            account,
            tick,
            lots,
        } => amend(target, account, tick.map(price_of), lots.map(qty_of)),
    }
}

/// Net quantity the command added to the book's obligations, from its events: accepted orders
/// add their size, amends add the change of open quantity; fills (counted twice: maker and
/// taker), and every `Done` remainder take away.
fn flows(cmd: &Command, before_open: Option<u64>, events: &[Event]) -> (i128, i128) {
    let mut added = 0i128;
    let mut removed = 0i128;
    for e in events {
        match e {
            Event::Accepted { .. } => {
                if let Command::Submit(o) = cmd {
                    added += i128::from(o.qty.0);
                }
            }
            Event::Amended { remaining, .. } => {
                added += i128::from(remaining.0) - i128::from(before_open.unwrap_or(0));
            }
            Event::Fill { qty, .. } => removed += 2 * i128::from(qty.0),
            Event::Done {
                reason, remaining, ..
            } => {
                if *reason == DoneReason::Filled {
                    assert_eq!(remaining.0, 0);
                }
                removed += i128::from(remaining.0);
            }
            _ => {}
        }
    }
    (added, removed)
}

fn run(cmds: &[Raw]) {
    let mut book = OrderBook::new(SYM, instrument("TEST"));
    let mut reference = RefBook::new(SYM, instrument("TEST"));
    let mut next_id = 0;
    let (mut added, mut removed) = (0i128, 0i128);
    let mut events = Vec::new();
    let mut expected = Vec::new();
    for raw in cmds {
        let cmd = to_command(raw, &mut next_id);
        let before_open = book.order(cmd.order_id()).map(|o| o.remaining.0);
        let digest_before = book.digest();
        events.clear();
        expected.clear();
        book.execute(&cmd, &mut events);
        reference.execute(&cmd, &mut expected);
        assert_eq!(events, expected, "events differ for {cmd:?}");
        assert!(!events.is_empty(), "no event for {cmd:?}");
        if matches!(events[0], Event::Rejected { .. }) {
            assert_eq!(events.len(), 1);
            assert_eq!(
                book.digest(),
                digest_before,
                "rejected {cmd:?} changed the book"
            );
        }
        let (a, r) = flows(&cmd, before_open, &events);
        added += a;
        removed += r;
        let resting = check_invariants(&book);
        assert_eq!(
            added,
            removed + i128::from(resting),
            "quantity not conserved after {cmd:?}"
        );
        // Fill prices never get worse for the taker within one command... only better-first.
        let fills: Vec<(Side, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Fill {
                    taker_side, price, ..
                } => Some((*taker_side, price.0)),
                _ => None,
            })
            .collect();
        for w in fills.windows(2) {
            match w[0].0 {
                Side::Buy => assert!(w[0].1 <= w[1].1, "buy fills out of price order"),
                Side::Sell => assert!(w[0].1 >= w[1].1, "sell fills out of price order"),
            }
        }
    }
    let reference_snapshot: Vec<_> = [Side::Buy, Side::Sell]
        .into_iter()
        .flat_map(|side| reference.side_orders(side))
        .map(|o| (o.side, o.id, o.account, o.price, o.remaining, o.original))
        .collect();
    assert_eq!(snapshot(&book), reference_snapshot);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_reference(cmds in prop::collection::vec(raw(), 1..200)) {
        run(&cmds);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// A deep book (up to 400 prices) where levels empty away from the touch and are reused
    /// or swept; cancels/amends aim at the first 60 ids, so many target live orders.
    #[test]
    fn engine_matches_reference_on_deep_books(cmds in prop::collection::vec(raw_over(400, 3), 1..400)) {
        run(&cmds);
    }
}
