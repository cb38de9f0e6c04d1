//! The candidate learners behind one interface: fit on encoded rows, score on the log-odds
//! scale, and explain a score as a base value plus one contribution per encoded column.

mod boosting;
mod forest;
mod logistic;
mod treeshap;

use super::sample::spread_sample;
use super::spec::Design;
use crate::features::Direction;
use serde::{Deserialize, Serialize};

/// A kind of model. Every training fits each as a candidate and keeps the one with the best
/// validation ROC AUC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Learner {
    GradientBoosting,
    LogisticRegression,
    RandomForest,
}

impl Learner {
    pub const ALL: [Learner; 3] = [
        Learner::GradientBoosting,
        Learner::LogisticRegression,
        Learner::RandomForest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Learner::GradientBoosting => "gradient_boosting",
            Learner::LogisticRegression => "logistic_regression",
            Learner::RandomForest => "random_forest",
        }
    }
}

impl std::fmt::Display for Learner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostingSettings {
    pub iterations: usize,
    pub learning_rate: f32,
    /// Explanations keep a table of d·2^d values per leaf for the d features on its path, so
    /// this stays small (3 by default: at most 24 per leaf; 8 would mean 2,048).
    pub max_depth: usize,
    pub l2: f32,
    /// Least hessian per leaf (each row adds p(1−p) ≤ ¼): keeps leaves from fitting a few rows.
    pub min_leaf_weight: f32,
    pub colsample_bytree: f64,
    /// Apply monotone constraints to features whose direction is known.
    pub monotone: bool,
    /// Use every core while fitting (prediction is always single-threaded).
    pub parallel: bool,
}

impl Default for BoostingSettings {
    fn default() -> Self {
        BoostingSettings {
            iterations: 300,
            learning_rate: 0.03,
            max_depth: 3,
            l2: 1.0,
            min_leaf_weight: 3.0,
            colsample_bytree: 0.8,
            monotone: true,
            parallel: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticSettings {
    /// L2 penalties on the standardised coefficients, per training row (linfa sums the loss
    /// over rows, so a fixed penalty would weaken as data grows); each is cross-validated and
    /// the best is kept. Few rows and many categories want a strong one.
    pub penalties: Vec<f64>,
    pub max_iterations: u64,
    /// At most this many rows (evenly spread, each outcome in proportion) fit each model: a
    /// hundred-odd coefficients are pinned down well before that, while linfa's solver slows
    /// faster than the rows grow (at 60,000 rows a fit took 10× one at 15,000).
    #[serde(default = "default_logistic_max_rows")]
    pub max_rows: usize,
}

fn default_logistic_max_rows() -> usize {
    LogisticSettings::default().max_rows
}

impl Default for LogisticSettings {
    fn default() -> Self {
        LogisticSettings {
            penalties: vec![0.02, 0.2, 1.0],
            max_iterations: 200,
            max_rows: 20_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestSettings {
    pub trees: usize,
    pub max_depth: usize,
    pub min_leaf: f32,
    /// Share of columns drawn (with replacement) for each tree.
    pub feature_proportion: f64,
    /// At most this many rows (drawn at random) fit each forest: linfa's trees cost time in
    /// proportion to all rows at every node, and the baseline must not dominate training.
    pub max_rows: usize,
}

impl Default for ForestSettings {
    fn default() -> Self {
        ForestSettings {
            trees: 100,
            max_depth: 8,
            min_leaf: 3.0,
            feature_proportion: 0.6,
            max_rows: 2_500,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Fitted {
    GradientBoosting(boosting::Boosted),
    LogisticRegression(logistic::Logistic),
    RandomForest(forest::Forest),
}

/// Everything a fit needs besides the rows.
#[derive(Clone, Copy)]
pub(crate) struct FitSettings<'a> {
    pub(crate) boosting: &'a BoostingSettings,
    /// The one penalty (per row) of `LogisticSettings::penalties` this fit uses.
    pub(crate) logistic_penalty: f64,
    pub(crate) logistic_iterations: u64,
    pub(crate) logistic_max_rows: usize,
    pub(crate) forest: &'a ForestSettings,
    pub(crate) directions: &'a [Option<Direction>],
    pub(crate) seed: u64,
}

impl Fitted {
    pub(crate) fn fit(
        learner: Learner,
        design: &Design,
        blocked: &[bool],
        settings: &FitSettings<'_>,
    ) -> Result<Fitted, String> {
        Ok(match learner {
            Learner::GradientBoosting => Fitted::GradientBoosting(boosting::Boosted::fit(
                design,
                blocked,
                settings.directions,
                settings.boosting,
                settings.seed,
            )?),
            Learner::LogisticRegression => {
                let sample = spread_sample(blocked, settings.logistic_max_rows).map(|rows| {
                    let labels: Vec<bool> = rows.iter().map(|&i| blocked[i]).collect();
                    (design.select(&rows), labels)
                });
                let (design, blocked) = match &sample {
                    Some((design, labels)) => (design, labels.as_slice()),
                    None => (design, blocked),
                };
                Fitted::LogisticRegression(logistic::Logistic::fit(
                    design,
                    blocked,
                    settings.logistic_penalty * design.rows as f64,
                    settings.logistic_iterations,
                )?)
            }
            Learner::RandomForest => Fitted::RandomForest(forest::Forest::fit(
                design,
                blocked,
                settings.forest,
                settings.seed,
            )?),
        })
    }

    /// How many of the rows labelled `blocked` a fit of `learner` learns from: some cap them.
    pub(crate) fn rows_used(
        learner: Learner,
        blocked: &[bool],
        settings: &FitSettings<'_>,
    ) -> usize {
        let rows = blocked.len();
        match learner {
            Learner::GradientBoosting => rows,
            Learner::LogisticRegression => spread_sample(blocked, settings.logistic_max_rows)
                .map_or(rows, |sample| sample.len()),
            Learner::RandomForest => rows.min(settings.forest.max_rows),
        }
    }

    pub(crate) fn raw_score(&self, row: &[f64]) -> f64 {
        match self {
            Fitted::GradientBoosting(m) => m.raw_score(row),
            Fitted::LogisticRegression(m) => m.raw_score(row),
            Fitted::RandomForest(m) => m.raw_score(row),
        }
    }

    pub(crate) fn raw_scores(&self, design: &Design) -> Vec<f64> {
        match self {
            Fitted::GradientBoosting(m) => m.raw_scores(design),
            _ => (0..design.rows)
                .map(|r| self.raw_score(&design.row(r)))
                .collect(),
        }
    }

    /// The base value and one contribution per encoded column, adding up to the raw score.
    pub(crate) fn contributions(&self, row: &[f64]) -> (f64, Vec<f64>) {
        match self {
            Fitted::GradientBoosting(m) => m.contributions(row),
            Fitted::LogisticRegression(m) => m.contributions(row),
            Fitted::RandomForest(m) => m.contributions(row),
        }
    }

    /// The contributions and the raw score they add up to (one pass for boosted trees).
    pub(crate) fn explain_row(&self, row: &[f64]) -> RowExplanation {
        if let Fitted::GradientBoosting(m) = self {
            return m.explain_row(row);
        }
        let (base, per_column) = self.contributions(row);
        RowExplanation {
            base,
            per_column,
            raw_score: self.raw_score(row),
        }
    }
}

#[cfg(test)]
impl Fitted {
    /// The boosted trees, for tests that look inside them.
    pub(crate) fn boosted(&self) -> &boosting::Boosted {
        match self {
            Fitted::GradientBoosting(boosted) => boosted,
            _ => panic!("a gradient boosting model"),
        }
    }
}

/// One encoded row's explanation on the raw (log-odds) scale.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowExplanation {
    pub(crate) base: f64,
    /// One contribution per encoded column; with `base`, they add up to `raw_score`.
    pub(crate) per_column: Vec<f64>,
    pub(crate) raw_score: f64,
}

pub(crate) fn sigmoid(raw: f64) -> f64 {
    if raw >= 0.0 {
        1.0 / (1.0 + (-raw).exp())
    } else {
        let e = raw.exp();
        e / (1.0 + e)
    }
}
