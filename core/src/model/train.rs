//! Training entry points: check there is enough to learn from, split off the holdout, encode.
//! Choosing and fitting the learner is in `select`.

use super::examples::{TrainingExample, for_each_example_in_parts, part_of};
use super::options::{MIN_EXAMPLES, MIN_PER_OUTCOME, TrainingError, TrainingOptions};
use super::progress::{Stage, TrainingProgress};
use super::select::{Prepared, fit_and_judge};
use super::spec::{Design, FeatureSpec, SpecBuilder};
use super::split::{Meta, Split, split};
use super::trained::TrainedModel;
use crate::ingest::items::{BureauReport, CreditLimit, Customer, Order, Outcome};
use std::time::Instant;

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
    fit_and_judge(prepared, options, started, &TrainingProgress::default())
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
    let progress = TrainingProgress::default();
    train_dataset_reporting(
        customers,
        credit_limits,
        bureau_reports,
        orders,
        options,
        &progress,
    )
}

/// [`train_dataset`], telling `progress` each stage it goes through.
pub fn train_dataset_reporting(
    customers: &[Customer],
    credit_limits: &[CreditLimit],
    bureau_reports: &[BureauReport],
    orders: &[Order],
    options: &TrainingOptions,
    progress: &TrainingProgress,
) -> Result<TrainedModel, TrainingError> {
    // Two passes over the examples: learning the spec, then encoding.
    progress.enter(Stage::BuildingFeatures, 2);
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
    let parts = super::parallel::cores();
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
    progress.step();
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
    progress.step();
    fit_and_judge(prepared, options, started, progress)
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
