//! An instrument as the venue trades it: the engine's instrument plus the assets and scales
//! the ledger settles it in.

use matching::{Instrument, Price, Qty, Side};

use crate::ledger::AssetId;

/// An instrument plus what the ledger needs to settle it.
#[derive(Debug, Clone)]
pub struct InstrumentInfo {
    /// The engine's instrument.
    pub instrument: Instrument,
    /// Base asset (what is bought), e.g. BTC.
    pub base: AssetId,
    /// Quote asset (what is paid), e.g. USD.
    pub quote: AssetId,
    /// Ledger units of quote per (price unit × quantity unit).
    pub quote_scale: i128,
    /// Ledger units of base per quantity unit.
    pub base_scale: i128,
}

impl InstrumentInfo {
    /// Ledger units of quote for `qty` at `price`.
    pub fn notional(&self, price: Price, qty: Qty) -> i128 {
        i128::from(price.0) * i128::from(qty.0) * self.quote_scale
    }

    /// Ledger units of base for `qty`.
    pub fn base_amount(&self, qty: Qty) -> i128 {
        i128::from(qty.0) * self.base_scale
    }

    /// The asset an order on `side` holds.
    pub fn hold_asset(&self, side: Side) -> AssetId {
        match side {
            Side::Buy => self.quote,
            Side::Sell => self.base,
        }
    }

    /// The hold a resting limit order needs.
    pub fn resting_hold(&self, side: Side, price: Price, open: Qty) -> i128 {
        match side {
            Side::Buy => self.notional(price, open),
            Side::Sell => self.base_amount(open),
        }
    }
}
