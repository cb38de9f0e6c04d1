//! Training entry points: check there is enough to learn from, split off the holdout, encode.
//! Choosing and fitting the learner is in `select`.

use super::examples::{for_each_example_in_parts, part_of};
use super::select::{Prepared, fit_and_judge};
use super::spec::{Design, FeatureSpec, SpecBuilder};
use super::split::split;
use super::{
    BoostingSettings, ForestSettings, Learner, LogisticSettings, Split, TrainedModel,
    TrainingExample,
};
use crate::ingest::items::{BureauReport, CreditLimit, Customer, Order, Outcome};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;

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
}

fn default_selection_rows() -> usize {
    TrainingOptions::default().selection_rows
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

fn outcome_name(blocked: bool) -> &'static str {
    if blocked { "blocked" } else { "approved" }
}

fn check_counts(examples: &[Meta<'_>]) -> Result<(), TrainingError> {
    let blocked = examples.iter().filter(|e| e.blocked).count();
    let approved = examples.len() - blocked;
    if approved == 0 || blocked == 0 {
        if examples.is_empty() {
            return Err(TrainingError::TooFewExamples {
                have: 0,
                need: MIN_EXAMPLES,
            });
        }
        return Err(TrainingError::OneClass {
            class: outcome_name(blocked > 0),
        });
    }
    if examples.len() < MIN_EXAMPLES {
        return Err(TrainingError::TooFewExamples {
            have: examples.len(),
            need: MIN_EXAMPLES,
        });
    }
    for (class, have) in [("approved", approved), ("blocked", blocked)] {
        if have < MIN_PER_OUTCOME {
            return Err(TrainingError::TooFewOfOutcome {
                class,
                have,
                need: MIN_PER_OUTCOME,
            });
        }
    }
    Ok(())
}

/// What splitting needs to know of an example.
pub(super) struct Meta<'a> {
    pub(super) order_id: &'a str,
    pub(super) issued_at: DateTime<Utc>,
    pub(super) blocked: bool,
}

/// Splits off the newest `holdout_fraction` of examples by issue time (a stratified random
/// share when all dates are equal, or when the newest hold a single outcome), picks the learner
/// by out-of-fold AUC on the training part only, refits it on the whole training part, chooses
/// the threshold on its out-of-fold scores, and evaluates it on the holdout.
pub fn train(
    examples: &[TrainingExample],
    options: &TrainingOptions,
) -> Result<TrainedModel, TrainingError> {
    let started = Instant::now();
    let meta: Vec<Meta<'_>> = examples
        .iter()
        .map(|e| Meta {
            order_id: &e.order_id,
            issued_at: e.issued_at,
            blocked: e.blocked,
        })
        .collect();
    check_counts(&meta)?;
    let (train_rows, hold_rows, split_kind) = split(&meta, options.holdout_fraction, options.seed);
    let spec = FeatureSpec::fit(train_rows.iter().map(|&i| &examples[i].features));
    let design = spec.design(train_rows.iter().map(|&i| &examples[i].features));
    let hold_design = spec.design(hold_rows.iter().map(|&i| &examples[i].features));
    let prepared = prepare(
        &meta,
        &train_rows,
        &hold_rows,
        split_kind,
        spec,
        design,
        hold_design,
    );
    fit_and_judge(prepared, options, started)
}

/// [`train`] on [`examples`] of the dataset, without holding every example at once: features
/// are assembled twice (once to learn the spec, once to encode), so memory stays near the
/// encoded rows rather than a few KB per order. Both passes share the customers among one
/// thread per core. Same model as `train(&examples(..), options)`.
pub fn train_dataset(
    customers: &[Customer],
    credit_limits: &[CreditLimit],
    bureau_reports: &[BureauReport],
    orders: &[Order],
    options: &TrainingOptions,
) -> Result<TrainedModel, TrainingError> {
    let started = Instant::now();
    let labelled: Vec<usize> = (0..orders.len())
        .filter(|&i| orders[i].outcome.is_some())
        .collect();
    let meta: Vec<Meta<'_>> = labelled
        .iter()
        .map(|&i| Meta {
            order_id: &orders[i].id,
            issued_at: orders[i].issued_at,
            blocked: orders[i].outcome == Some(Outcome::Blocked),
        })
        .collect();
    check_counts(&meta)?;
    let (train_rows, hold_rows, split_kind) = split(&meta, options.holdout_fraction, options.seed);
    // Where each order goes: (in the holdout, row there).
    let mut place: Vec<Option<(bool, usize)>> = vec![None; orders.len()];
    for (holdout, rows) in [(false, &train_rows), (true, &hold_rows)] {
        for (row, &k) in rows.iter().enumerate() {
            place[labelled[k]] = Some((holdout, row));
        }
    }
    let facts = (customers, credit_limits, bureau_reports, orders);
    let parts = super::cores();
    let mut builders: Vec<SpecBuilder> = (0..parts).map(|_| SpecBuilder::default()).collect();
    let mut observers: Vec<_> = builders
        .iter_mut()
        .map(|builder| {
            let place = &place;
            move |i: usize, example: TrainingExample| {
                if place[i].is_some_and(|(holdout, _)| !holdout) {
                    builder.observe(&example.features);
                }
            }
        })
        .collect();
    for_each_example_in_parts(facts.0, facts.1, facts.2, facts.3, &mut observers);
    drop(observers);
    let mut builder = SpecBuilder::default();
    for part in builders {
        builder.absorb(part);
    }
    let spec = builder.finish();
    let width = spec.width();
    let mut design = Design {
        rows: train_rows.len(),
        cols: width,
        data: vec![0.0; train_rows.len() * width],
    };
    let mut hold_design = Design {
        rows: hold_rows.len(),
        cols: width,
        data: vec![0.0; hold_rows.len() * width],
    };
    if width > 0 {
        // Each part's threads write the rows of its own customers' orders: (order, its row).
        let mut rows: Vec<Option<&mut [f64]>> = design
            .data
            .chunks_mut(width)
            .chain(hold_design.data.chunks_mut(width))
            .map(Some)
            .collect();
        let mut slots: Vec<Vec<(usize, &mut [f64])>> = (0..parts).map(|_| Vec::new()).collect();
        for (i, order) in orders.iter().enumerate() {
            if let Some((holdout, row)) = place[i] {
                let at = if holdout { train_rows.len() + row } else { row };
                if let Some(slot) = rows[at].take() {
                    slots[part_of(&order.customer_id, parts)].push((i, slot));
                }
            }
        }
        let spec = &spec;
        let mut encoders: Vec<_> = slots
            .into_iter()
            .map(|mut slots| {
                move |i: usize, example: TrainingExample| {
                    // Pushed in order of `i`, so sorted by it.
                    if let Ok(k) = slots.binary_search_by_key(&i, |(j, _)| *j) {
                        slots[k].1.copy_from_slice(&spec.encode(&example.features));
                    }
                }
            })
            .collect();
        for_each_example_in_parts(facts.0, facts.1, facts.2, facts.3, &mut encoders);
    }
    let prepared = prepare(
        &meta,
        &train_rows,
        &hold_rows,
        split_kind,
        spec,
        design,
        hold_design,
    );
    fit_and_judge(prepared, options, started)
}

fn prepare(
    meta: &[Meta<'_>],
    train_rows: &[usize],
    hold_rows: &[usize],
    split: Split,
    spec: FeatureSpec,
    design: Design,
    hold_design: Design,
) -> Prepared {
    Prepared {
        spec,
        design,
        blocked: train_rows.iter().map(|&i| meta[i].blocked).collect(),
        hold_design,
        hold_blocked: hold_rows.iter().map(|&i| meta[i].blocked).collect(),
        holdout_ids: hold_rows
            .iter()
            .map(|&i| meta[i].order_id.to_owned())
            .collect(),
        split,
    }
}
