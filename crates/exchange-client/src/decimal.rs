//! Decimal strings on an instrument's grid.
//!
//! trading-api speaks prices and quantities as decimal strings (`"101.25"`) and rejects any that is
//! off the tick or lot grid. The simulators think in whole *ticks* and *lots*; [`Grid`] converts
//! between the two without floating-point drift, and rounds a floating reference price to the
//! nearest tick.

use std::fmt::Write as _;

/// A non-negative decimal read exactly: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// All the digits, with the point removed.
    pub mantissa: u128,
    /// How many of those digits are after the point.
    pub scale: u32,
}

impl Decimal {
    /// Parses `"12"`, `"12.5"`, `"0.001"`. Rejects signs, exponents and more than 30 digits.
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return None;
        }
        if !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        if whole.len() + frac.len() > 30 {
            return None;
        }
        let mut mantissa: u128 = 0;
        for b in whole.bytes().chain(frac.bytes()) {
            mantissa = mantissa * 10 + u128::from(b - b'0');
        }
        Some(Decimal {
            mantissa,
            scale: u32::try_from(frac.len()).ok()?,
        })
    }

    /// The value rescaled to `scale` decimals, if that is exact.
    pub fn at_scale(self, scale: u32) -> Option<u128> {
        if scale >= self.scale {
            self.mantissa
                .checked_mul(10u128.checked_pow(scale - self.scale)?)
        } else {
            let div = 10u128.checked_pow(self.scale - scale)?;
            (self.mantissa % div == 0).then_some(self.mantissa / div)
        }
    }

    /// Lossy conversion for statistics and pricing models.
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }
}

/// Formats `units / 10^scale` as a plain decimal string (no exponent, no trailing point).
pub fn format_units(units: u128, scale: u32) -> String {
    if scale == 0 {
        return units.to_string();
    }
    let div = 10u128.pow(scale);
    let mut out = String::new();
    let _ = write!(
        out,
        "{}.{:0width$}",
        units / div,
        units % div,
        width = scale as usize
    );
    out
}

/// The tick and lot grid of one instrument, from its decimal tick and lot sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Decimal places used to write a price (at least those of the tick size).
    pub price_scale: u32,
    /// One tick, in units of `10^-price_scale`.
    pub tick_units: u128,
    /// Decimal places used to write a quantity.
    pub qty_scale: u32,
    /// One lot, in units of `10^-qty_scale`.
    pub lot_units: u128,
}

impl Grid {
    /// Builds a grid from decimal tick and lot sizes such as `"0.01"` and `"0.001"`.
    pub fn from_sizes(tick_size: &str, lot_size: &str) -> Option<Grid> {
        let tick = Decimal::parse(tick_size)?;
        let lot = Decimal::parse(lot_size)?;
        if tick.mantissa == 0 || lot.mantissa == 0 {
            return None;
        }
        Some(Grid {
            price_scale: tick.scale,
            tick_units: tick.mantissa,
            qty_scale: lot.scale,
            lot_units: lot.mantissa,
        })
    }

    /// The tick size as a number (for models that work in floating point).
    pub fn tick_f64(&self) -> f64 {
        self.tick_units as f64 / 10f64.powi(self.price_scale as i32)
    }

    /// The lot size as a number.
    pub fn lot_f64(&self) -> f64 {
        self.lot_units as f64 / 10f64.powi(self.qty_scale as i32)
    }

    /// The nearest whole number of ticks to `price`, at least one tick.
    pub fn ticks_near(&self, price: f64) -> u64 {
        let ticks = (price / self.tick_f64()).round();
        if ticks.is_finite() && ticks >= 1.0 {
            ticks as u64
        } else {
            1
        }
    }

    /// `ticks` written as trading-api's decimal price string.
    pub fn price_string(&self, ticks: u64) -> String {
        format_units(u128::from(ticks) * self.tick_units, self.price_scale)
    }

    /// A decimal price string as whole ticks, if it lies on the grid.
    pub fn parse_ticks(&self, price: &str) -> Option<u64> {
        let units = Decimal::parse(price)?.at_scale(self.price_scale)?;
        (units % self.tick_units == 0)
            .then(|| u64::try_from(units / self.tick_units).ok())
            .flatten()
    }

    /// A price in ticks as a number.
    pub fn ticks_to_f64(&self, ticks: u64) -> f64 {
        ticks as f64 * self.tick_f64()
    }

    /// `lots` written as trading-api's decimal quantity string.
    pub fn qty_string(&self, lots: u64) -> String {
        format_units(u128::from(lots) * self.lot_units, self.qty_scale)
    }

    /// A decimal quantity string as whole lots, rounded down (fills can be any lot multiple).
    pub fn parse_lots(&self, qty: &str) -> Option<u64> {
        let units = Decimal::parse(qty)?.at_scale(self.qty_scale)?;
        u64::try_from(units / self.lot_units).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rescales() {
        let d = Decimal::parse("101.25").expect("valid decimal");
        assert_eq!(
            d,
            Decimal {
                mantissa: 10125,
                scale: 2
            }
        );
        assert_eq!(d.at_scale(4), Some(1_012_500));
        assert_eq!(d.at_scale(1), None, "101.25 is not exact at one decimal");
        assert_eq!(Decimal::parse("7").and_then(|d| d.at_scale(2)), Some(700));
        for bad in ["", ".", "-1", "1e3", "1.2.3", "abc", " 1 2"] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?} must not parse");
        }
    }

    #[test]
    fn grid_round_trips_prices_and_quantities() {
        let grid = Grid::from_sizes("0.05", "0.001").expect("valid sizes");
        let ticks = grid.ticks_near(100.03);
        assert_eq!(grid.price_string(ticks), "100.05");
        assert_eq!(grid.parse_ticks("100.05"), Some(ticks));
        assert_eq!(grid.parse_ticks("100.03"), None, "off-tick price");
        assert_eq!(grid.qty_string(1500), "1.500");
        assert_eq!(grid.parse_lots("1.5"), Some(1500));
        assert_eq!(format_units(5, 3), "0.005");
        assert_eq!(grid.ticks_near(-3.0), 1, "never below one tick");
    }
}
