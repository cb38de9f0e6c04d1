use super::synthetic;
use crate::features::{FeatureValue, RawFeatures};
use crate::model::learners::sigmoid;
use crate::model::{Learner, TrainedModel, TrainingExample, TrainingOptions, train};

fn trained(learner: Learner, data: &[TrainingExample]) -> TrainedModel {
    let options = TrainingOptions {
        candidates: vec![learner],
        ..TrainingOptions::quick()
    };
    train(data, &options).expect("the synthetic portfolio trains")
}

fn holdout<'a>(model: &TrainedModel, data: &'a [TrainingExample]) -> Vec<&'a TrainingExample> {
    data.iter()
        .filter(|e| model.holdout_ids().contains(&e.order_id))
        .collect()
}

fn check_learner(learner: Learner) {
    let data = synthetic(400, 7);
    let model = trained(learner, &data);
    assert_eq!(model.learner, learner);
    assert_eq!(model.metrics.chosen, learner);
    let rows = holdout(&model, &data);
    assert_eq!(rows.len(), model.metrics.holdout_examples);
    assert!(
        model.metrics.holdout.roc_auc > 0.7,
        "{learner}: {:?}",
        model.metrics
    );

    // Contributions add up to the raw score, and the probability is its sigmoid.
    for example in rows.iter().take(40) {
        let explanation = model.explain(&example.features);
        let raw = model.raw_score(&example.features);
        let total = explanation.base
            + explanation
                .contributions
                .iter()
                .map(|c| c.contribution)
                .sum::<f64>();
        assert!((total - raw).abs() < 1e-6, "{learner}: {total} vs {raw}");
        assert_eq!(explanation.raw_score, raw);
        assert!((sigmoid(raw) - model.probability(&example.features)).abs() < 1e-12);
        assert_eq!(explanation.contributions.len(), model.spec.features.len());
    }

    // Re-evaluating on the holdout gives the metrics recorded at training.
    let again = model.evaluate(&rows.iter().map(|e| (*e).clone()).collect::<Vec<_>>());
    assert_eq!(again, model.metrics.holdout);
    assert_eq!(again.confusion.total() as usize, rows.len());

    // A stored model scores exactly as the one that was trained.
    let json = serde_json::to_string(&model).expect("serialises");
    let back: TrainedModel = serde_json::from_str(&json).expect("deserialises");
    for example in rows.iter().take(40) {
        assert_eq!(
            back.probability(&example.features),
            model.probability(&example.features)
        );
        assert_eq!(
            back.explain(&example.features),
            model.explain(&example.features)
        );
    }
    assert_eq!(back.metrics, model.metrics);
    assert_eq!(back.holdout_ids(), model.holdout_ids());

    // Levels never seen, text where a number was, unknown features, nothing at all: all fine.
    let mut odd = rows[0].features.clone();
    odd.insert("customer.segment", FeatureValue::Category("mining".into()));
    odd.insert("bureau.score", FeatureValue::Category("n/a".into()));
    odd.insert("order.brand_new_attribute", FeatureValue::Number(1.0));
    let p = model.probability(&odd);
    assert!(p > 0.0 && p < 1.0, "{learner}: {p}");
    let explanation = model.explain(&odd);
    let segment = explanation
        .contributions
        .iter()
        .find(|c| c.feature == "customer.segment")
        .expect("the segment is explained");
    assert_eq!(segment.value, FeatureValue::Category("mining".into()));
    let total = explanation.base
        + explanation
            .contributions
            .iter()
            .map(|c| c.contribution)
            .sum::<f64>();
    assert!((total - explanation.raw_score).abs() < 1e-6);
    assert_eq!(
        explanation.probability(),
        p,
        "{learner}: one score, two ways"
    );
    let empty = model.probability(&RawFeatures::default());
    assert!(empty.is_finite(), "{learner}: {empty}");
}

#[test]
fn gradient_boosting_is_additive_stable_and_tolerant() {
    check_learner(Learner::GradientBoosting);
}

#[test]
fn our_tree_shap_matches_forust() {
    let data = synthetic(300, 13);
    let model = trained(Learner::GradientBoosting, &data);
    let boosted = model.fitted.boosted();
    for example in data.iter().take(60) {
        let row = model.spec.encode(&example.features);
        let (base, ours) = boosted.contributions(&row);
        let theirs = boosted.forust_contributions(&row);
        assert_eq!(theirs.len(), ours.len() + 1);
        for (a, b) in ours.iter().chain([&base]).zip(&theirs) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

#[test]
fn whole_tree_tables_give_the_leaf_tables_values() {
    let data = synthetic(300, 21);
    let model = trained(Learner::GradientBoosting, &data);
    let boosted = model.fitted.boosted();
    let (whole, trees) = boosted.whole_tree_tables();
    assert!(whole > 0, "no tree of {trees} has a whole-tree table");
    let mut rows: Vec<Vec<f64>> = data
        .iter()
        .take(80)
        .map(|e| model.spec.encode(&e.features))
        .collect();
    // Rows the training never saw: every value missing, and every other one missing.
    let width = rows[0].len();
    rows.push(vec![f64::NAN; width]);
    rows.push(
        rows[0]
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 2 == 0 { f64::NAN } else { v })
            .collect(),
    );
    let mut differing = 0;
    for row in &rows {
        let (_, whole) = boosted.contributions(row);
        let by_leaf = boosted.contributions_leaf_by_leaf(row);
        assert_eq!(whole.len(), by_leaf.len());
        for (a, b) in whole.iter().zip(&by_leaf) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            differing += usize::from(a != b);
        }
    }
    // Same sums, added in another order: equal to rounding, not necessarily to the bit.
    eprintln!("{whole} of {trees} trees whole; {differing} contributions differ in the last bits");
}

#[test]
fn logistic_regression_is_additive_stable_and_tolerant() {
    check_learner(Learner::LogisticRegression);
}

#[test]
fn random_forest_is_additive_stable_and_tolerant() {
    check_learner(Learner::RandomForest);
}

#[test]
fn chooses_among_all_and_reports_each() {
    let data = synthetic(400, 11);
    let model = train(&data, &TrainingOptions::quick()).expect("trains");
    let m = &model.metrics;
    assert_eq!(m.candidates.len(), 3);
    let best = m
        .candidates
        .iter()
        .map(|c| c.validation_auc)
        .fold(0.0, f64::max);
    let chosen = m
        .candidates
        .iter()
        .find(|c| c.learner == m.chosen)
        .expect("chosen is a candidate");
    assert_eq!(
        chosen.validation_auc, best,
        "chosen by validation AUC, never by the holdout"
    );
    assert_eq!(m.training_examples + m.holdout_examples, data.len());
    assert_eq!(m.holdout.confusion.total() as usize, m.holdout_examples);
    assert!((m.feature_importance.iter().map(|(_, s)| s).sum::<f64>() - 1.0).abs() < 1e-9);
    let top: Vec<&str> = m
        .feature_importance
        .iter()
        .take(6)
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(top.contains(&"bureau.negatives.pefin.count"), "{top:?}");
    // The holdout is the newest fifth.
    let newest = data.iter().map(|e| e.issued_at).max().expect("data");
    let newest_id = &data
        .iter()
        .find(|e| e.issued_at == newest)
        .expect("data")
        .order_id;
    assert!(model.holdout_ids().contains(newest_id));
    assert_eq!(m.split, crate::model::Split::TimeOrdered);
}
