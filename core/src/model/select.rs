//! Choosing the learner: each candidate is cross-validated on the training part, refitted on
//! all of it and scored on the holdout (shown, never used to choose); the best by validation
//! AUC is kept, with its threshold from its out-of-fold scores.

use super::learners::{FitSettings, Fitted, sigmoid};
use super::metrics::{self, cost_threshold, ks_threshold, roc_auc};
use super::spec::{Design, FeatureSpec};
use super::split::stratified_folds;
use super::train::{TrainingError, TrainingOptions};
use super::{CandidateScore, Learner, ModelMetrics, Split, TrainedModel, monotone};
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
}

pub(super) fn fit_and_judge(
    prepared: Prepared,
    options: &TrainingOptions,
    started: Instant,
) -> Result<TrainedModel, TrainingError> {
    let Prepared {
        spec,
        design,
        blocked,
        hold_design,
        hold_blocked,
        holdout_ids,
        split: split_kind,
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
        forest: &options.forest,
        directions: &directions,
        seed: options.seed,
    };
    let cv = Folds {
        fold_of: &fold_of,
        folds,
    };

    let mut candidates = Vec::new();
    for &learner in &options.candidates {
        let clock = Instant::now();
        let attempt = candidate(learner, &design, &blocked, &cv, &settings, options);
        candidates.push(match attempt {
            Ok(fitted) => {
                let hold: Vec<f64> = fitted
                    .model
                    .raw_scores(&hold_design)
                    .into_iter()
                    .map(sigmoid)
                    .collect();
                let score = CandidateScore {
                    learner,
                    validation_auc: roc_auc(&fitted.oof, &blocked),
                    holdout_auc: roc_auc(&hold, &hold_blocked),
                    seconds: clock.elapsed().as_secs_f64(),
                    failure: None,
                };
                Candidate {
                    score,
                    fitted: Some(fitted),
                }
            }
            Err(reason) => Candidate {
                score: CandidateScore {
                    learner,
                    validation_auc: 0.0,
                    holdout_auc: 0.0,
                    seconds: clock.elapsed().as_secs_f64(),
                    failure: Some(reason),
                },
                fitted: None,
            },
        });
    }

    // The first listed wins a tie, so the order of `candidates` is the order of preference.
    let best = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.fitted.is_some())
        .fold(None::<(usize, f64)>, |best, (i, c)| match best {
            Some((_, auc)) if auc >= c.score.validation_auc => best,
            _ => Some((i, c.score.validation_auc)),
        })
        .map(|(i, _)| i);
    let scores: Vec<CandidateScore> = candidates.iter().map(|c| c.score.clone()).collect();
    let Some((best, chosen)) = best.and_then(|i| candidates.swap_remove(i).fitted.map(|f| (i, f)))
    else {
        let reasons: Vec<String> = scores.iter().filter_map(|s| s.failure.clone()).collect();
        let reasons = if reasons.is_empty() {
            "no candidate learner was given".to_owned()
        } else {
            reasons.join("; ")
        };
        return Err(TrainingError::NoLearner { reasons });
    };
    let learner = scores[best].learner;
    let Fit {
        model: fitted,
        oof,
        params,
    } = chosen;

    let threshold = match options.cost_ratio {
        Some(ratio) if ratio > 0.0 => cost_threshold(&oof, &blocked, ratio),
        _ => ks_threshold(&oof, &blocked),
    };
    let hold_probabilities: Vec<f64> = fitted
        .raw_scores(&hold_design)
        .into_iter()
        .map(sigmoid)
        .collect();

    let mut model = TrainedModel {
        learner,
        params,
        spec,
        threshold,
        metrics: ModelMetrics {
            holdout: metrics::evaluate(&hold_probabilities, &hold_blocked, threshold),
            threshold,
            chosen: learner,
            candidates: scores,
            feature_importance: Vec::new(),
            monotonicity_violations: Vec::new(),
            training_examples: design.rows,
            holdout_examples: hold_design.rows,
            split: split_kind,
            training_seconds: 0.0,
        },
        holdout_ids,
        fitted,
    };
    model.metrics.feature_importance = importance(&model, &design);
    let probe = if hold_design.rows >= 20 {
        &hold_design
    } else {
        &design
    };
    model.metrics.monotonicity_violations = monotone::violations(&model, probe, &design);
    model.metrics.training_seconds = started.elapsed().as_secs_f64();
    Ok(model)
}

struct Folds<'a> {
    fold_of: &'a [usize],
    folds: usize,
}

/// Out-of-fold probabilities of one learner over the training part.
fn out_of_fold(
    learner: Learner,
    design: &Design,
    blocked: &[bool],
    cv: &Folds<'_>,
    settings: &FitSettings<'_>,
) -> Result<Vec<f64>, String> {
    let mut scores = vec![0.0; design.rows];
    for fold in 0..cv.folds {
        let (inside, outside): (Vec<usize>, Vec<usize>) =
            (0..design.rows).partition(|&i| cv.fold_of[i] != fold);
        let labels: Vec<bool> = inside.iter().map(|&i| blocked[i]).collect();
        let model = Fitted::fit(learner, &design.select(&inside), &labels, settings)?;
        let held = model.raw_scores(&design.select(&outside));
        for (i, raw) in outside.into_iter().zip(held) {
            scores[i] = sigmoid(raw);
        }
    }
    Ok(scores)
}

/// A learner refitted on the whole training part, with its out-of-fold probabilities.
struct Fit {
    model: Fitted,
    oof: Vec<f64>,
    params: serde_json::Value,
}

struct Candidate {
    score: CandidateScore,
    fitted: Option<Fit>,
}

fn candidate(
    learner: Learner,
    design: &Design,
    blocked: &[bool],
    cv: &Folds<'_>,
    settings: &FitSettings<'_>,
    options: &TrainingOptions,
) -> Result<Fit, String> {
    let json = |value: serde_json::Result<serde_json::Value>| value.unwrap_or_default();
    let (oof, settings, params) = match learner {
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
                    folds: cv.folds,
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
            let params = serde_json::json!({
                "penalty_per_row": penalty,
                "alpha": penalty * design.rows as f64,
                "penalties_tried": penalties,
                "max_iterations": options.logistic.max_iterations,
                "standardised": true,
                "missing": "training mean plus a was-missing indicator",
            });
            (
                oof,
                FitSettings {
                    logistic_penalty: penalty,
                    ..*settings
                },
                params,
            )
        }
        Learner::GradientBoosting => {
            let oof = out_of_fold(learner, design, blocked, cv, settings)?;
            (
                oof,
                *settings,
                json(serde_json::to_value(&options.boosting)),
            )
        }
        Learner::RandomForest => {
            let oof = out_of_fold(learner, design, blocked, cv, settings)?;
            (oof, *settings, json(serde_json::to_value(&options.forest)))
        }
    };
    let model = Fitted::fit(learner, design, blocked, &settings)?;
    Ok(Fit { model, oof, params })
}

/// The logistic penalty with the best out-of-fold AUC, and those out-of-fold scores.
fn best_penalty(
    design: &Design,
    blocked: &[bool],
    cv: &Folds<'_>,
    settings: &FitSettings<'_>,
    penalties: &[f64],
) -> Result<(f64, Vec<f64>), String> {
    let mut best: Option<(f64, f64, Vec<f64>)> = None;
    for &penalty in penalties {
        let trial = FitSettings {
            logistic_penalty: penalty,
            ..*settings
        };
        let oof = out_of_fold(Learner::LogisticRegression, design, blocked, cv, &trial)?;
        let auc = roc_auc(&oof, blocked);
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
        let (_, per_column) = model.fitted.contributions(design.row(r));
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
