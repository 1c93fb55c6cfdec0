//! One test per rule of the book: each order type, the edges of validation, cancel, amend and
//! self-trade prevention, with exact expected events.

mod common;

use common::*;
use matching::{
    Command, DoneReason, Event, NewOrder, OrderBook, OrderType, Price, Qty, RejectReason, Side,
    SymbolId, TimeInForce,
};

fn book() -> OrderBook {
    OrderBook::new(SYM, instrument("TEST"))
}

fn run(book: &mut OrderBook, cmd: Command) -> Vec<Event> {
    let mut events = Vec::new();
    book.execute(&cmd, &mut events);
    check_invariants(book);
    events
}

fn accepted(id: u64) -> Event {
    Event::Accepted {
        order_id: id,
        symbol: SYM,
    }
}

fn rejected(id: u64, reason: RejectReason) -> Event {
    Event::Rejected {
        order_id: id,
        symbol: SYM,
        reason,
    }
}

fn done(id: u64, reason: DoneReason, remaining: u64) -> Event {
    Event::Done {
        order_id: id,
        symbol: SYM,
        reason,
        remaining: Qty(remaining),
    }
}

fn level(side: Side, price: u64, total: u64, count: u32) -> Event {
    Event::LevelChanged {
        symbol: SYM,
        side,
        price: Price(price),
        total: Qty(total),
        order_count: count,
    }
}

#[allow(clippy::too_many_arguments)]
fn fill(
    trade_id: u64,
    maker: (u64, u64),
    taker: (u64, u64),
    taker_side: Side,
    price: u64,
    qty: u64,
) -> Event {
    Event::Fill {
        symbol: SYM,
        trade_id,
        maker_order_id: maker.0,
        maker_account: maker.1,
        taker_order_id: taker.0,
        taker_account: taker.1,
        taker_side,
        price: Price(price),
        qty: Qty(qty),
    }
}

/// Asks: 1010 x 10 (id 1), 1010 x 5 (id 2), 1020 x 20 (id 3), all account 1.
fn with_asks() -> OrderBook {
    let mut b = book();
    run(&mut b, limit(1, 1, Side::Sell, 1010, 10));
    run(&mut b, limit(2, 1, Side::Sell, 1010, 5));
    run(&mut b, limit(3, 1, Side::Sell, 1020, 20));
    b
}

#[test]
fn gtc_limit_rests_and_reports_its_level() {
    let mut b = book();
    let ev = run(&mut b, limit(1, 7, Side::Buy, 1000, 10));
    assert_eq!(ev, vec![accepted(1), level(Side::Buy, 1000, 10, 1)]);
    assert_eq!(b.best_bid(), Some((Price(1000), Qty(10))));
    assert_eq!(b.best_ask(), None);
    let o = b.order(1).expect("resting");
    assert_eq!((o.account, o.remaining, o.original), (7, Qty(10), Qty(10)));
}

#[test]
fn partial_fill_across_levels_at_maker_prices_in_time_order() {
    let mut b = with_asks();
    let ev = run(&mut b, limit(10, 2, Side::Buy, 1020, 25));
    assert_eq!(
        ev,
        vec![
            accepted(10),
            fill(1, (1, 1), (10, 2), Side::Buy, 1010, 10),
            done(1, DoneReason::Filled, 0),
            fill(2, (2, 1), (10, 2), Side::Buy, 1010, 5),
            done(2, DoneReason::Filled, 0),
            level(Side::Sell, 1010, 0, 0),
            fill(3, (3, 1), (10, 2), Side::Buy, 1020, 10),
            level(Side::Sell, 1020, 10, 1),
            done(10, DoneReason::Filled, 0),
        ]
    );
    assert_eq!(b.order(3).map(|o| o.remaining), Some(Qty(10)));
    assert_eq!(b.best_ask(), Some((Price(1020), Qty(10))));
    assert_eq!(b.last_trade_id(), 3);
}

#[test]
fn gtc_remainder_rests_after_taking() {
    let mut b = with_asks();
    let ev = run(&mut b, limit(10, 2, Side::Buy, 1010, 20));
    assert_eq!(ev.last(), Some(&level(Side::Buy, 1010, 5, 1)));
    assert_eq!(b.best_bid(), Some((Price(1010), Qty(5))));
    assert_eq!(b.best_ask(), Some((Price(1020), Qty(20))));
}

#[test]
fn ioc_remainder_expires() {
    let mut b = with_asks();
    let ev = run(
        &mut b,
        limit_tif(10, 2, Side::Buy, 1010, 20, TimeInForce::Ioc),
    );
    assert_eq!(ev.last(), Some(&done(10, DoneReason::Expired, 5)));
    assert_eq!(b.best_bid(), None);
    assert_eq!(b.open_orders(), 1);
}

#[test]
fn fok_that_cannot_fill_is_rejected_and_book_untouched() {
    let mut b = with_asks();
    let digest = b.digest();
    let ev = run(
        &mut b,
        limit_tif(10, 2, Side::Buy, 1010, 20, TimeInForce::Fok),
    );
    assert_eq!(ev, vec![rejected(10, RejectReason::CannotFillCompletely)]);
    assert_eq!(b.digest(), digest);
    // Within 1020 there is 35: fills completely.
    let ev = run(
        &mut b,
        limit_tif(11, 2, Side::Buy, 1020, 35, TimeInForce::Fok),
    );
    assert_eq!(ev.last(), Some(&done(11, DoneReason::Filled, 0)));
    assert_eq!(b.open_orders(), 0);
}

#[test]
fn fok_does_not_count_own_liquidity() {
    let mut b = with_asks();
    // Account 1 owns everything: nothing is fillable for it.
    let ev = run(
        &mut b,
        limit_tif(10, 1, Side::Buy, 1020, 5, TimeInForce::Fok),
    );
    assert_eq!(ev, vec![rejected(10, RejectReason::CannotFillCompletely)]);
}

#[test]
fn post_only_that_would_cross_is_rejected() {
    let mut b = with_asks();
    let digest = b.digest();
    let ev = run(&mut b, post_only(10, 2, Side::Buy, 1010, 5));
    assert_eq!(ev, vec![rejected(10, RejectReason::WouldTakeLiquidity)]);
    assert_eq!(b.digest(), digest);
    let ev = run(&mut b, post_only(11, 2, Side::Buy, 1000, 5));
    assert_eq!(ev, vec![accepted(11), level(Side::Buy, 1000, 5, 1)]);
    assert!(b.order(11).expect("rests").post_only);
}

#[test]
fn post_only_requires_gtc_limit() {
    let mut b = book();
    let mut cmd = post_only(1, 1, Side::Buy, 1000, 5);
    if let Command::Submit(o) = &mut cmd {
        o.time_in_force = TimeInForce::Ioc;
    }
    assert_eq!(
        run(&mut b, cmd),
        vec![rejected(1, RejectReason::InvalidTimeInForce)]
    );
}

#[test]
fn market_against_empty_book_is_no_liquidity() {
    let mut b = book();
    let ev = run(&mut b, market(1, 1, Side::Buy, 5, TimeInForce::Ioc));
    assert_eq!(ev, vec![rejected(1, RejectReason::NoLiquidity)]);
}

#[test]
fn market_against_thin_book_fills_what_is_there_and_expires_rest() {
    let mut b = with_asks();
    let ev = run(&mut b, market(10, 2, Side::Buy, 100, TimeInForce::Gtc));
    assert_eq!(ev.first(), Some(&accepted(10)));
    assert_eq!(ev.last(), Some(&done(10, DoneReason::Expired, 65)));
    assert_eq!(b.open_orders(), 0);
}

#[test]
fn market_stops_at_protection_band() {
    let mut b = book();
    run(&mut b, limit(1, 1, Side::Buy, 1000, 10));
    // 5% band from 1000: a market sell trades down to 950, not 940.
    run(&mut b, limit(2, 1, Side::Buy, 950, 10));
    run(&mut b, limit(3, 1, Side::Buy, 940, 10));
    let ev = run(&mut b, market(10, 2, Side::Sell, 30, TimeInForce::Ioc));
    let traded: u64 = ev
        .iter()
        .map(|e| match e {
            Event::Fill { qty, .. } => qty.0,
            _ => 0,
        })
        .sum();
    assert_eq!(traded, 20);
    assert_eq!(ev.last(), Some(&done(10, DoneReason::Expired, 10)));
    assert_eq!(b.best_bid(), Some((Price(940), Qty(10))));
}

#[test]
fn market_fok_checks_within_band() {
    let mut b = book();
    run(&mut b, limit(1, 1, Side::Sell, 1000, 10));
    run(&mut b, limit(2, 1, Side::Sell, 1100, 10));
    let ev = run(&mut b, market(10, 2, Side::Buy, 15, TimeInForce::Fok));
    assert_eq!(ev, vec![rejected(10, RejectReason::CannotFillCompletely)]);
}

#[test]
fn validation_rejections_leave_book_untouched() {
    let mut b = with_asks();
    let digest = b.digest();
    let bad_market_price = Command::Submit(NewOrder {
        order_id: 20,
        account: 1,
        symbol: SYM,
        side: Side::Buy,
        order_type: OrderType::Market,
        price: Some(Price(1000)),
        qty: Qty(5),
        time_in_force: TimeInForce::Ioc,
        post_only: false,
    });
    let no_price = Command::Submit(NewOrder {
        price: None,
        order_type: OrderType::Limit,
        ..match &bad_market_price {
            Command::Submit(o) => o.clone(),
            _ => unreachable!(),
        }
    });
    let cases = vec![
        (limit(20, 1, Side::Buy, 1005, 5), RejectReason::OffTick),
        (limit(20, 1, Side::Buy, 1000, 7), RejectReason::OffLot),
        (limit(20, 1, Side::Buy, 1000, 0), RejectReason::ZeroQuantity),
        (limit(20, 1, Side::Buy, 0, 5), RejectReason::ZeroPrice),
        (
            limit(20, 1, Side::Buy, 1000, 1_000_005),
            RejectReason::QuantityTooLarge,
        ),
        (bad_market_price, RejectReason::PriceMismatch),
        (no_price, RejectReason::PriceMismatch),
        (
            limit(1, 1, Side::Buy, 1000, 5),
            RejectReason::DuplicateOrderId,
        ),
        (
            Command::Cancel {
                order_id: 1,
                account: 1,
                symbol: SymbolId(9),
            },
            RejectReason::UnknownSymbol,
        ),
    ];
    for (cmd, reason) in cases {
        let id = cmd.order_id();
        assert_eq!(run(&mut b, cmd), vec![rejected(id, reason)]);
        assert_eq!(b.digest(), digest);
    }
}

#[test]
fn cancel_removes_order_and_level() {
    let mut b = with_asks();
    let ev = run(&mut b, cancel(3, 1));
    assert_eq!(
        ev,
        vec![
            done(3, DoneReason::Canceled, 20),
            level(Side::Sell, 1020, 0, 0)
        ]
    );
    assert_eq!(b.order(3), None);
    assert_eq!(b.depth(Side::Sell, 10), vec![(Price(1010), Qty(15), 2)]);
}

#[test]
fn cancel_of_unknown_filled_or_foreign_order_is_rejected() {
    let mut b = with_asks();
    assert_eq!(
        run(&mut b, cancel(99, 1)),
        vec![rejected(99, RejectReason::UnknownOrder)]
    );
    assert_eq!(
        run(&mut b, cancel(1, 2)),
        vec![rejected(1, RejectReason::UnknownOrder)]
    );
    run(&mut b, limit(10, 2, Side::Buy, 1010, 10));
    assert_eq!(
        run(&mut b, cancel(1, 1)),
        vec![rejected(1, RejectReason::UnknownOrder)]
    );
    run(&mut b, cancel(2, 1));
    assert_eq!(
        run(&mut b, cancel(2, 1)),
        vec![rejected(2, RejectReason::UnknownOrder)]
    );
}

#[test]
fn amend_reducing_qty_keeps_priority() {
    let mut b = with_asks();
    let ev = run(&mut b, amend(1, 1, None, Some(5)));
    assert_eq!(
        ev,
        vec![
            Event::Amended {
                order_id: 1,
                symbol: SYM,
                price: Price(1010),
                remaining: Qty(5),
                kept_priority: true
            },
            level(Side::Sell, 1010, 10, 2)
        ]
    );
    let queue: Vec<u64> = b
        .orders_at(Side::Sell, Price(1010))
        .iter()
        .map(|o| o.order_id)
        .collect();
    assert_eq!(queue, vec![1, 2]);
    assert_eq!(b.order(1).map(|o| o.original), Some(Qty(5)));
}

#[test]
fn amend_increasing_qty_loses_priority() {
    let mut b = with_asks();
    let ev = run(&mut b, amend(1, 1, None, Some(15)));
    assert_eq!(
        ev,
        vec![
            Event::Amended {
                order_id: 1,
                symbol: SYM,
                price: Price(1010),
                remaining: Qty(15),
                kept_priority: false
            },
            level(Side::Sell, 1010, 5, 1),
            level(Side::Sell, 1010, 20, 2),
        ]
    );
    let queue: Vec<u64> = b
        .orders_at(Side::Sell, Price(1010))
        .iter()
        .map(|o| o.order_id)
        .collect();
    assert_eq!(queue, vec![2, 1]);
}

#[test]
fn amend_to_crossing_price_matches() {
    let mut b = with_asks();
    run(&mut b, limit(10, 2, Side::Buy, 1000, 15));
    let ev = run(&mut b, amend(10, 2, Some(1010), None));
    assert_eq!(
        ev,
        vec![
            Event::Amended {
                order_id: 10,
                symbol: SYM,
                price: Price(1010),
                remaining: Qty(15),
                kept_priority: false
            },
            level(Side::Buy, 1000, 0, 0),
            fill(1, (1, 1), (10, 2), Side::Buy, 1010, 10),
            done(1, DoneReason::Filled, 0),
            fill(2, (2, 1), (10, 2), Side::Buy, 1010, 5),
            done(2, DoneReason::Filled, 0),
            level(Side::Sell, 1010, 0, 0),
            done(10, DoneReason::Filled, 0),
        ]
    );
    assert_eq!(b.order(10), None);
}

#[test]
fn amend_of_post_only_to_crossing_price_is_rejected() {
    let mut b = with_asks();
    run(&mut b, post_only(10, 2, Side::Buy, 1000, 15));
    let digest = b.digest();
    assert_eq!(
        run(&mut b, amend(10, 2, Some(1010), None)),
        vec![rejected(10, RejectReason::WouldTakeLiquidity)]
    );
    assert_eq!(b.digest(), digest);
}

#[test]
fn amend_rejections() {
    let mut b = with_asks();
    let digest = b.digest();
    let cases = vec![
        (amend(1, 1, None, None), RejectReason::InvalidAmend),
        (
            amend(1, 1, Some(1010), Some(10)),
            RejectReason::InvalidAmend,
        ),
        (amend(1, 1, Some(1015), None), RejectReason::OffTick),
        (amend(1, 1, None, Some(3)), RejectReason::OffLot),
        (amend(1, 1, None, Some(0)), RejectReason::ZeroQuantity),
        (amend(1, 2, None, Some(5)), RejectReason::UnknownOrder),
        (amend(77, 1, None, Some(5)), RejectReason::UnknownOrder),
    ];
    for (cmd, reason) in cases {
        let id = cmd.order_id();
        assert_eq!(run(&mut b, cmd), vec![rejected(id, reason)]);
        assert_eq!(b.digest(), digest);
    }
}

#[test]
fn self_trade_prevention_cancels_resting_and_keeps_matching() {
    let mut b = book();
    run(&mut b, limit(1, 1, Side::Sell, 1010, 10));
    run(&mut b, limit(2, 2, Side::Sell, 1010, 10));
    // Account 1 buys: its own order 1 is canceled, order 2 trades.
    let ev = run(&mut b, limit(10, 1, Side::Buy, 1010, 15));
    assert_eq!(
        ev,
        vec![
            accepted(10),
            done(1, DoneReason::SelfTradePrevented, 10),
            fill(1, (2, 2), (10, 1), Side::Buy, 1010, 10),
            done(2, DoneReason::Filled, 0),
            level(Side::Sell, 1010, 0, 0),
            level(Side::Buy, 1010, 5, 1),
        ]
    );
    assert_eq!(b.order(1), None);
    assert_eq!(b.best_bid(), Some((Price(1010), Qty(5))));
}

#[test]
fn depth_lists_best_first_with_order_counts() {
    let mut b = book();
    run(&mut b, limit(1, 1, Side::Buy, 990, 5));
    run(&mut b, limit(2, 1, Side::Buy, 1000, 5));
    run(&mut b, limit(3, 2, Side::Buy, 1000, 10));
    run(&mut b, limit(4, 1, Side::Buy, 980, 5));
    assert_eq!(
        b.depth(Side::Buy, 2),
        vec![(Price(1000), Qty(15), 2), (Price(990), Qty(5), 1)]
    );
    assert_eq!(b.depth(Side::Sell, 5), vec![]);
}

#[test]
fn digest_reflects_priority_order() {
    let mut a = book();
    run(&mut a, limit(1, 1, Side::Buy, 1000, 5));
    run(&mut a, limit(2, 1, Side::Buy, 1000, 5));
    let mut b = book();
    run(&mut b, limit(2, 1, Side::Buy, 1000, 5));
    run(&mut b, limit(1, 1, Side::Buy, 1000, 5));
    assert_ne!(a.digest(), b.digest());
    let mut c = book();
    run(&mut c, limit(1, 1, Side::Buy, 1000, 5));
    run(&mut c, limit(2, 1, Side::Buy, 1000, 5));
    assert_eq!(a.digest(), c.digest());
}

#[test]
fn zero_tick_and_lot_instrument_does_not_panic() {
    let mut inst = instrument("ZERO");
    inst.tick_size = 0;
    inst.lot_size = 0;
    let mut b = OrderBook::new(SYM, inst);
    let ev = run(&mut b, limit(1, 1, Side::Buy, 1001, 3));
    assert_eq!(ev[0], accepted(1));
}

#[test]
fn levels_emptied_away_from_the_touch_are_reused_and_swept() {
    let mut b = book();
    // 300 bid levels, then cancel all but the best: far more empty levels than live ones.
    for i in 0..300u64 {
        run(&mut b, limit(i + 1, 1, Side::Buy, 5000 - 10 * i, 5));
    }
    for i in 1..300u64 {
        run(&mut b, cancel(i + 1, 1));
    }
    assert_eq!(
        b.depth(Side::Buy, usize::MAX),
        vec![(Price(5000), Qty(5), 1)]
    );
    let mut fresh = book();
    run(&mut fresh, limit(1, 1, Side::Buy, 5000, 5));
    assert_eq!(
        b.digest(),
        fresh.digest(),
        "empty levels must not show in the digest"
    );
    // Prices that were emptied (and swept) work again, in the right order.
    run(&mut b, limit(400, 1, Side::Buy, 4000, 5));
    run(&mut b, limit(401, 1, Side::Buy, 4990, 5));
    assert_eq!(
        b.depth(Side::Buy, usize::MAX),
        vec![
            (Price(5000), Qty(5), 1),
            (Price(4990), Qty(5), 1),
            (Price(4000), Qty(5), 1)
        ]
    );
    // Sweeping the book from the touch removes everything, then the side is empty.
    let ev = run(&mut b, market(500, 2, Side::Sell, 15, TimeInForce::Ioc));
    assert_eq!(ev.last(), Some(&done(500, DoneReason::Expired, 5)));
    assert_eq!(b.best_bid(), Some((Price(4000), Qty(5))));
    run(&mut b, cancel(400, 1));
    assert_eq!(b.best_bid(), None);
    assert_eq!(b.depth(Side::Buy, usize::MAX), vec![]);
}

/// A book rebuilt from its resting orders (time priority, remaining and original quantities)
/// and its trade counter has the same digest as the original, keeps priority, and continues
/// trade ids where the original would have. Crossing or duplicate orders are refused.
#[test]
fn a_rebuilt_book_has_the_same_digest_and_continues_its_trade_ids() {
    let mut original = with_asks();
    // Partly fill id 1 (10 -> 5) and amend id 3 down (20 -> 15): remaining differs from original.
    run(&mut original, limit(10, 2, Side::Buy, 1010, 5));
    run(&mut original, amend(3, 1, None, Some(15)));
    run(&mut original, limit(11, 2, Side::Buy, 990, 10));
    assert_eq!(
        original.order(1).map(|o| (o.remaining, o.original)),
        Some((Qty(5), Qty(10)))
    );
    let mut rebuilt = book();
    for side in [Side::Buy, Side::Sell] {
        for (price, _, _) in original.depth(side, usize::MAX) {
            for order in original.orders_at(side, price) {
                assert!(rebuilt.restore_resting(&order), "{order:?}");
            }
        }
    }
    rebuilt.restore_trade_seq(original.last_trade_id());
    check_invariants(&rebuilt);
    assert_eq!(rebuilt.digest(), original.digest());
    assert_eq!(snapshot(&rebuilt), snapshot(&original));

    // Both trade on exactly the same way: priority and trade ids carried over.
    let take = limit(12, 3, Side::Buy, 1020, 20);
    assert_eq!(run(&mut rebuilt, take.clone()), run(&mut original, take));
    assert_eq!(rebuilt.digest(), original.digest());

    // A resting id again, a crossing price, an empty or overfilled order: refused.
    let bid = rebuilt.orders_at(Side::Buy, Price(990))[0].clone();
    assert!(!rebuilt.restore_resting(&bid));
    let crossing = matching::RestingOrder {
        order_id: 99,
        price: Price(5000),
        ..bid.clone()
    };
    assert!(!rebuilt.restore_resting(&crossing));
    let overfilled = matching::RestingOrder {
        order_id: 98,
        remaining: Qty(10),
        original: Qty(5),
        ..bid
    };
    assert!(!rebuilt.restore_resting(&overfilled));
    assert_eq!(rebuilt.digest(), original.digest());
}
