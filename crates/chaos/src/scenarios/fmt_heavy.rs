//! `fmt-heavy`: `format!`/`to_string` churn through `dyn Display`. In a CPU flamegraph:
//! `render` over `alloc::fmt::format`, `core::fmt::write`, `<dyn Display>::fmt`,
//! float formatting (`core::fmt::float`) and `String` growth.

use std::fmt::{self, Display};

/// A price with its currency, formatted the slow way.
struct Quote {
    symbol: &'static str,
    price: f64,
    qty: u64,
}

impl Display for Quote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{:.4}x{}", self.symbol, self.price, self.qty)
    }
}

/// Formats `count` mixed values through `dyn Display` into one string; returns its length.
#[inline(never)]
pub fn render(count: usize) -> usize {
    let values: Vec<Box<dyn Display>> = (0..count)
        .map(|i| -> Box<dyn Display> {
            match i % 3 {
                0 => Box::new(i as f64 * 1.0001),
                1 => Box::new(i),
                _ => Box::new(Quote {
                    symbol: "BTC-USD",
                    price: 30_000.0 + i as f64 / 7.0,
                    qty: i as u64,
                }),
            }
        })
        .collect();
    let mut out = String::new();
    for value in &values {
        let line = format!("[{:>16}]", value.to_string());
        out.push_str(&line);
    }
    std::hint::black_box(out).len()
}
