//! What a training is asked for, and why it can fail.

use super::learners::{BoostingSettings, ForestSettings, Learner, LogisticSettings};
use crate::outcome::TrainingLabel;
use serde::{Deserialize, Serialize};

/// Fewer orders than this cannot both train a model and say how good it is.
pub const MIN_EXAMPLES: usize = 50;
/// Each outcome needs at least this many orders for the model to learn what sets it apart.
pub const MIN_PER_OUTCOME: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingOptions {
    /// Share of the orders, the newest, kept aside to judge the model.
    pub holdout_fraction: f64,
    /// Folds of the training part for choosing the learner and the threshold.
    pub folds: usize,
    pub seed: u64,
    /// How many times worse approving an order that should be blocked is than blocking one
    /// that should be approved; the threshold minimises that cost. Unset: maximise KS.
    pub cost_ratio: Option<f64>,
    /// The learners to choose among.
    pub candidates: Vec<Learner>,
    pub boosting: BoostingSettings,
    pub logistic: LogisticSettings,
    pub forest: ForestSettings,
    /// With more training rows than this, the learners are cross-validated on a sample of this
    /// many (each outcome in proportion, spread over time, same folds) and only the winner is
    /// refitted on the whole training part: ranking learners does not need a million rows,
    /// and fitting every one on all of them five times took most of the training time.
    #[serde(default = "default_selection_rows")]
    pub selection_rows: usize,
    /// With more training rows than this, the learners fit an evenly spread sample of this many
    /// (each outcome in proportion, through time): the chosen learner, the gradient boosting
    /// above all, holds every value it fits as f64 plus a 2-byte bin, so 8 million rows of a
    /// hundred columns would take 8 GB alone. The feature spec still counts every training row.
    #[serde(default = "default_fit_rows")]
    pub fit_rows: usize,
    /// What the version learns: only recorded with it (`ModelMetrics::label`); the orders'
    /// labels are chosen when the training data is read.
    #[serde(default)]
    pub label: TrainingLabel,
}

fn default_selection_rows() -> usize {
    TrainingOptions::default().selection_rows
}

fn default_fit_rows() -> usize {
    TrainingOptions::default().fit_rows
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            holdout_fraction: 0.2,
            folds: 4,
            seed: 20_240_301,
            cost_ratio: None,
            candidates: Learner::ALL.to_vec(),
            boosting: BoostingSettings::default(),
            logistic: LogisticSettings::default(),
            forest: ForestSettings::default(),
            selection_rows: 20_000,
            fit_rows: 3_000_000,
            label: TrainingLabel::CompanyDecision,
        }
    }
}

impl TrainingOptions {
    /// Smaller ensembles: for tests and demos in debug builds, where the defaults are slow.
    pub fn quick() -> Self {
        let defaults = TrainingOptions::default();
        TrainingOptions {
            boosting: BoostingSettings {
                iterations: 100,
                learning_rate: 0.08,
                ..defaults.boosting.clone()
            },
            forest: ForestSettings {
                trees: 20,
                max_depth: 6,
                ..defaults.forest.clone()
            },
            ..defaults
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainingError {
    #[error("only {have} orders have an outcome; training needs at least {need}")]
    TooFewExamples { have: usize, need: usize },
    #[error(
        "every order with an outcome is {class}; training needs both approved and blocked orders"
    )]
    OneClass { class: &'static str },
    #[error("only {have} orders are {class}; training needs at least {need} of each outcome")]
    TooFewOfOutcome {
        class: &'static str,
        have: usize,
        need: usize,
    },
    #[error("no learner could be trained: {reasons}")]
    NoLearner { reasons: String },
}
