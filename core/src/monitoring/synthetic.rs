//! Synthetic orders for the monitoring tests: seeded, so every run draws the same ones.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The features of a [`Portfolio`], in the order the drift tests report them.
pub(super) const FEATURES: [&str; 3] = ["normal", "lognormal", "discrete"];

/// The five values of the discrete feature and how often each is drawn.
const DISCRETE: [(f64, f64); 5] = [
    (0.0, 0.4),
    (1.0, 0.25),
    (2.0, 0.15),
    (3.0, 0.12),
    (4.0, 0.08),
];
/// The share of orders whose lognormal feature is missing.
const MISSING: f64 = 0.05;

/// Draws from a seeded ChaCha stream.
pub(super) struct Generator {
    rng: ChaCha8Rng,
    /// Box–Muller makes normals in pairs; the second waits here.
    spare: Option<f64>,
}

/// Orders as columns: three features of different shapes and a score computed from them.
pub(super) struct Portfolio {
    /// Standard normal, plus the shift asked for.
    pub(super) normal: Vec<f64>,
    /// exp of a standard normal (skewed), missing for 5 % of orders.
    pub(super) lognormal: Vec<f64>,
    /// One of five values, the first most often.
    pub(super) discrete: Vec<f64>,
    /// A probability, rising with each feature.
    pub(super) score: Vec<f64>,
}

impl Generator {
    pub(super) fn seeded(seed: u64) -> Generator {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// A standard normal by the Box–Muller transform.
    pub(super) fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // In (0, 1], so the logarithm is finite.
        let u: f64 = 1.0 - self.rng.r#gen::<f64>();
        let angle = std::f64::consts::TAU * self.rng.r#gen::<f64>();
        let radius = (-2.0 * u.ln()).sqrt();
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }

    pub(super) fn uniform(&mut self) -> f64 {
        self.rng.r#gen()
    }

    /// `n` orders, the normal feature shifted by `shift` standard deviations.
    pub(super) fn draw(&mut self, n: usize, shift: f64) -> Portfolio {
        let mut portfolio = Portfolio {
            normal: Vec::with_capacity(n),
            lognormal: Vec::with_capacity(n),
            discrete: Vec::with_capacity(n),
            score: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let normal = self.normal() + shift;
            let log = self.normal();
            let lognormal = if self.uniform() < MISSING {
                f64::NAN
            } else {
                log.exp()
            };
            let discrete = self.discrete();
            let missing_log = if lognormal.is_nan() { 0.0 } else { log };
            let logit = -1.0 + 0.8 * normal + 0.5 * missing_log + 0.3 * discrete;
            portfolio.normal.push(normal);
            portfolio.lognormal.push(lognormal);
            portfolio.discrete.push(discrete);
            portfolio.score.push(1.0 / (1.0 + (-logit).exp()));
        }
        portfolio
    }

    fn discrete(&mut self) -> f64 {
        let mut u = self.uniform();
        for (value, probability) in DISCRETE {
            if u < probability {
                return value;
            }
            u -= probability;
        }
        DISCRETE[DISCRETE.len() - 1].0
    }
}
