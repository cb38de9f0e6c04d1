//! The few distributions the generator needs, on top of a seeded `rand` generator (no extra
//! crate): normal, Poisson, weighted choice, and a Bernoulli draw.

use rand::Rng;

/// A standard normal draw (Box–Muller).
pub(super) fn normal(rng: &mut impl Rng) -> f64 {
    // `gen::<f64>()` is in [0, 1): `1 - u` is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.r#gen::<f64>();
    let u2 = rng.r#gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Poisson draw (Knuth's method; `lambda` is capped at 60, plenty for counts of records).
pub(super) fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    let limit = (-lambda.min(60.0)).exp();
    let mut k = 0;
    let mut p = rng.r#gen::<f64>();
    while p > limit {
        k += 1;
        p *= rng.r#gen::<f64>();
    }
    k
}

/// True with probability `p` (clamped to 0..1).
pub(super) fn chance(rng: &mut impl Rng, p: f64) -> bool {
    rng.r#gen::<f64>() < p.clamp(0.0, 1.0)
}

/// One of `choices`, with probability proportional to its integer weight.
pub(super) fn pick<T: Copy>(rng: &mut impl Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|&(_, w)| w).sum();
    let mut draw = rng.gen_range(0..total.max(1));
    for &(value, weight) in choices {
        if draw < weight {
            return value;
        }
        draw -= weight;
    }
    choices[choices.len() - 1].0
}

/// A uniform draw in `low..high` (floats).
pub(super) fn uniform(rng: &mut impl Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.r#gen::<f64>()
}

pub(super) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_have_the_expected_means() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let mean_normal: f64 = (0..n).map(|_| normal(&mut rng)).sum::<f64>() / f64::from(n);
        assert!(mean_normal.abs() < 0.05, "{mean_normal}");
        let mean_poisson = (0..n)
            .map(|_| f64::from(poisson(&mut rng, 2.5)))
            .sum::<f64>()
            / f64::from(n);
        assert!((mean_poisson - 2.5).abs() < 0.1, "{mean_poisson}");
        let picked_b = (0..n)
            .filter(|_| pick(&mut rng, &[('a', 1), ('b', 3)]) == 'b')
            .count();
        assert!((14_000..16_000).contains(&picked_b), "{picked_b}");
        assert_eq!(poisson(&mut rng, 0.0), 0);
    }
}
