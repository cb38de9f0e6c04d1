//! How a model does on live orders once their outcomes are known: approval rate, bad rate
//! among approved orders, AUC, KS and calibration, each with a confidence interval, since a
//! window of a few hundred matured orders leaves each of them uncertain by several points.
//!
//! Decisions are counted into a [`ScoreAccumulator`]: 1,000 probability bins of goods and
//! bads, and a few totals. Accumulators add up, so one per day gives any window by merging,
//! and a window computed again later gives the same answer. The measures follow
//! `model::metrics`: "positive" is bad (blocked), a higher probability means more likely bad,
//! and with only one outcome there is nothing to rank, so AUC is 0.5 and KS 0 (their
//! intervals then [0, 1]). Binning costs little: probabilities are ranked to 0.001, and ties
//! within a bin count half, exactly as tied scores do in the rank AUC.
//!
//! Champion and challenger scored on the same orders are compared in `paired`.

use super::stats::{Interval, normal_quantile, wilson_interval};
use serde::{Deserialize, Serialize};

/// Equal-width probability bins of an accumulator, over [0, 1] (the last includes 1).
pub const PROBABILITY_BINS: usize = 1_000;
/// Groups of the calibration table, each about a tenth of the orders with an outcome.
pub const CALIBRATION_GROUPS: usize = 10;
/// The confidence of the intervals unless asked otherwise.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// Decided orders counted for [`Performance`]: every order, whether it was approved, and, for
/// those whose outcome the company reported, the outcome by probability bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredAccumulator", into = "StoredAccumulator")]
pub struct ScoreAccumulator {
    orders: u64,
    approved: u64,
    approved_good: u64,
    approved_bad: u64,
    /// Orders with a good outcome, per probability bin.
    good: Vec<u64>,
    /// Orders with a bad outcome, per probability bin.
    bad: Vec<u64>,
}

/// The stored form: the totals, and only the bins holding an outcome, as `[bin, good, bad]`.
/// A day rarely fills more than a few hundred of the 1,000 bins.
#[derive(Serialize, Deserialize)]
struct StoredAccumulator {
    orders: u64,
    approved: u64,
    approved_good: u64,
    approved_bad: u64,
    bins: Vec<[u64; 3]>,
}

#[derive(Debug, thiserror::Error)]
#[error("probability bin {0} is not below {PROBABILITY_BINS}")]
struct BinOutOfRange(u64);

impl TryFrom<StoredAccumulator> for ScoreAccumulator {
    type Error = BinOutOfRange;

    fn try_from(stored: StoredAccumulator) -> Result<Self, Self::Error> {
        let mut accumulator = ScoreAccumulator {
            orders: stored.orders,
            approved: stored.approved,
            approved_good: stored.approved_good,
            approved_bad: stored.approved_bad,
            ..ScoreAccumulator::default()
        };
        for [bin, good, bad] in stored.bins {
            let index = usize::try_from(bin)
                .ok()
                .filter(|&i| i < PROBABILITY_BINS)
                .ok_or(BinOutOfRange(bin))?;
            accumulator.good[index] += good;
            accumulator.bad[index] += bad;
        }
        Ok(accumulator)
    }
}

impl From<ScoreAccumulator> for StoredAccumulator {
    fn from(accumulator: ScoreAccumulator) -> Self {
        let bins = (0..PROBABILITY_BINS)
            .filter(|&i| accumulator.good[i] + accumulator.bad[i] > 0)
            .map(|i| [i as u64, accumulator.good[i], accumulator.bad[i]])
            .collect();
        StoredAccumulator {
            orders: accumulator.orders,
            approved: accumulator.approved,
            approved_good: accumulator.approved_good,
            approved_bad: accumulator.approved_bad,
            bins,
        }
    }
}

impl Default for ScoreAccumulator {
    fn default() -> Self {
        ScoreAccumulator {
            orders: 0,
            approved: 0,
            approved_good: 0,
            approved_bad: 0,
            good: vec![0; PROBABILITY_BINS],
            bad: vec![0; PROBABILITY_BINS],
        }
    }
}

/// The bin of a probability; values outside [0, 1] count at the nearer end.
fn bin_of(probability: f64) -> usize {
    ((probability.clamp(0.0, 1.0) * PROBABILITY_BINS as f64) as usize).min(PROBABILITY_BINS - 1)
}

/// The middle of a bin, standing for the probabilities in it.
fn bin_centre(bin: usize) -> f64 {
    (bin as f64 + 0.5) / PROBABILITY_BINS as f64
}

impl ScoreAccumulator {
    pub fn new() -> ScoreAccumulator {
        ScoreAccumulator::default()
    }

    /// Counts one decided order: the model's probability that it is bad, whether it was
    /// approved, and its outcome if known (`Some(true)` for bad). A NaN probability counts
    /// towards orders, approvals and the bad rate, but cannot be ranked.
    pub fn record(&mut self, probability: f64, approved: bool, bad: Option<bool>) {
        self.orders += 1;
        self.approved += u64::from(approved);
        if let Some(bad) = bad {
            if approved {
                self.approved_bad += u64::from(bad);
                self.approved_good += u64::from(!bad);
            }
            if !probability.is_nan() {
                let bin = bin_of(probability);
                if bad {
                    self.bad[bin] += 1;
                } else {
                    self.good[bin] += 1;
                }
            }
        }
    }

    /// Adds `other`'s orders to these.
    pub fn merge(&mut self, other: &ScoreAccumulator) {
        self.orders += other.orders;
        self.approved += other.approved;
        self.approved_good += other.approved_good;
        self.approved_bad += other.approved_bad;
        for (count, more) in self.good.iter_mut().zip(&other.good) {
            *count += more;
        }
        for (count, more) in self.bad.iter_mut().zip(&other.bad) {
            *count += more;
        }
    }

    pub fn orders(&self) -> u64 {
        self.orders
    }

    /// The measures, with intervals at `confidence` (0.95 for 95 %).
    pub fn performance(&self, confidence: f64) -> Performance {
        let ranked = Ranked::new(&self.good, &self.bad, confidence);
        let matured_approved = self.approved_good + self.approved_bad;
        Performance {
            confidence,
            orders: self.orders,
            approved: self.approved,
            approval_rate: ratio(self.approved, self.orders),
            approval_rate_interval: wilson_interval(self.approved, self.orders, confidence),
            matured_approved,
            approved_bad: self.approved_bad,
            bad_rate: ratio(self.approved_bad, matured_approved),
            bad_rate_interval: wilson_interval(self.approved_bad, matured_approved, confidence),
            goods: ranked.goods,
            bads: ranked.bads,
            auc: ranked.auc,
            auc_standard_error: ranked.auc_variance.sqrt(),
            auc_interval: ranked.auc_interval(),
            ks: ranked.ks(),
            ks_interval: ranked.ks_interval(),
            calibration: calibration(&self.good, &self.bad, confidence),
        }
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// A model's live measures over a window. A ratio with nothing to divide by is 0 and its
/// interval [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Performance {
    /// Of every interval below.
    pub confidence: f64,
    /// Orders decided.
    pub orders: u64,
    pub approved: u64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub approval_rate: f64,
    pub approval_rate_interval: Interval,
    /// Approved orders whose outcome is known.
    pub matured_approved: u64,
    /// Of those, the bad ones.
    pub approved_bad: u64,
    /// The share of matured approved orders that went bad: the loss the approvals carry.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub bad_rate: f64,
    pub bad_rate_interval: Interval,
    /// Orders with a probability and a known outcome, approved or not, by outcome: what AUC,
    /// KS and calibration are measured on.
    pub goods: u64,
    pub bads: u64,
    /// Area under the ROC curve: the chance a bad order has a higher probability than a good
    /// one, ties counting half.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub auc: f64,
    /// DeLong's standard error of the AUC.
    pub auc_standard_error: f64,
    /// DeLong's interval, built on the logit scale and mapped back, so it stays inside
    /// [0, 1] and is asymmetric near the ends as the AUC's spread is. Where DeLong's variance
    /// is 0 (every pair ranked alike, as in perfect separation), Hoeffding's bound for
    /// U-statistics stands in: the AUC moves by more than √(ln(2/α) / 2k), k the rarer
    /// outcome's count, with probability at most α.
    pub auc_interval: Interval,
    /// Kolmogorov–Smirnov: the largest gap between the shares of bad and of good orders above
    /// a cut, over the bins' edges.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub ks: f64,
    /// From the Dvoretzky–Kiefer–Wolfowitz inequality (Massart's constant): each outcome's
    /// observed distribution is within √(ln(4/α) / 2n) of its true one everywhere with
    /// probability 1 − α/2, whatever the distribution, so KS is within the sum of the two.
    /// Conservative (wider than needed), but it needs no assumption and no resampling, which
    /// a window's counts could not provide.
    pub ks_interval: Interval,
    /// Orders with an outcome in groups of about a tenth each, by probability: predicted
    /// against observed.
    pub calibration: Vec<CalibrationRow>,
}

/// One group of the calibration table: orders whose probability is in [from, to).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalibrationRow {
    pub from: f64,
    pub to: f64,
    pub orders: u64,
    pub bads: u64,
    /// What the model predicted: the mean probability, each order at its bin's middle
    /// (within 0.0005 of its own).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub mean_probability: f64,
    /// What happened.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub bad_share: f64,
    /// Wilson's interval of the bad share: calibrated groups have their mean probability in it
    /// about as often as the confidence says.
    pub bad_share_interval: Interval,
}

/// Goods and bads by bin, with the AUC, its variance and what the intervals need.
struct Ranked<'a> {
    good: &'a [u64],
    bad: &'a [u64],
    goods: u64,
    bads: u64,
    auc: f64,
    auc_variance: f64,
    confidence: f64,
}

impl<'a> Ranked<'a> {
    /// DeLong's placements from bins: within a bin scores tie, so a bad order in bin i sits
    /// above the goods of lower bins and half of bin i's, and a good one below the bads of
    /// higher bins and half of its own. The AUC is the mean placement of the bads (equally
    /// that of the goods); its variance S10/bads + S01/goods, each S the sample variance of
    /// one outcome's placements.
    fn new(good: &'a [u64], bad: &'a [u64], confidence: f64) -> Ranked<'a> {
        let goods: u64 = good.iter().sum();
        let bads: u64 = bad.iter().sum();
        let mut ranked = Ranked {
            good,
            bad,
            goods,
            bads,
            auc: 0.5,
            auc_variance: 0.0,
            confidence,
        };
        if goods == 0 || bads == 0 {
            return ranked;
        }
        let (g, b) = (goods as f64, bads as f64);
        // Placement of a bad in each bin, and of a good.
        let mut goods_below = 0u64;
        let mut bad_placement = vec![0.0; good.len()];
        for i in 0..good.len() {
            bad_placement[i] = (goods_below as f64 + 0.5 * good[i] as f64) / g;
            goods_below += good[i];
        }
        let mut bads_above = 0u64;
        let mut good_placement = vec![0.0; good.len()];
        for i in (0..good.len()).rev() {
            good_placement[i] = (bads_above as f64 + 0.5 * bad[i] as f64) / b;
            bads_above += bad[i];
        }
        let weighted = |counts: &[u64], values: &[f64]| -> f64 {
            counts.iter().zip(values).map(|(&c, v)| c as f64 * v).sum()
        };
        let auc = weighted(bad, &bad_placement) / b;
        let spread = |counts: &[u64], values: &[f64], n: u64| -> f64 {
            let squares: Vec<f64> = values.iter().map(|v| (v - auc).powi(2)).collect();
            weighted(counts, &squares) / (n.max(2) - 1) as f64
        };
        let s10 = spread(bad, &bad_placement, bads);
        let s01 = spread(good, &good_placement, goods);
        ranked.auc = auc;
        ranked.auc_variance = s10 / b + s01 / g;
        ranked
    }

    fn z(&self) -> f64 {
        normal_quantile(1.0 - (1.0 - self.confidence) / 2.0)
    }

    fn auc_interval(&self) -> Interval {
        if self.goods == 0 || self.bads == 0 {
            return Interval::UNKNOWN;
        }
        let a = self.auc;
        if self.auc_variance > 0.0 && a > 0.0 && a < 1.0 {
            let logit = (a / (1.0 - a)).ln();
            let spread = self.z() * self.auc_variance.sqrt() / (a * (1.0 - a));
            let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
            return Interval {
                low: expit(logit - spread),
                high: expit(logit + spread),
            };
        }
        let alpha = 1.0 - self.confidence;
        let k = self.goods.min(self.bads) as f64;
        let half = ((2.0 / alpha).ln() / (2.0 * k)).sqrt();
        Interval {
            low: (a - half).max(0.0),
            high: (a + half).min(1.0),
        }
    }

    /// The largest share of bads minus share of goods above a bin edge (0 if the model ranks
    /// every way backwards), as `model::metrics` counts it.
    fn ks(&self) -> f64 {
        if self.goods == 0 || self.bads == 0 {
            return 0.0;
        }
        let (mut goods_below, mut bads_below) = (0u64, 0u64);
        let mut ks: f64 = 0.0;
        for (g, b) in self.good.iter().zip(self.bad) {
            goods_below += g;
            bads_below += b;
            let gap = goods_below as f64 / self.goods as f64 - bads_below as f64 / self.bads as f64;
            ks = ks.max(gap);
        }
        ks
    }

    fn ks_interval(&self) -> Interval {
        if self.goods == 0 || self.bads == 0 {
            return Interval::UNKNOWN;
        }
        let alpha = 1.0 - self.confidence;
        let epsilon = |n: u64| ((4.0 / alpha).ln() / (2.0 * n as f64)).sqrt();
        let half = epsilon(self.goods) + epsilon(self.bads);
        let ks = self.ks();
        Interval {
            low: (ks - half).max(0.0),
            high: (ks + half).min(1.0),
        }
    }
}

/// Bins in probability order, cut into groups of about a tenth of the orders with an outcome:
/// a bin joins the group its middle order falls in, so a bin holding many orders is never
/// split and groups come out unequal when one does.
fn calibration(good: &[u64], bad: &[u64], confidence: f64) -> Vec<CalibrationRow> {
    let total: u64 = good.iter().zip(bad).map(|(g, b)| g + b).sum();
    let mut rows: Vec<(usize, CalibrationRow)> = Vec::new();
    let mut before = 0u64;
    for (bin, (&g, &b)) in good.iter().zip(bad).enumerate() {
        let orders = g + b;
        if orders == 0 {
            continue;
        }
        let middle = before as f64 + orders as f64 / 2.0;
        let group = ((middle * CALIBRATION_GROUPS as f64 / total as f64) as usize)
            .min(CALIBRATION_GROUPS - 1);
        before += orders;
        let to = (bin + 1) as f64 / PROBABILITY_BINS as f64;
        let predicted = orders as f64 * bin_centre(bin);
        match rows.last_mut() {
            Some((last, row)) if *last == group => {
                row.to = to;
                row.orders += orders;
                row.bads += b;
                // The sum of probabilities until the rows are finished.
                row.mean_probability += predicted;
            }
            _ => rows.push((
                group,
                CalibrationRow {
                    from: bin as f64 / PROBABILITY_BINS as f64,
                    to,
                    orders,
                    bads: b,
                    mean_probability: predicted,
                    bad_share: 0.0,
                    bad_share_interval: Interval::UNKNOWN,
                },
            )),
        }
    }
    rows.into_iter()
        .map(|(_, row)| CalibrationRow {
            mean_probability: row.mean_probability / row.orders as f64,
            bad_share: ratio(row.bads, row.orders),
            bad_share_interval: wilson_interval(row.bads, row.orders, confidence),
            ..row
        })
        .collect()
}

#[cfg(test)]
mod tests;
