//! The distributions monitoring tests against: the gamma function, the chi-squared and normal
//! distributions, and the Wilson interval of a proportion. Written here rather than taken from
//! a statistics crate because core needs only these few, and each is a page of well-known
//! numerics; they are accurate to about 1e-12 relative (checked against 30-digit values).

use serde::{Deserialize, Serialize};

/// A confidence interval: the true value lies in `[low, high]` with the stated confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Nothing is known about a proportion: every value from 0 to 1.
    pub const UNKNOWN: Interval = Interval {
        low: 0.0,
        high: 1.0,
    };

    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

/// Relative precision the iterative methods stop at: a few units in the last place.
const EPSILON: f64 = 1e-15;
/// Stands in for zero in Lentz's continued fraction, where a zero denominator would divide.
const TINY: f64 = 1e-300;
/// More than any series or fraction here needs for shape parameters up to a few thousand.
const MAX_ITERATIONS: usize = 10_000;

/// Lanczos's coefficients for g = 7, n = 9 (Godfrey): about 1e-15 relative for Γ(x), x > 0.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// ln Γ(x) for x > 0 (Lanczos's approximation); the reflection formula below 1/2.
pub fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + LANCZOS_G + 0.5;
    let series = LANCZOS[1..]
        .iter()
        .enumerate()
        .fold(LANCZOS[0], |sum, (i, c)| sum + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The regularized lower incomplete gamma function P(a, x) = γ(a, x) / Γ(a), for a > 0.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x.is_nan() || a.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        0.0
    } else if x < a + 1.0 {
        gamma_series(a, x)
    } else {
        1.0 - gamma_fraction(a, x)
    }
}

/// The upper one, Q(a, x) = 1 − P(a, x), computed directly so that a small tail keeps its
/// digits rather than being what is left of 1 − P.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x.is_nan() || a.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        1.0
    } else if x < a + 1.0 {
        1.0 - gamma_series(a, x)
    } else {
        gamma_fraction(a, x)
    }
}

/// x^a e^(−x) / Γ(a), the factor both expansions share, through logarithms so that large
/// arguments do not overflow.
fn gamma_prefactor(a: f64, x: f64) -> f64 {
    (a * x.ln() - x - ln_gamma(a)).exp()
}

/// P(a, x) by its power series; converges quickly when x < a + 1.
fn gamma_series(a: f64, x: f64) -> f64 {
    let mut term = 1.0 / a;
    let mut sum = term;
    let mut ap = a;
    for _ in 0..MAX_ITERATIONS {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if term.abs() < sum.abs() * EPSILON {
            break;
        }
    }
    sum * gamma_prefactor(a, x)
}

/// Q(a, x) by its continued fraction, evaluated with the modified Lentz method; converges
/// quickly when x ≥ a + 1.
fn gamma_fraction(a: f64, x: f64) -> f64 {
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..MAX_ITERATIONS {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    h * gamma_prefactor(a, x)
}

/// P(X ≤ x) for X chi-squared with `k` degrees of freedom. With k = 0 the distribution is all
/// at 0.
pub fn chi_squared_cdf(x: f64, k: f64) -> f64 {
    if k <= 0.0 {
        return if x >= 0.0 { 1.0 } else { 0.0 };
    }
    gamma_p(k / 2.0, x / 2.0)
}

/// P(X > x), kept accurate far into the tail.
fn chi_squared_survival(x: f64, k: f64) -> f64 {
    gamma_q(k / 2.0, x / 2.0)
}

fn chi_squared_density(x: f64, k: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let a = k / 2.0;
    ((a - 1.0) * (x / 2.0).ln() - x / 2.0 - ln_gamma(a)).exp() / 2.0
}

/// The x with P(X ≤ x) = p for X chi-squared with `k` degrees of freedom: 0 for p ≤ 0 or
/// k = 0, infinity for p ≥ 1.
///
/// Starts from the Wilson–Hilferty approximation (the cube root of a chi-squared variable is
/// nearly normal), or from the leading term of the series where that start falls below zero,
/// then Newton's method on the distribution function, kept inside a bracket that halves
/// whenever a step would leave it. Above the median it solves the upper tail instead, so that
/// p near 1 loses no digits to 1 − P.
pub fn chi_squared_quantile(p: f64, k: f64) -> f64 {
    if p.is_nan() || k.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 || k <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let upper = p > 0.5;
    let tail = 1.0 - p;
    // How far F(x) is above p, from whichever side is accurate.
    let excess = |x: f64| {
        if upper {
            tail - chi_squared_survival(x, k)
        } else {
            chi_squared_cdf(x, k) - p
        }
    };
    let mut x = quantile_start(p, k);
    let (mut low, mut high) = (0.0, f64::INFINITY);
    for _ in 0..MAX_ITERATIONS {
        let error = excess(x);
        if error == 0.0 {
            return x;
        }
        if error > 0.0 {
            high = x;
        } else {
            low = x;
        }
        let density = chi_squared_density(x, k);
        let newton = x - error / density;
        let next = if density > 0.0 && newton > low && newton < high {
            newton
        } else if high.is_finite() {
            (low + high) / 2.0
        } else {
            2.0 * x.max(1.0)
        };
        if (next - x).abs() <= EPSILON * x || high - low <= EPSILON * low {
            return next;
        }
        x = next;
    }
    x
}

fn quantile_start(p: f64, k: f64) -> f64 {
    let h = 2.0 / (9.0 * k);
    let wilson_hilferty = k * (1.0 - h + normal_quantile(p) * h.sqrt()).powi(3);
    // P(k/2, x/2) ≤ (x/2)^(k/2) / Γ(k/2 + 1), so solving that bound for x gives a lower
    // bound of the quantile, and nearly the quantile itself where p is small.
    let lower_bound = 2.0 * ((p.ln() + ln_gamma(k / 2.0 + 1.0)) * 2.0 / k).exp();
    wilson_hilferty.max(lower_bound)
}

/// P(Z ≤ x) for a standard normal Z, through erfc(t) = Q(1/2, t²): the tail is computed
/// directly, so Φ(−30) keeps its digits instead of underflowing from 1 − Φ(30).
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let half_tail = gamma_q(0.5, x * x / 2.0) / 2.0;
    if x < 0.0 { half_tail } else { 1.0 - half_tail }
}

/// Acklam's rational approximation of the normal quantile (relative error 1.15e-9).
const ACKLAM_A: [f64; 6] = [
    -3.969_683_028_665_376e1,
    2.209_460_984_245_205e2,
    -2.759_285_104_469_687e2,
    1.383_577_518_672_69e2,
    -3.066_479_806_614_716e1,
    2.506_628_277_459_239,
];
const ACKLAM_B: [f64; 5] = [
    -5.447_609_879_822_406e1,
    1.615_858_368_580_409e2,
    -1.556_989_798_598_866e2,
    6.680_131_188_771_972e1,
    -1.328_068_155_288_572e1,
];
const ACKLAM_C: [f64; 6] = [
    -7.784_894_002_430_293e-3,
    -3.223_964_580_411_365e-1,
    -2.400_758_277_161_838,
    -2.549_732_539_343_734,
    4.374_664_141_464_968,
    2.938_163_982_698_783,
];
const ACKLAM_D: [f64; 4] = [
    7.784_695_709_041_462e-3,
    3.224_671_290_700_398e-1,
    2.445_134_137_142_996,
    3.754_408_661_907_416,
];
/// Below this, Acklam's approximation switches to its tail form.
const ACKLAM_LOW: f64 = 0.02425;

fn polynomial(coefficients: &[f64], x: f64) -> f64 {
    coefficients.iter().fold(0.0, |sum, c| sum * x + c)
}

/// The x with Φ(x) = p: Acklam's approximation, then one step of Halley's method on
/// [`normal_cdf`], which brings it to full double precision. The upper half is solved as the
/// mirror of the lower (1 − p is exact there), where Φ has its digits.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        return -normal_quantile(1.0 - p);
    }
    let x = if p < ACKLAM_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        polynomial(&ACKLAM_C, q) / (polynomial(&ACKLAM_D, q) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        polynomial(&ACKLAM_A, r) * q / (polynomial(&ACKLAM_B, r) * r + 1.0)
    };
    let error = normal_cdf(x) - p;
    let u = error * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Wilson's score interval for a proportion of `successes` in `trials`, at `confidence`
/// (0.95 for 95 %). Unlike the normal approximation p ± z·√(p(1−p)/n), it stays inside [0, 1]
/// and does not collapse to a point at 0 or n successes, where small samples often land.
/// With no trials nothing is known: [0, 1].
pub fn wilson_interval(successes: u64, trials: u64, confidence: f64) -> Interval {
    if trials == 0 {
        return Interval::UNKNOWN;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Interval {
        // The ends are exact at 0 and n successes, where rounding could leave 1e-17 over.
        low: if successes == 0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        high: if successes >= trials {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative difference, or absolute near zero.
    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= tolerance * expected.abs().max(1e-300)
    }

    macro_rules! assert_close {
        ($actual:expr, $expected:expr, $tolerance:expr) => {{
            let (a, e) = ($actual, $expected);
            assert!(close(a, e, $tolerance), "{a:e} is not {e:e}");
        }};
    }

    // Expected values: mpmath at 40 digits.

    #[test]
    fn ln_gamma_matches_known_values() {
        assert_close!(ln_gamma(0.5), 0.572_364_942_924_700_1, 1e-14);
        assert_close!(ln_gamma(10.0), 12.801_827_480_081_469, 1e-14);
        assert_close!(ln_gamma(100.0), 359.134_205_369_575_4, 1e-14);
        assert_close!(ln_gamma(1e-3), 6.907_178_885_383_853, 1e-13);
        assert_close!(ln_gamma(1e5), 1_051_287.708_973_656_9, 1e-14);
        assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
    }

    #[test]
    fn incomplete_gamma_matches_known_values() {
        assert_close!(gamma_p(3.0, 2.0), 0.323_323_583_816_936_54, 1e-13);
        assert_close!(gamma_q(50.0, 70.0), 0.005_140_502_458_505_894, 1e-12);
        assert_close!(gamma_p(0.5, 0.01), 0.112_462_916_018_284_9, 1e-13);
        assert_close!(gamma_p(50.0, 70.0) + gamma_q(50.0, 70.0), 1.0, 1e-15);
    }

    #[test]
    fn chi_squared_matches_known_values() {
        assert_close!(
            chi_squared_quantile(0.99, 9.0),
            21.665_994_333_461_924,
            1e-12
        );
        assert_close!(
            chi_squared_cdf(3.841_458_82, 1.0),
            0.949_999_999_979_301_5,
            1e-12
        );
        assert_close!(
            chi_squared_quantile(0.95, 1.0),
            3.841_458_820_694_124_5,
            1e-12
        );
        assert_close!(
            chi_squared_quantile(0.5, 2.0),
            1.386_294_361_119_890_6,
            1e-12
        );
        assert_close!(
            chi_squared_quantile(0.9975, 3.0),
            14.320_347_097_873_482,
            1e-12
        );
        assert_close!(
            chi_squared_quantile(0.99, 50.0),
            76.153_891_249_012_72,
            1e-12
        );
        assert_close!(
            chi_squared_quantile(1e-6, 1.0),
            1.570_796_326_795_719e-12,
            1e-10
        );
        // The double nearest 1 − 1e-9 leaves a tail of 9.99999971718e-10, not 1e-9.
        assert_close!(
            chi_squared_quantile(1.0 - 1e-9, 1.0),
            37.324_893_106_518_72,
            1e-12
        );
        assert_close!(
            chi_squared_quantile(1.0 - 1e-9, 200.0),
            344.142_079_740_004_2,
            1e-12
        );
        assert_close!(
            chi_squared_quantile(1e-6, 200.0),
            118.872_641_396_245_8,
            1e-12
        );
        assert_eq!(chi_squared_quantile(0.5, 0.0), 0.0);
    }

    /// Checked in the tail the quantile was solved in: above the median, 1 − p is exact but
    /// a cumulative probability near 1 has no digits left to compare.
    #[test]
    fn chi_squared_quantile_inverts_the_distribution() {
        let ps = [
            1e-6,
            1e-3,
            0.01,
            0.1,
            0.3,
            0.5,
            0.7,
            0.9,
            0.99,
            0.999,
            1.0 - 1e-6,
        ];
        for k in 1..=200 {
            let k = f64::from(k);
            for &p in &ps {
                let x = chi_squared_quantile(p, k);
                let (got, want) = if p > 0.5 {
                    (chi_squared_survival(x, k), 1.0 - p)
                } else {
                    (chi_squared_cdf(x, k), p)
                };
                assert_close!(got, want, 1e-10);
            }
            let x = chi_squared_quantile(1.0 - 1e-9, k);
            assert_close!(chi_squared_survival(x, k), 1.0 - (1.0 - 1e-9), 1e-10);
        }
    }

    #[test]
    fn normal_matches_known_values() {
        assert_close!(normal_cdf(-1.0), 0.158_655_253_931_457_07, 1e-14);
        assert_close!(normal_cdf(3.0), 0.998_650_101_968_369_9, 1e-14);
        assert_close!(normal_cdf(-8.0), 6.220_960_574_271_784e-16, 1e-12);
        assert_close!(normal_cdf(-30.0), 4.906_713_927_148_187e-198, 1e-11);
        assert_eq!(normal_cdf(0.0), 0.5);
        assert_close!(normal_quantile(0.975), 1.959_963_984_540_054, 1e-14);
        assert_close!(normal_quantile(1e-10), -6.361_340_902_404_056, 1e-13);
        assert_eq!(normal_quantile(0.5), 0.0);
    }

    #[test]
    fn normal_quantile_inverts_the_distribution() {
        for i in 1..1000 {
            let p = f64::from(i) / 1000.0;
            let x = normal_quantile(p);
            assert_close!(normal_cdf(x), p, 1e-13);
            assert_close!(normal_quantile(normal_cdf(x)), x, 1e-11);
        }
        for e in 3..300 {
            let p = 10f64.powi(-e);
            assert_close!(normal_cdf(normal_quantile(p)), p, 1e-12);
        }
    }

    #[test]
    fn wilson_matches_known_values() {
        let none = wilson_interval(0, 10, 0.95);
        assert_eq!(none.low, 0.0);
        assert_close!(none.high, 0.277_532_799_862_889_25, 1e-12);
        let all = wilson_interval(10, 10, 0.95);
        assert_close!(all.low, 0.722_467_200_137_110_7, 1e-12);
        assert_eq!(all.high, 1.0);
        let half = wilson_interval(5, 10, 0.95);
        assert_close!(half.low, 0.236_593_090_512_563_98, 1e-12);
        assert_close!(half.high, 0.763_406_909_487_436_1, 1e-12);
        let some = wilson_interval(37, 100, 0.95);
        assert_close!(some.low, 0.281_823_605_343_245_33, 1e-12);
        assert_close!(some.high, 0.467_794_704_190_570_94, 1e-12);
        assert_eq!(wilson_interval(0, 0, 0.95), Interval::UNKNOWN);
    }
}
