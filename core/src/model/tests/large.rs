//! The paths only large datasets take (a selection sample, capped logistic fits), forced on a
//! small one with small thresholds.

use super::{synthetic, synthetic_dataset};
use crate::model::examples::{for_each_example_in_parts, part_of};
use crate::model::sample::spread_sample;
use crate::model::{CandidateScore, Learner, TrainingOptions, train, train_dataset};
use crate::model::{TrainingColumns, TrainingExample, examples};

#[test]
fn a_spread_sample_keeps_each_outcome_in_proportion_and_spans_the_rows() {
    let blocked: Vec<bool> = (0..1_000).map(|i| i % 4 == 0).collect();
    assert_eq!(spread_sample(&blocked, 1_000), None);
    let rows = spread_sample(&blocked, 100).expect("a sample");
    assert_eq!(rows.len(), 100);
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
    assert_eq!(rows.iter().filter(|&&i| blocked[i]).count(), 25);
    assert!(rows[0] < 20 && rows[99] > 950, "{rows:?}");
    // A rare outcome is never sampled away.
    let mut rare = vec![false; 1_000];
    rare[500] = true;
    let rows = spread_sample(&rare, 10).expect("a sample");
    assert!(rows.contains(&500), "{rows:?}");
}

fn score(candidates: &[CandidateScore], learner: Learner) -> &CandidateScore {
    candidates
        .iter()
        .find(|c| c.learner == learner)
        .expect("every candidate is reported")
}

#[test]
fn large_training_parts_choose_on_a_sample_and_refit_only_the_winner() {
    let data = synthetic(600, 23);
    let options = TrainingOptions {
        selection_rows: 200,
        ..TrainingOptions::quick()
    };
    let model = train(&data, &options).expect("trains");
    let m = &model.metrics;
    assert_eq!(m.training_examples, 480);
    assert_eq!(m.candidates.len(), 3);
    for c in &m.candidates {
        assert!(c.failure.is_none(), "{c:?}");
        assert_eq!(c.validation_rows, 200, "{c:?}");
    }
    let best = m
        .candidates
        .iter()
        .map(|c| c.validation_auc)
        .fold(0.0, f64::max);
    let chosen = score(&m.candidates, m.chosen);
    assert_eq!(chosen.validation_auc, best);
    // The winner learnt from the whole training part (as much as its learner takes); the others
    // are shown with a model of one fold of the sample.
    let whole = match m.chosen {
        Learner::RandomForest => options.forest.max_rows.min(480),
        _ => 480,
    };
    assert_eq!(chosen.fitted_rows, whole);
    for c in m.candidates.iter().filter(|c| c.learner != m.chosen) {
        assert!(c.fitted_rows < 200 && c.fitted_rows > 100, "{c:?}");
    }
    assert!(m.holdout.roc_auc > 0.7, "{m:?}");
    assert!(model.threshold > 0.0 && model.threshold < 1.0);
    assert_eq!(m.holdout.confusion.total() as usize, m.holdout_examples);
}

#[test]
fn beyond_fit_rows_the_learners_fit_a_spread_sample_and_the_spec_sees_every_row() {
    let (customers, limits, reports, orders) = super::synthetic_dataset(600, 41);
    let options = TrainingOptions {
        fit_rows: 300,
        candidates: vec![Learner::GradientBoosting],
        ..TrainingOptions::quick()
    };
    let capped = train_dataset(&customers, &limits, &reports, &orders, &options).expect("trains");
    let m = &capped.metrics;
    assert_eq!(
        m.training_examples, 480,
        "the training part is counted whole"
    );
    assert_eq!(m.holdout_examples, 120, "the holdout is never sampled");
    assert_eq!(m.candidates[0].fitted_rows, 300);
    let whole = train_dataset(
        &customers,
        &limits,
        &reports,
        &orders,
        &TrainingOptions {
            fit_rows: 480,
            ..options.clone()
        },
    )
    .expect("trains");
    assert_eq!(whole.metrics.candidates[0].fitted_rows, 480);
    assert_eq!(
        capped.spec, whole.spec,
        "the spec counts every training row"
    );
    assert_eq!(capped.holdout_ids(), whole.holdout_ids());
    // Training from examples samples the same rows.
    let from_examples =
        train(&examples(&customers, &limits, &reports, &orders), &options).expect("trains");
    assert_eq!(from_examples.metrics.holdout, capped.metrics.holdout);
}

#[test]
fn small_training_parts_validate_and_refit_every_candidate_on_all_rows() {
    let data = synthetic(300, 29);
    let model = train(&data, &TrainingOptions::quick()).expect("trains");
    let m = &model.metrics;
    for c in &m.candidates {
        assert_eq!(c.validation_rows, m.training_examples, "{c:?}");
        assert_eq!(c.fitted_rows, m.training_examples, "{c:?}");
    }
}

#[test]
fn logistic_fits_are_capped_and_the_penalty_follows_the_rows_used() {
    let data = synthetic(500, 31);
    let mut options = TrainingOptions {
        candidates: vec![Learner::LogisticRegression],
        ..TrainingOptions::quick()
    };
    options.logistic.max_rows = 150;
    let model = train(&data, &options).expect("trains");
    let c = &model.metrics.candidates[0];
    assert!(c.failure.is_none(), "{c:?}");
    assert_eq!(c.validation_rows, 400);
    assert!((150..=151).contains(&c.fitted_rows), "{c:?}");
    let penalty = model.params["penalty_per_row"].as_f64().expect("a penalty");
    let alpha = model.params["alpha"].as_f64().expect("an alpha");
    assert!((alpha - penalty * c.fitted_rows as f64).abs() < 1e-9);
    assert!(model.metrics.holdout.roc_auc > 0.7, "{:?}", model.metrics);
}

#[test]
fn stored_metrics_and_options_from_before_the_row_counts_still_load() {
    let old = r#"{"learner": "random_forest", "validation_auc": 0.8, "holdout_auc": 0.79,
                  "seconds": 1.5}"#;
    let score: CandidateScore = serde_json::from_str(old).expect("an older candidate loads");
    assert_eq!((score.validation_rows, score.fitted_rows), (0, 0));

    let mut options = serde_json::to_value(TrainingOptions::default()).expect("serialises");
    let fields = options.as_object_mut().expect("an object");
    fields.remove("selection_rows");
    fields.remove("fit_rows");
    fields["logistic"]
        .as_object_mut()
        .expect("an object")
        .remove("max_rows");
    let back: TrainingOptions = serde_json::from_value(options).expect("older options load");
    assert_eq!(back, TrainingOptions::default());
}

#[test]
fn examples_shared_among_threads_are_the_same_examples_each_once() {
    let (customers, limits, reports, orders) = synthetic_dataset(300, 37);
    let mut parts: Vec<Vec<(usize, TrainingExample)>> = vec![Vec::new(); 3];
    let mut visitors: Vec<_> = parts
        .iter_mut()
        .map(|part| move |i: usize, example: TrainingExample| part.push((i, example)))
        .collect();
    let columns = TrainingColumns::from_items(&customers, &limits, &reports, &orders);
    for_each_example_in_parts(&columns, &mut visitors);
    drop(visitors);
    for (k, part) in parts.iter().enumerate() {
        assert!(!part.is_empty());
        assert!(
            part.iter()
                .all(|(i, _)| part_of(&orders[*i].customer_id, 3) == k)
        );
    }
    let mut all: Vec<(usize, TrainingExample)> = parts.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    let all: Vec<TrainingExample> = all.into_iter().map(|(_, e)| e).collect();
    assert_eq!(all, examples(&customers, &limits, &reports, &orders));
}
