//! Choosing the learner: each candidate is cross-validated on the training part, refitted on
//! all of it and scored on the holdout (shown, never used to choose); the best by validation
//! AUC is kept, with its threshold from its out-of-fold scores.

use super::learners::{BoostingSettings, FitSettings, Fitted, Learner, sigmoid};
use super::metrics::{self, cost_threshold, ks_threshold, roc_auc};
use super::monotone;
use super::options::{MIN_EXAMPLES, TrainingError, TrainingOptions};
use super::parallel::{Permits, side_by_side};
use super::progress::{Stage, TrainingProgress};
use super::sample::spread_sample;
use super::spec::{Design, FeatureSpec};
use super::split::{Split, stratified_folds};
use super::trained::{CandidateScore, ModelMetrics, TrainedModel};
use crate::monitoring::{DriftReference, MAX_REFERENCE_ROWS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Rows of the training part used to rank features by their contributions.
const IMPORTANCE_ROWS: usize = 300;
/// Above this many rows, the logistic penalty is chosen on a sample of this size.
const TUNING_ROWS: usize = 20_000;

/// The encoded training part and holdout, ready to fit.
pub(super) struct Prepared {
    pub(super) spec: FeatureSpec,
    pub(super) design: Design,
    pub(super) blocked: Vec<bool>,
    pub(super) hold_design: Design,
    pub(super) hold_blocked: Vec<bool>,
    pub(super) holdout_ids: Vec<String>,
    pub(super) split: Split,
    /// Orders in the training part: `design` holds them all, or the sample fitted.
    pub(super) training_examples: usize,
}

pub(super) fn fit_and_judge(
    prepared: Prepared,
    options: &TrainingOptions,
    started: Instant,
    progress: &TrainingProgress,
) -> Result<TrainedModel, TrainingError> {
    let Prepared {
        spec,
        design,
        blocked,
        hold_design,
        hold_blocked,
        holdout_ids,
        split: split_kind,
        training_examples,
    } = prepared;
    let least_class = blocked
        .iter()
        .filter(|b| **b)
        .count()
        .min(blocked.iter().filter(|b| !**b).count());
    let folds = options.folds.clamp(2, 10).min(least_class.max(2));
    let fold_of = stratified_folds(&blocked, folds, options.seed);
    let directions = spec.column_directions();
    let settings = FitSettings {
        boosting: &options.boosting,
        logistic_penalty: options.logistic.penalties.first().copied().unwrap_or(0.2),
        logistic_iterations: options.logistic.max_iterations,
        // A sample too small to fold is a setting mistake, not a reason to fail training.
        logistic_max_rows: options.logistic.max_rows.max(MIN_EXAMPLES),
        forest: &options.forest,
        directions: &directions,
        seed: options.seed,
    };
    // The rows the learners are ranked on: all of the training part, or a sample of a large one.
    let sample_rows = options.selection_rows.max(MIN_EXAMPLES);
    let sample = spread_sample(&blocked, sample_rows).map(|rows| Sample {
        design: design.select(&rows),
        blocked: rows.iter().map(|&i| blocked[i]).collect(),
        fold_of: rows.iter().map(|&i| fold_of[i]).collect(),
    });
    let (rank_design, rank_blocked, rank_fold_of) = match &sample {
        Some(s) => (&s.design, s.blocked.as_slice(), s.fold_of.as_slice()),
        None => (&design, blocked.as_slice(), fold_of.as_slice()),
    };
    let permits = Permits::new(super::parallel::cores());
    let unused = AtomicU64::new(0);
    let cv = Folds {
        fold_of: rank_fold_of,
        folds,
        permits: &permits,
        busy: &unused,
        progress,
    };
    progress.enter(
        Stage::CrossValidating,
        expected_fold_fits(options, folds, rank_blocked.len()),
    );

    // Seconds each candidate's fits held a core, in nanoseconds.
    let busy: Vec<AtomicU64> = options
        .candidates
        .iter()
        .map(|_| AtomicU64::new(0))
        .collect();
    let indices: Vec<usize> = (0..options.candidates.len()).collect();
    let mut validated = side_by_side(&indices, |i| {
        let cv = Folds {
            busy: &busy[i],
            ..cv
        };
        validate(
            options.candidates[i],
            rank_design,
            rank_blocked,
            &cv,
            &settings,
            options,
        )
    });
    // Best validation AUC first; the sort is stable, so the first listed wins a tie and the
    // order of `candidates` is the order of preference.
    let mut ranking: Vec<usize> = (0..validated.len())
        .filter(|&i| validated[i].0.is_ok())
        .collect();
    let auc_of = |i: usize| validated[i].0.as_ref().map_or(0.0, |v| v.auc);
    ranking.sort_by(|&a, &b| auc_of(b).total_cmp(&auc_of(a)));
    let winner = ranking.first().copied();

    progress.enter(Stage::Refitting, 0);
    // Only the winner learns from the whole training part. With a sample, the others are shown
    // on the holdout with their first fold's model; without one, each is refitted on all of it.
    let on_all = |i: usize| Some(i) == winner || sample.is_none();
    // Per candidate: its holdout model and the rows that learnt from, and the seconds that took.
    let mut fits: Vec<(Result<HoldoutModel, String>, f64)> = validated
        .iter_mut()
        .map(|(validation, _)| {
            let first_fold = match validation {
                Ok(v) => v.first_fold.take().ok_or_else(|| "not fitted".to_owned()),
                Err(reason) => Err(reason.clone()),
            };
            (first_fold, 0.0)
        })
        .collect();
    let refit = |i: usize| {
        let fitted = fit_one_on_all(
            options.candidates[i],
            &validated[i].0,
            &design,
            &blocked,
            &settings,
        );
        let rows = validated[i].0.as_ref().map_or(0, |v| {
            Fitted::rows_used(options.candidates[i], &blocked, &v.settings(&settings))
        });
        fitted.map(|model| (model, rows))
    };
    let refitted: Vec<usize> = (0..validated.len()).filter(|&i| on_all(i)).collect();
    let refits = side_by_side(&refitted, refit);
    for (&i, fit) in refitted.iter().zip(refits) {
        fits[i] = fit;
    }

    // When the winner cannot be fitted on everything, the next best is refitted in its place.
    let mut chosen = None;
    for &i in &ranking {
        if !on_all(i) {
            let clock = Instant::now();
            fits[i].0 = refit(i);
            fits[i].1 += clock.elapsed().as_secs_f64();
        }
        if fits[i].0.is_ok() {
            chosen = Some(i);
            break;
        }
    }

    progress.enter(Stage::EvaluatingHoldout, 0);
    let mut hold_of_chosen = Vec::new();
    let mut scores = Vec::with_capacity(options.candidates.len());
    for (i, &learner) in options.candidates.iter().enumerate() {
        let seconds = busy[i].load(Ordering::Relaxed) as f64 / 1e9 + fits[i].1;
        let outcome = validated[i].0.as_ref().map_err(Clone::clone).and_then(|v| {
            let (model, rows) = fits[i].0.as_ref().map_err(Clone::clone)?;
            Ok((v, model, *rows))
        });
        scores.push(match outcome {
            Ok((validation, model, fitted_rows)) => {
                let hold: Vec<f64> = model
                    .raw_scores(&hold_design)
                    .into_iter()
                    .map(sigmoid)
                    .collect();
                let score = CandidateScore {
                    learner,
                    validation_auc: validation.auc,
                    holdout_auc: roc_auc(&hold, &hold_blocked),
                    seconds,
                    validation_rows: rank_blocked.len(),
                    fitted_rows,
                    failure: None,
                };
                if Some(i) == chosen {
                    hold_of_chosen = hold;
                }
                score
            }
            Err(reason) => CandidateScore {
                learner,
                validation_auc: 0.0,
                holdout_auc: 0.0,
                seconds,
                validation_rows: rank_blocked.len(),
                fitted_rows: 0,
                failure: Some(reason),
            },
        });
    }

    let Some(best) = chosen else {
        let reasons: Vec<String> = scores.iter().filter_map(|s| s.failure.clone()).collect();
        let reasons = if reasons.is_empty() {
            "no candidate learner was given".to_owned()
        } else {
            reasons.join("; ")
        };
        return Err(TrainingError::NoLearner { reasons });
    };
    let learner = options.candidates[best];
    let Ok(validation) = validated.swap_remove(best).0 else {
        unreachable!("only validated candidates are ranked");
    };
    let Ok((fitted, _)) = fits.swap_remove(best).0 else {
        unreachable!("the chosen candidate was fitted");
    };
    let params = validation.params(learner, scores[best].fitted_rows, options);

    let oof = &validation.oof;
    let threshold = match options.cost_ratio {
        Some(ratio) if ratio > 0.0 => cost_threshold(oof, rank_blocked, ratio),
        _ => ks_threshold(oof, rank_blocked),
    };

    let mut model = TrainedModel {
        learner,
        params,
        spec,
        threshold,
        metrics: ModelMetrics {
            holdout: metrics::evaluate(&hold_of_chosen, &hold_blocked, threshold),
            holdout_curves: Some(metrics::holdout_curves(&hold_of_chosen, &hold_blocked)),
            threshold,
            chosen: learner,
            candidates: scores,
            feature_importance: Vec::new(),
            monotonicity_violations: Vec::new(),
            label: options.label,
            training_examples,
            holdout_examples: hold_design.rows,
            split: split_kind,
            training_seconds: 0.0,
        },
        drift: None,
        holdout_ids,
        fitted,
    };
    model.metrics.feature_importance = importance(&model, &design);
    let samples = model
        .spec
        .drift_samples(&[&design, &hold_design], MAX_REFERENCE_ROWS);
    model.drift = Some(DriftReference::learn(&hold_of_chosen, &samples));
    let probe = if hold_design.rows >= 20 {
        &hold_design
    } else {
        &design
    };
    model.metrics.monotonicity_violations = monotone::violations(&model, probe, &design);
    model.metrics.training_seconds = started.elapsed().as_secs_f64();
    Ok(model)
}

fn fit_one_on_all(
    learner: Learner,
    validation: &Result<Validation, String>,
    design: &Design,
    blocked: &[bool],
    settings: &FitSettings<'_>,
) -> Result<Fitted, String> {
    let validation = validation.as_ref().map_err(Clone::clone)?;
    Fitted::fit(learner, design, blocked, &validation.settings(settings))
}

/// A model to score the holdout with, and how many rows it learnt from.
type HoldoutModel = (Fitted, usize);

/// The training rows the learners are ranked on, when that is a sample.
struct Sample {
    design: Design,
    blocked: Vec<bool>,
    fold_of: Vec<usize>,
}

#[derive(Clone, Copy)]
struct Folds<'a> {
    fold_of: &'a [usize],
    folds: usize,
    permits: &'a Permits,
    /// Where the fits add the time they took (nanoseconds).
    busy: &'a AtomicU64,
    /// Told of each fold fitted.
    progress: &'a TrainingProgress,
}

/// How many fold fits cross-validation makes: each candidate's folds, the logistic learner's
/// once per penalty tried (and once more when a large training part chose it on a sample).
fn expected_fold_fits(options: &TrainingOptions, folds: usize, rows: usize) -> usize {
    let penalties = options.logistic.penalties.len().max(1);
    options
        .candidates
        .iter()
        .map(|learner| match learner {
            Learner::LogisticRegression if rows > TUNING_ROWS && penalties > 1 => {
                folds * (penalties + 1)
            }
            Learner::LogisticRegression => folds * penalties,
            Learner::GradientBoosting | Learner::RandomForest => folds,
        })
        .sum()
}

/// Out-of-fold probabilities of one learner over the training part, and the model of the first
/// fold with the rows it learnt from. The folds are fitted side by side.
fn out_of_fold(
    learner: Learner,
    design: &Design,
    blocked: &[bool],
    cv: &Folds<'_>,
    settings: &FitSettings<'_>,
) -> Result<OutOfFold, String> {
    let folds: Vec<usize> = (0..cv.folds).collect();
    // The folds already keep the cores busy; boosting's own threads would only contend.
    let serial = BoostingSettings {
        parallel: false,
        ..settings.boosting.clone()
    };
    let settings = &FitSettings {
        boosting: &serial,
        ..*settings
    };
    let fitted = side_by_side(&folds, |fold| {
        let (inside, outside): (Vec<usize>, Vec<usize>) =
            (0..design.rows).partition(|&i| cv.fold_of[i] != fold);
        let labels: Vec<bool> = inside.iter().map(|&i| blocked[i]).collect();
        let (model, held) = cv.permits.hold(|| {
            let clock = Instant::now();
            let model = Fitted::fit(learner, &design.select(&inside), &labels, settings);
            let held = model.map(|m| {
                let held = m.raw_scores(&design.select(&outside));
                (m, held)
            });
            let nanos = u64::try_from(clock.elapsed().as_nanos()).unwrap_or(u64::MAX);
            cv.busy.fetch_add(nanos, Ordering::Relaxed);
            cv.progress.step();
            held
        })?;
        let rows = Fitted::rows_used(learner, &labels, settings);
        Ok((model, rows, outside, held))
    });
    let mut scores = vec![0.0; design.rows];
    let mut first = None;
    for (result, _) in fitted {
        let (model, rows, outside, held) = result?;
        for (i, raw) in outside.into_iter().zip(held) {
            scores[i] = sigmoid(raw);
        }
        first.get_or_insert((model, rows));
    }
    let (first, first_rows) = first.ok_or("no folds to validate on")?;
    Ok(OutOfFold {
        scores,
        first,
        first_rows,
    })
}

struct OutOfFold {
    scores: Vec<f64>,
    first: Fitted,
    first_rows: usize,
}

/// A learner's cross-validation: its out-of-fold probabilities and their AUC, and the
/// logistic penalty it chose (the only setting chosen by validation).
struct Validation {
    oof: Vec<f64>,
    auc: f64,
    penalty: Option<f64>,
    /// The first fold's model and the rows it learnt from: a runner-up's holdout model when
    /// the candidates were validated on a sample, so it is not fitted once more just to be shown.
    first_fold: Option<(Fitted, usize)>,
}

impl Validation {
    fn settings<'a>(&self, settings: &FitSettings<'a>) -> FitSettings<'a> {
        FitSettings {
            logistic_penalty: self.penalty.unwrap_or(settings.logistic_penalty),
            ..*settings
        }
    }

    /// The learner's settings, as stored with the model.
    fn params(
        &self,
        learner: Learner,
        fitted_rows: usize,
        options: &TrainingOptions,
    ) -> serde_json::Value {
        let json = |value: serde_json::Result<serde_json::Value>| value.unwrap_or_default();
        match learner {
            Learner::LogisticRegression => {
                let penalty = self.penalty.unwrap_or_default();
                serde_json::json!({
                    "penalty_per_row": penalty,
                    "alpha": penalty * fitted_rows as f64,
                    "penalties_tried": options.logistic.penalties,
                    "max_iterations": options.logistic.max_iterations,
                    "max_rows": options.logistic.max_rows,
                    "standardised": true,
                    "missing": "training mean plus a was-missing indicator",
                })
            }
            Learner::GradientBoosting => json(serde_json::to_value(&options.boosting)),
            Learner::RandomForest => json(serde_json::to_value(&options.forest)),
        }
    }
}

fn validate(
    learner: Learner,
    design: &Design,
    blocked: &[bool],
    cv: &Folds<'_>,
    settings: &FitSettings<'_>,
    options: &TrainingOptions,
) -> Result<Validation, String> {
    let (oof, penalty) = match learner {
        // Its penalty is part of the learner: tried on the same folds, the best one kept.
        Learner::LogisticRegression => {
            let penalties = &options.logistic.penalties;
            let (penalty, oof) = if design.rows > TUNING_ROWS && penalties.len() > 1 {
                // With this much data each fit is slow and the penalty matters little:
                // a spread-out sample with the same folds chooses it.
                let rows: Vec<usize> = (0..design.rows)
                    .step_by(design.rows.div_ceil(TUNING_ROWS))
                    .collect();
                let labels: Vec<bool> = rows.iter().map(|&i| blocked[i]).collect();
                let fold_of: Vec<usize> = rows.iter().map(|&i| cv.fold_of[i]).collect();
                let sample_cv = Folds {
                    fold_of: &fold_of,
                    ..*cv
                };
                let sample = design.select(&rows);
                let (penalty, _) = best_penalty(&sample, &labels, &sample_cv, settings, penalties)?;
                let chosen = FitSettings {
                    logistic_penalty: penalty,
                    ..*settings
                };
                (penalty, out_of_fold(learner, design, blocked, cv, &chosen)?)
            } else {
                best_penalty(design, blocked, cv, settings, penalties)?
            };
            (oof, Some(penalty))
        }
        Learner::GradientBoosting | Learner::RandomForest => {
            (out_of_fold(learner, design, blocked, cv, settings)?, None)
        }
    };
    let auc = roc_auc(&oof.scores, blocked);
    Ok(Validation {
        oof: oof.scores,
        auc,
        penalty,
        first_fold: Some((oof.first, oof.first_rows)),
    })
}

/// The logistic penalty with the best out-of-fold AUC, and those out-of-fold scores.
fn best_penalty(
    design: &Design,
    blocked: &[bool],
    cv: &Folds<'_>,
    settings: &FitSettings<'_>,
    penalties: &[f64],
) -> Result<(f64, OutOfFold), String> {
    let mut best: Option<(f64, f64, OutOfFold)> = None;
    for &penalty in penalties {
        let trial = FitSettings {
            logistic_penalty: penalty,
            ..*settings
        };
        let oof = out_of_fold(Learner::LogisticRegression, design, blocked, cv, &trial)?;
        let auc = roc_auc(&oof.scores, blocked);
        if best.as_ref().is_none_or(|(top, _, _)| auc > *top) {
            best = Some((auc, penalty, oof));
        }
    }
    let (_, penalty, oof) = best.ok_or("logistic regression has no penalty to try")?;
    Ok((penalty, oof))
}

/// Mean absolute contribution per feature over (a spread of) training rows, as shares.
fn importance(model: &TrainedModel, design: &Design) -> Vec<(String, f64)> {
    let owners = model.spec.owners();
    let mut totals = vec![0.0; model.spec.features.len()];
    let step = design.rows.div_ceil(IMPORTANCE_ROWS).max(1);
    for r in (0..design.rows).step_by(step) {
        let (_, per_column) = model.fitted.contributions(&design.row(r));
        for (&owner, c) in owners.iter().zip(per_column) {
            totals[owner] += c.abs();
        }
    }
    let sum: f64 = totals.iter().sum();
    let mut shares: Vec<(String, f64)> = model
        .spec
        .features
        .iter()
        .zip(totals)
        .map(|(f, t)| (f.name.clone(), if sum > 0.0 { t / sum } else { 0.0 }))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    shares
}
