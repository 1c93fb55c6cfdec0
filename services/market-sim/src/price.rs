//! The reference price of one symbol: geometric Brownian motion with volatility regimes, Poisson
//! jumps and operator-requested volatility shocks, driven by a seeded generator so that a run can be
//! replayed exactly.
//!
//! One step of length `dt` seconds moves the log price by
//! `(mu - sigma^2/2) dt + sigma sqrt(dt) Z + sum of N jumps`, with `Z ~ N(0,1)`,
//! `N ~ Poisson(jump_rate dt)` and each jump `~ N(0, jump_sigma)`. `sigma` is the base volatility
//! times the current regime's multiplier times the shock multiplier.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use serde::Serialize;

/// A volatility regime: how agitated the market is at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// Half the base volatility.
    Calm,
    /// The base volatility.
    Normal,
    /// Three times the base volatility.
    Turbulent,
}

impl Regime {
    /// Factor applied to the base volatility.
    pub fn multiplier(self) -> f64 {
        match self {
            Regime::Calm => 0.5,
            Regime::Normal => 1.0,
            Regime::Turbulent => 3.0,
        }
    }

    const ALL: [Regime; 3] = [Regime::Calm, Regime::Normal, Regime::Turbulent];
}

/// Parameters of the process. Volatilities are per square-root second, rates per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceModel {
    /// Drift of the log price per second.
    pub drift: f64,
    /// Base volatility per sqrt(second), e.g. `0.0002` = 2 bp.
    pub volatility: f64,
    /// Expected regime changes per second.
    pub regime_switch_rate: f64,
    /// Expected jumps per second.
    pub jump_rate: f64,
    /// Standard deviation of one jump in log price.
    pub jump_sigma: f64,
}

impl Default for PriceModel {
    fn default() -> Self {
        PriceModel {
            drift: 0.0,
            volatility: 0.0002,
            regime_switch_rate: 1.0 / 60.0,
            jump_rate: 1.0 / 120.0,
            jump_sigma: 0.004,
        }
    }
}

/// The shape of a volatility shock requested through `POST /api/v1/volatility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShockPattern {
    /// Volatility jumps up at once and stays up for the shock's duration, then drops back.
    Spike,
    /// Volatility jumps up and relaxes exponentially (time constant: a fifth of the duration).
    Decay,
    /// Volatility swings up and down with a period of a quarter of the duration.
    Oscillate,
    /// Volatility takes a fresh random level in `[1, 1 + intensity]` every second.
    Random,
}

/// An active volatility shock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VolatilityShock {
    /// Its shape.
    pub pattern: ShockPattern,
    /// Extra volatility at the peak, as a multiple of the base (`2.0` = three times at the peak).
    pub intensity: f64,
    /// Process time (seconds) at which the shock began.
    pub started_at: f64,
    /// How long it lasts, in seconds.
    pub duration: f64,
}

impl VolatilityShock {
    /// The volatility multiplier at process time `t`; `1.0` outside the shock. `random_level` is a
    /// uniform draw in `[0, 1)` the caller refreshes once per second, so the process stays seeded.
    pub fn multiplier(&self, t: f64, random_level: f64) -> f64 {
        let age = t - self.started_at;
        if age < 0.0 || age >= self.duration {
            return 1.0;
        }
        let k = self.intensity.max(0.0);
        match self.pattern {
            ShockPattern::Spike => 1.0 + k,
            ShockPattern::Decay => 1.0 + k * (-age / (self.duration / 5.0)).exp(),
            ShockPattern::Oscillate => {
                let period = self.duration / 4.0;
                1.0 + k * 0.5 * (1.0 - (std::f64::consts::TAU * age / period).cos())
            }
            ShockPattern::Random => 1.0 + k * random_level,
        }
    }
}

/// One observation of the process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PricePoint {
    /// Process time in seconds since start.
    pub t: f64,
    /// The reference price.
    pub price: f64,
    /// The regime in force.
    pub regime: Regime,
    /// The effective volatility per sqrt(second) used for the last step.
    pub volatility: f64,
    /// Whether a jump happened in the last step.
    pub jumped: bool,
}

/// The reference price process of one symbol.
#[derive(Debug, Clone)]
pub struct PriceProcess {
    /// The model parameters.
    model: PriceModel,
    /// Natural log of the current price; evolving the log keeps the price positive.
    log_price: f64,
    /// Seconds since the process started.
    t: f64,
    /// The regime in force.
    regime: Regime,
    /// The operator's shock, if one was requested.
    shock: Option<VolatilityShock>,
    /// Level used by [`ShockPattern::Random`], redrawn each whole second.
    random_level: f64,
    /// Whole second at which `random_level` was last drawn.
    random_level_second: u64,
    /// The seeded generator: the same seed gives the same path.
    rng: StdRng,
    /// Whether the last step jumped.
    jumped: bool,
    /// The volatility used by the last step.
    last_volatility: f64,
}

impl PriceProcess {
    /// Starts at `initial_price` (must be positive) with a seeded generator.
    pub fn new(initial_price: f64, model: PriceModel, seed: u64) -> PriceProcess {
        let initial = if initial_price.is_finite() && initial_price > 0.0 {
            initial_price
        } else {
            1.0
        };
        PriceProcess {
            model,
            log_price: initial.ln(),
            t: 0.0,
            regime: Regime::Normal,
            shock: None,
            random_level: 0.0,
            random_level_second: 0,
            rng: StdRng::seed_from_u64(seed),
            jumped: false,
            last_volatility: model.volatility,
        }
    }

    /// The current state.
    pub fn point(&self) -> PricePoint {
        PricePoint {
            t: self.t,
            price: self.log_price.exp(),
            regime: self.regime,
            volatility: self.last_volatility,
            jumped: self.jumped,
        }
    }

    /// The model parameters.
    pub fn model(&self) -> PriceModel {
        self.model
    }

    /// Starts a volatility shock now, replacing any earlier one.
    pub fn shock(&mut self, pattern: ShockPattern, intensity: f64, duration: f64) {
        self.shock = Some(VolatilityShock {
            pattern,
            intensity,
            started_at: self.t,
            duration: duration.max(0.0),
        });
    }

    /// The shock in force, if any.
    pub fn active_shock(&self) -> Option<VolatilityShock> {
        self.shock
            .filter(|s| self.t >= s.started_at && self.t < s.started_at + s.duration)
    }

    /// Advances the process by `dt` seconds and returns the new state.
    pub fn step(&mut self, dt: f64) -> PricePoint {
        let dt = dt.max(0.0);
        self.switch_regime(dt);
        let second = self.t as u64;
        if second != self.random_level_second {
            self.random_level_second = second;
            self.random_level = self.rng.random::<f64>();
        }
        let shock = self
            .shock
            .map_or(1.0, |s| s.multiplier(self.t, self.random_level));
        let sigma = self.model.volatility * self.regime.multiplier() * shock;
        let z: f64 = StandardNormal.sample(&mut self.rng);
        let mut dlog = (self.model.drift - 0.5 * sigma * sigma) * dt + sigma * dt.sqrt() * z;
        self.jumped = false;
        let lambda = self.model.jump_rate * dt;
        if lambda > 0.0 && self.model.jump_sigma > 0.0 {
            if let (Ok(count), Ok(size)) = (
                Poisson::new(lambda),
                Normal::new(0.0, self.model.jump_sigma),
            ) {
                let jumps: f64 = count.sample(&mut self.rng);
                for _ in 0..(jumps as u64) {
                    dlog += size.sample(&mut self.rng);
                    self.jumped = true;
                }
            }
        }
        self.log_price += dlog;
        self.t += dt;
        self.last_volatility = sigma;
        self.point()
    }

    /// Markov regime switching: with probability `rate * dt`, move to one of the other regimes.
    fn switch_regime(&mut self, dt: f64) {
        let p = (self.model.regime_switch_rate * dt).clamp(0.0, 1.0);
        if p > 0.0 && self.rng.random_bool(p) {
            let others: Vec<Regime> = Regime::ALL
                .into_iter()
                .filter(|r| *r != self.regime)
                .collect();
            self.regime = others[self.rng.random_range(0..others.len())];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(seed: u64, steps: usize) -> Vec<f64> {
        let mut p = PriceProcess::new(100.0, PriceModel::default(), seed);
        (0..steps).map(|_| p.step(0.1).price).collect()
    }

    #[test]
    fn same_seed_same_path_other_seed_other_path() {
        assert_eq!(path(7, 1000), path(7, 1000));
        assert_ne!(path(7, 1000), path(8, 1000));
    }

    #[test]
    fn log_returns_match_the_model_without_jumps_or_regimes() {
        let model = PriceModel {
            drift: 0.0,
            volatility: 0.01,
            regime_switch_rate: 0.0,
            jump_rate: 0.0,
            jump_sigma: 0.0,
        };
        let dt = 0.5;
        let n = 20_000;
        let mut p = PriceProcess::new(50.0, model, 42);
        let mut prev = p.point().price.ln();
        let mut returns = Vec::with_capacity(n);
        for _ in 0..n {
            let now = p.step(dt).price.ln();
            returns.push(now - prev);
            prev = now;
        }
        let mean = returns.iter().sum::<f64>() / n as f64;
        let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let expected_sd = model.volatility * dt.sqrt();
        // The sample sd of 20k normals is within 3% of the truth with overwhelming probability.
        assert!(
            (var.sqrt() / expected_sd - 1.0).abs() < 0.03,
            "sd {} vs {}",
            var.sqrt(),
            expected_sd
        );
        // The mean's standard error is sd/sqrt(n); allow 5 of them.
        assert!(
            mean.abs() < 5.0 * expected_sd / (n as f64).sqrt(),
            "mean {mean}"
        );
    }

    #[test]
    fn jumps_happen_at_about_the_configured_rate() {
        let model = PriceModel {
            jump_rate: 0.5,
            regime_switch_rate: 0.0,
            ..PriceModel::default()
        };
        let mut p = PriceProcess::new(100.0, model, 3);
        let steps = 20_000;
        let jumps = (0..steps).filter(|_| p.step(0.1).jumped).count();
        // Expected 1000 steps with a jump (a little less: two jumps in one step count once).
        assert!((850..1100).contains(&jumps), "{jumps} jumps");
    }

    #[test]
    fn regimes_switch_and_price_stays_positive() {
        let model = PriceModel {
            regime_switch_rate: 0.2,
            volatility: 0.05,
            ..PriceModel::default()
        };
        let mut p = PriceProcess::new(10.0, model, 11);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5_000 {
            let point = p.step(0.1);
            assert!(point.price > 0.0 && point.price.is_finite());
            seen.insert(format!("{:?}", point.regime));
        }
        assert_eq!(seen.len(), 3, "all regimes visited: {seen:?}");
    }

    #[test]
    fn shocks_raise_volatility_then_end() {
        let mut p = PriceProcess::new(
            100.0,
            PriceModel {
                regime_switch_rate: 0.0,
                ..PriceModel::default()
            },
            1,
        );
        let base = p.model().volatility;
        p.shock(ShockPattern::Spike, 4.0, 2.0);
        let during = p.step(0.1).volatility;
        assert!((during / base - 5.0).abs() < 1e-9, "spike is 1 + intensity");
        for _ in 0..30 {
            p.step(0.1);
        }
        assert!(p.active_shock().is_none());
        assert!((p.step(0.1).volatility / base - 1.0).abs() < 1e-9);

        let decay = VolatilityShock {
            pattern: ShockPattern::Decay,
            intensity: 2.0,
            started_at: 0.0,
            duration: 10.0,
        };
        assert!(decay.multiplier(0.0, 0.0) > decay.multiplier(5.0, 0.0));
        assert!(decay.multiplier(5.0, 0.0) > 1.0);
        let osc = VolatilityShock {
            pattern: ShockPattern::Oscillate,
            intensity: 2.0,
            started_at: 0.0,
            duration: 8.0,
        };
        assert!((osc.multiplier(0.0, 0.0) - 1.0).abs() < 1e-9);
        assert!(
            (osc.multiplier(1.0, 0.0) - 3.0).abs() < 1e-9,
            "peak at half a period"
        );
        let random = VolatilityShock {
            pattern: ShockPattern::Random,
            intensity: 2.0,
            started_at: 0.0,
            duration: 8.0,
        };
        assert!((random.multiplier(1.0, 0.5) - 2.0).abs() < 1e-9);
    }
}
