//! Exact conversion between the decimal text clients send ("123.45", or a JSON number) and the
//! integer units the engine and the ledger use. No float arithmetic: a JSON number is taken by its
//! shortest round-trip text and parsed like a string, so `0.1` is exactly one tenth.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// Decimal places of every asset balance (like satoshis): an instrument's notional
/// (`price_decimals + qty_decimals`) and quantity (`qty_decimals`) must fit in this.
pub const ASSET_DECIMALS: u8 = 8;

/// Why a decimal could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Empty text.
    #[error("must not be empty")]
    Empty,
    /// A minus sign.
    #[error("must be positive")]
    Negative,
    /// Not digits with an optional single point.
    #[error("is not a decimal number (digits, optionally a point followed by digits; no spaces)")]
    Invalid,
    /// More decimal places than the unit allows.
    #[error("has more than {0} decimal places")]
    TooManyDecimals(u8),
    /// Does not fit the unit's integer range.
    #[error("is too large")]
    Overflow,
}

/// Decimal text as received: a JSON string, or a JSON number's shortest round-trip text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string or number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DecimalText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // Rust prints the shortest text that round-trips, never in exponent form.
                Ok(DecimalText(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Parses `text` into an integer count of `10^-decimals` units.
pub fn parse_units(text: &str, decimals: u8) -> Result<u128, DecimalError> {
    if text.trim().is_empty() {
        return Err(DecimalError::Empty);
    }
    // Strict, as an exchange API must be: no surrounding spaces (" 1000.00 "), a digit before
    // the point (".50") and after it ("5."). A client that sends those has a formatting bug
    // worth hearing about, not guessing around.
    if text.trim() != text {
        return Err(DecimalError::Invalid);
    }
    if text.starts_with('-') {
        return Err(DecimalError::Negative);
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let has_point = text.contains('.');
    if int_part.is_empty()
        || (has_point && frac_part.is_empty())
        || !digits_ok(int_part)
        || !digits_ok(frac_part)
    {
        return Err(DecimalError::Invalid);
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > usize::from(decimals) {
        return Err(DecimalError::TooManyDecimals(decimals));
    }
    let mut value: u128 = 0;
    for b in int_part.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or(DecimalError::Overflow)?;
        if value > u128::from(u64::MAX) * 1_000 {
            return Err(DecimalError::Overflow);
        }
    }
    for i in 0..usize::from(decimals) {
        let digit = frac_trimmed.as_bytes().get(i).map_or(0, |b| b - b'0');
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(digit)))
            .ok_or(DecimalError::Overflow)?;
    }
    Ok(value)
}

/// Formats `units` of `10^-decimals` as decimal text with exactly `decimals` places.
pub fn format_units(units: u128, decimals: u8) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10u128.pow(u32::from(decimals));
    format!(
        "{}.{:0width$}",
        units / scale,
        units % scale,
        width = usize::from(decimals)
    )
}

/// Formats a signed ledger amount with [`ASSET_DECIMALS`] places.
pub fn format_asset(amount: i128) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    format!(
        "{sign}{}",
        format_units(amount.unsigned_abs(), ASSET_DECIMALS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_or_rejects() {
        let ok: &[(&str, u8, u128)] = &[
            ("123.45", 2, 12345),
            ("0.1", 8, 10_000_000),
            ("5", 3, 5000),
            ("1.2300", 2, 123),
            ("0", 2, 0),
        ];
        for (text, d, want) in ok {
            assert_eq!(parse_units(text, *d), Ok(*want), "{text}");
        }
        let bad: &[(&str, u8, DecimalError)] = &[
            ("", 2, DecimalError::Empty),
            ("-1", 2, DecimalError::Negative),
            ("1e5", 2, DecimalError::Invalid),
            ("1.2.3", 2, DecimalError::Invalid),
            (".", 2, DecimalError::Invalid),
            // Issue 14: sloppy decimal text is refused, not guessed at.
            ("5.", 1, DecimalError::Invalid),
            (".5", 1, DecimalError::Invalid),
            (".50", 2, DecimalError::Invalid),
            (" 1000.00 ", 2, DecimalError::Invalid),
            ("1000.00\n", 2, DecimalError::Invalid),
            ("   ", 2, DecimalError::Empty),
            ("abc", 2, DecimalError::Invalid),
            ("1.234", 2, DecimalError::TooManyDecimals(2)),
            (
                "99999999999999999999999999999999999999999",
                2,
                DecimalError::Overflow,
            ),
        ];
        for (text, d, want) in bad {
            assert_eq!(parse_units(text, *d).as_ref(), Err(want), "{text}");
        }
    }

    #[test]
    fn json_numbers_keep_their_decimal_text() {
        let v: Vec<DecimalText> =
            serde_json::from_str(r#"[0.1, 100, -3, "2.50", 1e2]"#).expect("valid json");
        let texts: Vec<&str> = v.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(texts, ["0.1", "100", "-3", "2.50", "100"]);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_units(12345, 2), "123.45");
        assert_eq!(format_units(5, 3), "0.005");
        assert_eq!(format_asset(-150_000_000), "-1.50000000");
        assert_eq!(
            parse_units(&format_units(987_654_321, 6), 6),
            Ok(987_654_321)
        );
    }
}
