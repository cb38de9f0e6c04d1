//! What a model version's orders looked like when it was trained, kept with the version so
//! that the orders it scores later can be compared with them: for the score and for each
//! feature, the cells values are counted in and the training sample's counts in those cells.
//!
//! A decision keeps its model's features as one number each, its *drift values*, in the order
//! of the model's features: a number as it is, a category as the index of its level (the
//! index after the last level for a level too rare or unseen in training), NaN when missing.
//! A [`DriftWindow`] counts the decisions of a window into the reference's cells, and the
//! [`DriftReport`] compares the two.

use super::drift::{Bins, Compared, DEFAULT_BINS, DriftReport, Histogram, ShapeMismatch};
use serde::{Deserialize, Serialize};

/// Training rows a reference is learnt from at most: an evenly spread sample of a larger
/// training. Thresholds account for the sample's size, and 200,000 values put quantiles to
/// within a fraction of a percent.
pub const MAX_REFERENCE_ROWS: usize = 200_000;

/// One feature's (or the score's) cells and the training sample's counts in them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub name: String,
    pub bins: Bins,
    pub counts: Histogram,
}

impl Distribution {
    /// Quantile cells learnt from the values, and their counts.
    pub fn of_numbers(name: &str, values: &[f64]) -> Distribution {
        let bins = Bins::learn(values, DEFAULT_BINS);
        let counts = bins.count(values);
        Distribution {
            name: name.to_owned(),
            bins,
            counts,
        }
    }

    /// One cell per level index in `0..=levels` (the last for "other"), and their counts.
    pub fn of_levels(name: &str, levels: usize, values: &[f64]) -> Distribution {
        let bins = Bins::per_index(levels + 1);
        let counts = bins.count(values);
        Distribution {
            name: name.to_owned(),
            bins,
            counts,
        }
    }
}

/// One feature's values in the reference sample, as drift values.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSample {
    pub name: String,
    /// `Some(levels)` for a category (values are level indices), `None` for a number.
    pub levels: Option<usize>,
    pub values: Vec<f64>,
}

/// The training distributions of a model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// The version's probabilities on its holdout: orders it did not learn from, so they are
    /// distributed as the probabilities of new orders like them.
    pub score: Distribution,
    /// Each of the model's features, in the order of a decision's drift values.
    pub features: Vec<Distribution>,
}

impl DriftReference {
    pub fn learn(holdout_probabilities: &[f64], features: &[FeatureSample]) -> DriftReference {
        DriftReference {
            score: Distribution::of_numbers("score", holdout_probabilities),
            features: features
                .iter()
                .map(|f| match f.levels {
                    Some(levels) => Distribution::of_levels(&f.name, levels, &f.values),
                    None => Distribution::of_numbers(&f.name, &f.values),
                })
                .collect(),
        }
    }

    /// An empty window over this reference's cells.
    pub fn window(&self) -> DriftWindow {
        DriftWindow {
            score: self.score.bins.histogram(),
            features: self.features.iter().map(|f| f.bins.histogram()).collect(),
            decisions: 0,
            without_values: 0,
        }
    }
}

/// The decisions of a window, counted into a reference's cells.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftWindow {
    score: Histogram,
    features: Vec<Histogram>,
    decisions: u64,
    without_values: u64,
}

impl DriftWindow {
    /// Counts one decision: its probability and its drift values. A decision without values
    /// (recorded before they were kept), or with values of another length than the
    /// reference's features, cannot be matched to them: it is left out, and counted as such.
    pub fn add(&mut self, reference: &DriftReference, probability: f64, values: Option<&[f64]>) {
        let Some(values) = values.filter(|v| v.len() == reference.features.len()) else {
            self.without_values += 1;
            return;
        };
        self.decisions += 1;
        self.score.add(&reference.score.bins, probability);
        for ((histogram, feature), &value) in self
            .features
            .iter_mut()
            .zip(&reference.features)
            .zip(values)
        {
            histogram.add(&feature.bins, value);
        }
    }

    /// Decisions counted.
    pub fn decisions(&self) -> u64 {
        self.decisions
    }

    /// Decisions left out: no drift values, or not the reference's features.
    pub fn without_values(&self) -> u64 {
        self.without_values
    }

    /// The window against the reference, the whole report at false-alarm rate `alpha`.
    pub fn report(
        &self,
        reference: &DriftReference,
        alpha: f64,
    ) -> Result<DriftReport, ShapeMismatch> {
        let score = Compared {
            name: &reference.score.name,
            reference: &reference.score.counts,
            window: &self.score,
        };
        let features: Vec<Compared<'_>> = reference
            .features
            .iter()
            .zip(&self.features)
            .map(|(f, window)| Compared {
                name: &f.name,
                reference: &f.counts,
                window,
            })
            .collect();
        DriftReport::compute(score, &features, alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> DriftReference {
        let amounts: Vec<f64> = (0..10_000).map(|i| f64::from(i % 1_000)).collect();
        let regions: Vec<f64> = (0..10_000).map(|i| f64::from(i % 3)).collect();
        let scores: Vec<f64> = (0..2_000).map(|i| f64::from(i) / 2_000.0).collect();
        DriftReference::learn(
            &scores,
            &[
                FeatureSample {
                    name: "order.amount".to_owned(),
                    levels: None,
                    values: amounts,
                },
                FeatureSample {
                    name: "customer.region".to_owned(),
                    levels: Some(2),
                    values: regions,
                },
            ],
        )
    }

    #[test]
    fn a_category_has_one_cell_per_level_other_and_missing() {
        let reference = reference();
        let region = &reference.features[1];
        assert_eq!(region.bins.cells(), 4);
        assert_eq!(region.counts.counts(), &[3_334, 3_333, 3_333, 0]);
        assert_eq!(region.bins.index(f64::NAN), 3);
    }

    #[test]
    fn a_window_like_training_is_quiet_and_a_shifted_one_names_its_feature() {
        let reference = reference();
        let mut like = reference.window();
        let mut shifted = reference.window();
        for i in 0..2_000_u32 {
            let score = f64::from((i * 7) % 2_000) / 2_000.0;
            let region = f64::from(i % 3);
            like.add(
                &reference,
                score,
                Some(&[f64::from((i * 7) % 1_000), region]),
            );
            shifted.add(
                &reference,
                score,
                Some(&[f64::from(500 + (i * 7) % 500), region]),
            );
        }
        like.add(&reference, 0.5, Some(&[1.0]));
        like.add(&reference, 0.5, None);
        assert_eq!(like.decisions(), 2_000);
        assert_eq!(like.without_values(), 2);
        let quiet = like.report(&reference, 0.01).expect("same cells");
        assert!(!quiet.retrain_suggested, "{quiet:?}");
        let moved = shifted.report(&reference, 0.01).expect("same cells");
        assert!(moved.retrain_suggested);
        let top: Vec<&str> = moved
            .top_drifting(3)
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(top, ["order.amount"]);
    }
}
