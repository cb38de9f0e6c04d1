use super::{synthetic, synthetic_dataset};
use crate::model::metrics::{cost_threshold, evaluate, holdout_curves, ks_threshold, roc_auc};
use crate::model::spec::{Encoding, FeatureSpec};
use crate::model::{
    Learner, Split, TrainingError, TrainingOptions, examples, train, train_dataset,
};

#[test]
fn one_outcome_only_is_refused() {
    let mut data = synthetic(120, 3);
    data.iter_mut().for_each(|e| e.blocked = false);
    let err = train(&data, &TrainingOptions::quick()).expect_err("cannot learn one outcome");
    assert_eq!(err, TrainingError::OneClass { class: "approved" });
    assert!(
        err.to_string().contains("both approved and blocked"),
        "{err}"
    );
}

#[test]
fn too_few_orders_are_refused() {
    let data = synthetic(30, 3);
    let err = train(&data, &TrainingOptions::quick()).expect_err("too small");
    assert_eq!(err, TrainingError::TooFewExamples { have: 30, need: 50 });
    let mut data = synthetic(200, 3);
    let mut kept = 0;
    data.retain(|e| {
        !e.blocked || {
            kept += 1;
            kept <= 4
        }
    });
    let err = train(&data, &TrainingOptions::quick()).expect_err("too few blocked");
    assert_eq!(
        err,
        TrainingError::TooFewOfOutcome {
            class: "blocked",
            have: 4,
            need: 10
        }
    );
    assert_eq!(
        train(&[], &TrainingOptions::quick()).err(),
        Some(TrainingError::TooFewExamples { have: 0, need: 50 })
    );
}

#[test]
fn same_dates_split_at_random_by_outcome() {
    let mut data = synthetic(200, 5);
    let when = data[0].issued_at;
    data.iter_mut().for_each(|e| e.issued_at = when);
    let options = TrainingOptions {
        candidates: vec![crate::model::Learner::LogisticRegression],
        ..TrainingOptions::quick()
    };
    let model = train(&data, &options).expect("trains");
    assert_eq!(model.metrics.split, Split::StratifiedRandom);
    let held_blocked = data
        .iter()
        .filter(|e| e.blocked && model.holdout_ids().contains(&e.order_id))
        .count();
    let blocked = data.iter().filter(|e| e.blocked).count();
    assert_eq!(held_blocked, (blocked as f64 * 0.2).round() as usize);
}

#[test]
fn auc_ks_and_thresholds() {
    let scores = [0.1, 0.4, 0.35, 0.8];
    let blocked = [false, false, true, true];
    assert!((roc_auc(&scores, &blocked) - 0.75).abs() < 1e-12);
    assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5, "ties count half");
    assert_eq!(
        roc_auc(&[0.1, 0.2], &[true, true]),
        0.5,
        "one outcome: nothing to rank"
    );
    let perfect = [0.1, 0.2, 0.7, 0.9];
    let t = ks_threshold(&perfect, &blocked);
    assert!(t > 0.2 && t < 0.7, "{t}");
    let e = evaluate(&perfect, &blocked, t);
    assert_eq!(
        (e.accuracy, e.ks, e.roc_auc, e.precision, e.recall, e.f1),
        (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    );
    // Missing a blocked order costing 10x more than blocking a good one moves the cut down.
    let t_cost = cost_threshold(&scores, &blocked, 10.0);
    assert!(t_cost <= 0.35, "{t_cost}");
    let e = evaluate(&scores, &blocked, t_cost);
    assert_eq!(e.confusion.blocked_predicted_approved, 0);
    assert!((e.brier - (0.01 + 0.16 + 0.4225 + 0.04) / 4.0).abs() < 1e-12);
}

#[test]
fn a_known_direction_the_model_breaks_is_reported() {
    // More inquiries never lower the risk; here the data says they do.
    let mut data = synthetic(300, 9);
    for (k, e) in data.iter_mut().enumerate() {
        let inquiries = if e.blocked {
            (k % 3) as f64
        } else {
            3.0 + (k % 4) as f64
        };
        e.features.insert(
            "bureau.inquiries",
            crate::features::FeatureValue::Number(inquiries),
        );
    }
    let with = |learner| TrainingOptions {
        candidates: vec![learner],
        ..TrainingOptions::quick()
    };
    let logistic = train(&data, &with(crate::model::Learner::LogisticRegression)).expect("trains");
    let found = &logistic.metrics.monotonicity_violations;
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("bureau.inquiries should never lower")),
        "{found:?}"
    );
    let boosted = train(&data, &with(crate::model::Learner::GradientBoosting)).expect("trains");
    let found = &boosted.metrics.monotonicity_violations;
    assert!(
        !found.iter().any(|v| v.starts_with("bureau.inquiries")),
        "constrained: {found:?}"
    );
}

#[test]
fn no_candidates_is_an_error_not_a_panic() {
    let data = synthetic(120, 3);
    let options = TrainingOptions {
        candidates: Vec::new(),
        ..TrainingOptions::quick()
    };
    let err = train(&data, &options).expect_err("nothing to train");
    assert!(matches!(err, TrainingError::NoLearner { .. }), "{err}");
}

#[test]
fn training_straight_from_the_dataset_gives_the_same_model() {
    let (customers, limits, reports, orders) = synthetic_dataset(300, 17);
    let options = TrainingOptions {
        candidates: vec![Learner::LogisticRegression, Learner::GradientBoosting],
        ..TrainingOptions::quick()
    };
    let data = examples(&customers, &limits, &reports, &orders);
    let from_examples = train(&data, &options).expect("trains");
    let from_dataset =
        train_dataset(&customers, &limits, &reports, &orders, &options).expect("trains");
    assert_eq!(from_dataset.spec, from_examples.spec);
    assert_eq!(from_dataset.holdout_ids(), from_examples.holdout_ids());
    assert_eq!(from_dataset.threshold, from_examples.threshold);
    assert_eq!(from_dataset.metrics.holdout, from_examples.metrics.holdout);
    for e in data.iter().take(50) {
        assert_eq!(
            from_dataset.probability(&e.features),
            from_examples.probability(&e.features)
        );
    }
}

#[test]
fn a_spec_encodes_the_same_whatever_the_order_of_its_features() {
    let data = synthetic(200, 11);
    let spec = FeatureSpec::fit(data.iter().map(|e| &e.features));
    assert!(
        spec.features.windows(2).all(|w| w[0].name < w[1].name),
        "a fitted spec lists its features in name order"
    );
    let mut reversed = spec.clone();
    reversed.features.reverse();
    let mut sparse = data[0].features.clone();
    sparse.0.retain(|name, _| name.len() % 2 == 0);
    for row in data.iter().take(20).map(|e| &e.features).chain([&sparse]) {
        let forward = spec.encode(row);
        let backward = reversed.encode(row);
        // The reversed spec's columns are the forward ones, feature by feature, reversed.
        let mut regrouped = Vec::new();
        let mut at = forward.len();
        for f in &reversed.features {
            at -= f.width();
            regrouped.extend_from_slice(&forward[at..at + f.width()]);
        }
        assert_eq!(backward.len(), regrouped.len());
        for (a, b) in backward.iter().zip(&regrouped) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
        }
        // And each number is the row's own value.
        for (f, value) in spec.features.iter().zip(spec_numbers(&spec, &forward)) {
            if let Some(value) = value {
                let expected = row.get(&f.name).as_number().unwrap_or(f64::NAN);
                assert!(
                    value == expected || (value.is_nan() && expected.is_nan()),
                    "{}",
                    f.name
                );
            }
        }
    }
}

/// Each feature's encoded number, for the features encoded as one.
fn spec_numbers(spec: &FeatureSpec, row: &[f64]) -> Vec<Option<f64>> {
    let mut at = 0;
    spec.features
        .iter()
        .map(|f| {
            let value = matches!(f.encoding, Encoding::Number).then(|| row[at]);
            at += f.width();
            value
        })
        .collect()
}

#[test]
fn holdout_curves_count_every_order_once() {
    let scores = [0.05, 0.2, 0.2, 0.55, 0.9, 1.0];
    let blocked = [false, false, true, false, true, true];
    let curves = holdout_curves(&scores, &blocked);
    assert_eq!(curves.roc.first(), Some(&[0.0, 0.0]));
    assert_eq!(curves.roc.last(), Some(&[1.0, 1.0]));
    assert!(curves.roc.windows(2).all(|w| w[0][0] <= w[1][0]));
    let bins = &curves.score_distribution;
    assert_eq!(bins.len(), 20);
    assert_eq!(bins.iter().map(|b| b.approved).sum::<u64>(), 3);
    assert_eq!(bins.iter().map(|b| b.blocked).sum::<u64>(), 3);
    assert_eq!(
        (bins[4].approved, bins[4].blocked),
        (1, 1),
        "0.2 is in [0.2, 0.25)"
    );
    assert_eq!(bins[19].blocked, 1, "1.0 is in the last bin");
    assert_eq!(
        curves.calibration.len(),
        6,
        "fewer orders than bins: one each"
    );
    assert_eq!(curves.calibration[5].blocked_share, 1.0);
    assert_eq!(curves.calibration[0].mean_probability, 0.05);
}

#[test]
fn a_long_roc_curve_is_thinned_but_keeps_its_ends() {
    let scores: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
    let blocked: Vec<bool> = (0..1000).map(|i| i % 3 == 0).collect();
    let curves = holdout_curves(&scores, &blocked);
    assert_eq!(curves.roc.len(), 101);
    assert_eq!(curves.roc[0], [0.0, 0.0]);
    assert_eq!(curves.roc[100], [1.0, 1.0]);
    assert_eq!(curves.calibration.len(), 10);
    assert!(curves.calibration.iter().all(|b| b.examples == 100));
    let mean = |b: &crate::model::CalibrationBin| b.mean_probability;
    assert!(
        curves
            .calibration
            .windows(2)
            .all(|w| mean(&w[0]) < mean(&w[1]))
    );
}

#[test]
fn a_version_scoring_beside_the_decision_gives_its_probability_and_verdict() {
    use crate::decision::{decide, score};
    use crate::features::CustomerFacts;
    use crate::reasons::Language;
    let (customers, limits, reports, orders) = synthetic_dataset(400, 23);
    let data = examples(&customers, &limits, &reports, &orders);
    let model = train(&data, &TrainingOptions::quick()).expect("trains");
    let mut rejected = 0;
    for order in orders.iter().take(200) {
        let facts = CustomerFacts {
            customer: customers
                .iter()
                .find(|c| c.id == order.customer_id)
                .cloned(),
            credit_limits: limits
                .iter()
                .filter(|l| l.customer_id == order.customer_id)
                .cloned()
                .collect(),
            bureau_reports: reports
                .iter()
                .filter(|r| r.customer_id == order.customer_id)
                .cloned()
                .collect(),
            orders: Vec::new(),
        };
        let decided = decide(&model, None, order, &facts, Language::English);
        let (probability, verdict) = score(&model, None, order, &facts);
        assert_eq!(probability, decided.probability);
        assert_eq!(verdict, decided.verdict);
        rejected += usize::from(verdict == crate::decision::Verdict::Rejected);
    }
    assert!(rejected > 0 && rejected < 200, "{rejected} of 200 rejected");
}
