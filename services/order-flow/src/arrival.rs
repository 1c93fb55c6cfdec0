//! Poisson arrivals: exponentially distributed gaps between events, at a rate that may change at
//! run time. Seeded, so a run's arrival pattern can be replayed.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A Poisson process: each [`PoissonArrivals::next_gap`] draws the time to the next event.
#[derive(Debug, Clone)]
pub struct PoissonArrivals {
    /// Seeded generator.
    rng: StdRng,
}

impl PoissonArrivals {
    /// A process seeded with `seed`.
    pub fn new(seed: u64) -> PoissonArrivals {
        PoissonArrivals {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The gap to the next event at `rate` events per second, or `None` when the rate is zero
    /// (nothing ever arrives). Inverse-transform sampling: `-ln(U) / rate` with `U` in `(0, 1]`.
    pub fn next_gap(&mut self, rate: f64) -> Option<Duration> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        let u: f64 = 1.0 - self.rng.random::<f64>();
        Some(Duration::from_secs_f64(-u.ln() / rate))
    }

    /// A uniform draw in `[0, 1)` from the same seeded stream (to pick which population arrives).
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_exponential_with_the_asked_rate() {
        let mut p = PoissonArrivals::new(9);
        let rate = 250.0;
        let n = 50_000;
        let gaps: Vec<f64> = (0..n)
            .map(|_| p.next_gap(rate).expect("positive rate").as_secs_f64())
            .collect();
        let mean = gaps.iter().sum::<f64>() / n as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // Exponential: mean 1/rate, coefficient of variation 1.
        assert!((mean * rate - 1.0).abs() < 0.03, "mean gap {mean}");
        assert!(
            (var.sqrt() / mean - 1.0).abs() < 0.05,
            "cv {}",
            var.sqrt() / mean
        );
        // Memorylessness shows as P(gap > 1/rate) = e^-1.
        let beyond = gaps.iter().filter(|g| **g > 1.0 / rate).count() as f64 / n as f64;
        assert!((beyond - (-1.0f64).exp()).abs() < 0.01, "{beyond}");
    }

    #[test]
    fn counts_per_window_are_poisson() {
        // Events in unit windows at rate 20: mean and variance both 20.
        let mut p = PoissonArrivals::new(4);
        let mut counts = vec![0u32; 2_000];
        let mut t = 0.0;
        loop {
            t += p.next_gap(20.0).expect("positive rate").as_secs_f64();
            let window = t as usize;
            if window >= counts.len() {
                break;
            }
            counts[window] += 1;
        }
        let n = counts.len() as f64;
        let mean = counts.iter().map(|c| f64::from(*c)).sum::<f64>() / n;
        let var = counts
            .iter()
            .map(|c| (f64::from(*c) - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        assert!((mean - 20.0).abs() < 0.5, "mean {mean}");
        assert!((var / mean - 1.0).abs() < 0.15, "dispersion {}", var / mean);
    }

    #[test]
    fn zero_rate_never_arrives_and_seeds_replay() {
        let mut p = PoissonArrivals::new(1);
        assert_eq!(p.next_gap(0.0), None);
        assert_eq!(p.next_gap(f64::NAN), None);
        let mut a = PoissonArrivals::new(77);
        let mut b = PoissonArrivals::new(77);
        for _ in 0..100 {
            assert_eq!(a.next_gap(10.0), b.next_gap(10.0));
        }
    }
}
