//! Training entry points: check there is enough to learn from, split off the holdout, encode.
//! Choosing and fitting the learner is in `select`.

use super::columns::TrainingColumns;
use super::examples::{TrainingExample, for_each_example_in_parts};
use super::options::{MIN_EXAMPLES, MIN_PER_OUTCOME, TrainingError, TrainingOptions};
use super::progress::{Stage, TrainingProgress};
use super::sample::spread_sample;
use super::select::{Prepared, fit_and_judge};
use super::spec::{Design, FeatureSpec, SpecBuilder};
use super::split::{Meta, Split, split};
use super::trained::TrainedModel;
use crate::ingest::items::{BureauReport, CreditLimit, Customer, Order, Outcome};
use std::sync::{Mutex, PoisonError};
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
    let training_examples = train_rows.len();
    let spec = FeatureSpec::fit(train_rows.iter().map(|&i| &examples[i].features));
    let train_rows = fitted_part(&meta, train_rows, options.fit_rows);
    let design = spec.design(train_rows.iter().map(|&i| &examples[i].features));
    let hold_design = spec.design(hold_rows.iter().map(|&i| &examples[i].features));
    let prepared = prepare(
        &meta,
        (&train_rows, training_examples),
        &hold_rows,
        split_kind,
        spec,
        design,
        hold_design,
    );
    fit_and_judge(prepared, options, started, &TrainingProgress::default())
}

/// [`train`] on [`examples`] of the dataset: [`train_columns`] on its columns.
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
    let columns = TrainingColumns::from_items(customers, credit_limits, bureau_reports, orders);
    train_columns(&columns, options, progress)
}

/// [`train`] on the examples of `columns`, without holding every example at once: features
/// are assembled twice (once to learn the spec, once to encode), so memory stays near the
/// encoded rows rather than a few KB per order. Both passes share the customers among one
/// thread per core. Same model as `train(&examples(..), options)`.
pub fn train_columns(
    columns: &TrainingColumns,
    options: &TrainingOptions,
    progress: &TrainingProgress,
) -> Result<TrainedModel, TrainingError> {
    // Two passes over the examples: learning the spec, then encoding.
    progress.enter(Stage::BuildingFeatures, 2);
    let started = Instant::now();
    let labelled: Vec<usize> = (0..columns.orders())
        .filter(|&i| columns.order_outcome(i).is_some())
        .collect();
    let meta: Vec<Meta<'_>> = labelled
        .iter()
        .map(|&i| Meta {
            order_id: columns.order_id(i),
            issued_at: columns.order_issued_at(i),
            blocked: columns.order_outcome(i) == Some(Outcome::Blocked),
        })
        .collect();
    check_counts(&meta)?;
    let (train_rows, hold_rows, split_kind) = split(&meta, options.holdout_fraction, options.seed);
    let training_examples = train_rows.len();
    // Where each order goes: its row among the fitted training rows, or the holdout's after
    // them; a training order beyond the fitted sample counts for the spec alone.
    let mut place: Vec<u32> = vec![NOWHERE; columns.orders()];
    for &k in &train_rows {
        place[labelled[k]] = UNFITTED;
    }
    let train_rows = fitted_part(&meta, train_rows, options.fit_rows);
    for (row, &k) in train_rows.iter().chain(&hold_rows).enumerate() {
        place[labelled[k]] = u32::try_from(row).unwrap_or(NOWHERE);
    }
    drop(labelled);
    let in_training = train_rows.len();
    let parts = super::parallel::cores();
    let mut builders: Vec<SpecBuilder> = (0..parts).map(|_| SpecBuilder::default()).collect();
    let mut observers: Vec<_> = builders
        .iter_mut()
        .map(|builder| {
            let place = &place;
            move |i: usize, example: TrainingExample| {
                if place[i] == UNFITTED || (place[i] as usize) < in_training {
                    builder.observe(&example.features);
                }
            }
        })
        .collect();
    for_each_example_in_parts(columns, &mut observers);
    drop(observers);
    progress.step();
    let mut builder = SpecBuilder::default();
    for part in builders {
        builder.absorb(part);
    }
    let spec = builder.finish();
    let width = spec.width();
    let mut design = Design::zeros(train_rows.len(), width);
    let mut hold_design = Design::zeros(hold_rows.len(), width);
    if width > 0 {
        // Each thread encodes its customers' examples and writes them a batch at a time.
        let targets = Mutex::new((&mut design, &mut hold_design));
        let mut encoders: Vec<Encoder<'_>> = (0..parts)
            .map(|_| Encoder {
                spec: &spec,
                place: &place,
                in_training,
                targets: &targets,
                rows: Vec::with_capacity(ENCODE_BATCH),
                values: Vec::with_capacity(ENCODE_BATCH * width),
            })
            .collect();
        let mut sinks: Vec<_> = encoders
            .iter_mut()
            .map(|encoder| move |i: usize, example: TrainingExample| encoder.take(i, &example))
            .collect();
        for_each_example_in_parts(columns, &mut sinks);
        drop(sinks);
        for encoder in &mut encoders {
            encoder.flush();
        }
    }
    drop(place);
    let prepared = prepare(
        &meta,
        (&train_rows, training_examples),
        &hold_rows,
        split_kind,
        spec,
        design,
        hold_design,
    );
    drop(meta);
    progress.step();
    fit_and_judge(prepared, options, started, progress)
}

/// An order that is in neither part (no outcome).
const NOWHERE: u32 = u32::MAX;
/// An order of the training part that is not among the rows fitted (see `fitted_part`).
const UNFITTED: u32 = u32::MAX - 1;
/// Rows one encoding thread holds before writing them into the design.
const ENCODE_BATCH: usize = 4_096;

/// One thread's share of the encoding pass: its rows, written under the lock in batches.
struct Encoder<'a> {
    spec: &'a FeatureSpec,
    place: &'a [u32],
    in_training: usize,
    targets: &'a Mutex<(&'a mut Design, &'a mut Design)>,
    rows: Vec<u32>,
    values: Vec<f64>,
}

impl Encoder<'_> {
    fn take(&mut self, i: usize, example: &TrainingExample) {
        if self.place[i] == NOWHERE || self.place[i] == UNFITTED {
            return;
        }
        self.rows.push(self.place[i]);
        self.spec.encode_into(&example.features, &mut self.values);
        if self.rows.len() == ENCODE_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let width = self.spec.width();
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        let (design, hold) = &mut *targets;
        for (&row, values) in self.rows.iter().zip(self.values.chunks_exact(width)) {
            let row = row as usize;
            if row < self.in_training {
                design.set_row(row, values);
            } else {
                hold.set_row(row - self.in_training, values);
            }
        }
        self.rows.clear();
        self.values.clear();
    }
}

/// The training rows the learners fit: all of them, or an evenly spread sample of `cap` (each
/// outcome in proportion, through time) when there are more. Beyond a few million rows the
/// encoded values (8 bytes each, plus forust's 2-byte bin) are what would not fit in memory.
fn fitted_part(meta: &[Meta<'_>], rows: Vec<usize>, cap: usize) -> Vec<usize> {
    let blocked: Vec<bool> = rows.iter().map(|&k| meta[k].blocked).collect();
    match spread_sample(&blocked, cap.max(MIN_EXAMPLES)) {
        Some(sample) => sample.into_iter().map(|j| rows[j]).collect(),
        None => rows,
    }
}

fn prepare(
    meta: &[Meta<'_>],
    (train_rows, training_examples): (&[usize], usize),
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
        training_examples,
    }
}
