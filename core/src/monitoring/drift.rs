//! Whether the orders a model now scores still look like those it trained on: the Population
//! Stability Index (PSI) of each feature and of the score, between the training sample and a
//! window of live orders, against a threshold that accounts for how many orders each holds.
//!
//! Both samples are counted into the same cells, quantile bins learnt from the training values
//! ([`Bins`]), so a window is a [`Histogram`] of counts, and the histograms of days add up to
//! the histogram of any range of days.
//!
//! Why not the usual fixed rule (PSI ≥ 0.1 is a shift): PSI measures noise too. With no drift
//! at all, PSI ≈ (1/n + 1/m)·χ²_{B−1} for samples of n and m values in B bins (it is, to
//! second order, Pearson's chi-squared statistic of the two samples, scaled by 1/n + 1/m). A
//! window of 100 orders against 10,000 in 10 bins has an expected PSI near 0.09 by chance
//! alone, so the rule fires on noise; a window of 100,000 has one near 0.001, so a real shift
//! of 0.05 goes unreported. Alarming above the (1 − α) quantile of that distribution instead
//! false-alarms at rate α whatever the sizes, and catches smaller shifts the more orders there
//! are. The conventional bands are reported beside it ([`PsiBand`]) because people know them,
//! but they do not raise the alarm.

use super::stats::chi_squared_quantile;
use serde::{Deserialize, Serialize};

/// Quantile bins learnt per feature: 10, the customary number for PSI.
pub const DEFAULT_BINS: usize = 10;
/// The chance that a report on a window drawn like the training sample suggests retraining.
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Added to every cell's count before the shares are taken, so that a cell empty in one
/// sample has a finite logarithm (Jeffreys' prior; small next to any cell worth comparing).
const SMOOTHING: f64 = 0.5;

/// The cells one feature's values are counted in: up to `max_bins` ranges holding equal
/// shares of the training values, plus one cell for missing values (NaN).
///
/// Cell `i` holds values in `[edges[i−1], edges[i])` (unbounded at both ends); the last cell,
/// `edges.len() + 1`, holds missing values. Repeated quantiles are kept once, so a feature with
/// few distinct values gets fewer cells and a constant one a single cell, which never drifts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bins {
    edges: Vec<f64>,
}

impl Bins {
    /// Edges at the 1/B, 2/B, … quantiles of the reference's values that are not missing.
    /// An edge equal to the smallest value would leave the cell below it empty, and an
    /// infinite one cannot be stored in JSON, so neither is kept.
    pub fn learn(reference: &[f64], max_bins: usize) -> Bins {
        let mut values: Vec<f64> = reference.iter().copied().filter(|v| !v.is_nan()).collect();
        values.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = Vec::new();
        if let Some(&smallest) = values.first() {
            for i in 1..max_bins {
                let cut = values[i * values.len() / max_bins];
                let above_last = edges.last().is_none_or(|&last| cut > last);
                if cut > smallest && cut.is_finite() && above_last {
                    edges.push(cut);
                }
            }
        }
        Bins { edges }
    }

    /// One cell per whole number in `0..count` (a category's level indices), plus the one
    /// for missing values.
    pub fn per_index(count: usize) -> Bins {
        Bins {
            edges: (1..count).map(|i| i as f64 - 0.5).collect(),
        }
    }

    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// Cells, the one for missing values included.
    pub fn cells(&self) -> usize {
        self.edges.len() + 2
    }

    /// The cell `value` is counted in.
    pub fn index(&self, value: f64) -> usize {
        if value.is_nan() {
            self.edges.len() + 1
        } else {
            self.edges.partition_point(|&edge| edge <= value)
        }
    }

    /// An empty histogram over these cells.
    pub fn histogram(&self) -> Histogram {
        Histogram {
            counts: vec![0; self.cells()],
        }
    }

    /// The histogram of `values`.
    pub fn count(&self, values: &[f64]) -> Histogram {
        let mut histogram = self.histogram();
        for &value in values {
            histogram.counts[self.index(value)] += 1;
        }
        histogram
    }
}

/// Counts of values per cell of some [`Bins`]. Histograms over the same bins add up: the
/// histogram of a window is the sum of those of its days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Histogram {
    counts: Vec<u64>,
}

/// Two histograms were not counted in the same cells, so adding or comparing them would mix
/// different ranges of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("histograms of {left} and {right} cells cannot be combined")]
pub struct ShapeMismatch {
    pub left: usize,
    pub right: usize,
}

impl Histogram {
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Counts `value` in its cell of `bins`, the bins this histogram was made from.
    pub fn add(&mut self, bins: &Bins, value: f64) {
        if let Some(count) = self.counts.get_mut(bins.index(value)) {
            *count += 1;
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), ShapeMismatch> {
        self.same_shape(other)?;
        for (count, more) in self.counts.iter_mut().zip(&other.counts) {
            *count += more;
        }
        Ok(())
    }

    fn same_shape(&self, other: &Histogram) -> Result<(), ShapeMismatch> {
        if self.counts.len() == other.counts.len() {
            Ok(())
        } else {
            Err(ShapeMismatch {
                left: self.counts.len(),
                right: other.counts.len(),
            })
        }
    }
}

impl From<Vec<u64>> for Histogram {
    fn from(counts: Vec<u64>) -> Self {
        Histogram { counts }
    }
}

/// The Population Stability Index Σ (p − q)·ln(p/q) of two samples' counts over the same
/// cells, with every count raised by 0.5 before the shares p and q are taken. Cells empty in
/// both samples are left out (they say nothing); a cell present in only one slice counts as
/// empty in the other. Symmetric, and 0 for identical shares.
pub fn psi(reference: &[u64], window: &[u64]) -> f64 {
    psi_and_cells(reference, window).0
}

/// The PSI and B, the number of cells with a value in either sample.
fn psi_and_cells(reference: &[u64], window: &[u64]) -> (f64, usize) {
    let cells = reference.len().max(window.len());
    let at = |counts: &[u64], i: usize| counts.get(i).copied().unwrap_or(0);
    let used: Vec<(u64, u64)> = (0..cells)
        .map(|i| (at(reference, i), at(window, i)))
        .filter(|&(r, w)| r + w > 0)
        .collect();
    let smoothing = SMOOTHING * used.len() as f64;
    let reference_total = used.iter().map(|c| c.0).sum::<u64>() as f64 + smoothing;
    let window_total = used.iter().map(|c| c.1).sum::<u64>() as f64 + smoothing;
    let psi = used
        .iter()
        .map(|&(r, w)| {
            let p = (r as f64 + SMOOTHING) / reference_total;
            let q = (w as f64 + SMOOTHING) / window_total;
            (p - q) * (p / q).ln()
        })
        .sum();
    (psi, used.len())
}

/// The PSI above which two samples of `window_size` and `reference_size` values over `bins`
/// cells with data differ by more than chance, at false-alarm rate `alpha`:
/// (1/n + 1/m)·χ²_{B−1}(1 − α). 0 when there is nothing to compare (one cell, or an empty
/// sample), where the PSI is 0 too and the strict comparison never alarms.
pub fn psi_threshold(bins: usize, window_size: u64, reference_size: u64, alpha: f64) -> f64 {
    if bins <= 1 || window_size == 0 || reference_size == 0 {
        return 0.0;
    }
    let scale = 1.0 / window_size as f64 + 1.0 / reference_size as f64;
    scale * chi_squared_quantile(1.0 - alpha, (bins - 1) as f64)
}

/// The conventional reading of a PSI: below 0.1 stable, up to 0.25 a moderate shift, above a
/// significant one. Shown because people know it; it ignores sample size, so it does not
/// raise the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PsiBand {
    Stable,
    Moderate,
    Significant,
}

impl PsiBand {
    pub fn of(psi: f64) -> PsiBand {
        if psi < 0.1 {
            PsiBand::Stable
        } else if psi < 0.25 {
            PsiBand::Moderate
        } else {
            PsiBand::Significant
        }
    }
}

/// One feature's (or the score's) training values against a window's.
#[derive(Debug, Clone, Copy)]
pub struct Compared<'a> {
    pub name: &'a str,
    pub reference: &'a Histogram,
    pub window: &'a Histogram,
}

/// How far one feature's window has moved from its training values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeatureDrift {
    pub name: String,
    pub psi: f64,
    /// The PSI chance alone exceeds with probability α/(tests in the report).
    pub threshold: f64,
    pub band: PsiBand,
    /// The PSI is above the threshold.
    pub drifting: bool,
    /// Cells with a value in either sample (B).
    pub bins: usize,
    /// Values in the window (n).
    pub window_size: u64,
    /// Values in the training sample (m).
    pub reference_size: u64,
}

impl FeatureDrift {
    /// Tests one feature at false-alarm rate `alpha`.
    pub fn test(compared: Compared<'_>, alpha: f64) -> Result<FeatureDrift, ShapeMismatch> {
        compared.reference.same_shape(compared.window)?;
        let window_size = compared.window.total();
        let reference_size = compared.reference.total();
        let (psi, bins) = if window_size == 0 || reference_size == 0 {
            (0.0, 0)
        } else {
            psi_and_cells(&compared.reference.counts, &compared.window.counts)
        };
        let threshold = psi_threshold(bins, window_size, reference_size, alpha);
        Ok(FeatureDrift {
            name: compared.name.to_owned(),
            psi,
            threshold,
            band: PsiBand::of(psi),
            drifting: bins > 1 && psi > threshold,
            bins,
            window_size,
            reference_size,
        })
    }

    /// How many times its threshold the PSI is; 0 with nothing to compare.
    pub fn severity(&self) -> f64 {
        if self.threshold > 0.0 {
            self.psi / self.threshold
        } else {
            0.0
        }
    }
}

/// The drift of a window: the score and each feature, each tested at α/(features + 1) so
/// that a window drawn like the training sample suggests retraining with probability at most
/// α (Bonferroni's bound: close to the actual rate when the features are independent, above
/// it when they move together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftReport {
    /// The false-alarm rate of the whole report.
    pub alpha: f64,
    /// The false-alarm rate of each test in it.
    pub alpha_per_test: f64,
    pub score: FeatureDrift,
    pub features: Vec<FeatureDrift>,
    /// The score or some feature is drifting.
    pub retrain_suggested: bool,
}

impl DriftReport {
    pub fn compute(
        score: Compared<'_>,
        features: &[Compared<'_>],
        alpha: f64,
    ) -> Result<DriftReport, ShapeMismatch> {
        let alpha_per_test = alpha / (features.len() + 1) as f64;
        let score = FeatureDrift::test(score, alpha_per_test)?;
        let features = features
            .iter()
            .map(|&f| FeatureDrift::test(f, alpha_per_test))
            .collect::<Result<Vec<_>, _>>()?;
        let retrain_suggested = score.drifting || features.iter().any(|f| f.drifting);
        Ok(DriftReport {
            alpha,
            alpha_per_test,
            score,
            features,
            retrain_suggested,
        })
    }

    /// Up to `count` drifting features, furthest above their thresholds first: the ratio
    /// rather than the PSI, since thresholds differ with each feature's bins.
    pub fn top_drifting(&self, count: usize) -> Vec<&FeatureDrift> {
        let mut drifting: Vec<&FeatureDrift> =
            self.features.iter().filter(|f| f.drifting).collect();
        drifting.sort_by(|a, b| b.severity().total_cmp(&a.severity()));
        drifting.truncate(count);
        drifting
    }
}

#[cfg(test)]
mod tests;
