//! Versions compared only on orders none of them trained on.

use super::{Dataset, synthetic_dataset};
use crate::ingest::items::Order;
use crate::model::{
    Contender, Learner, MIN_COMPARED_PER_OUTCOME, TrainedModel, TrainingOptions, compare, examples,
    train_dataset,
};
use std::collections::HashSet;

fn options() -> TrainingOptions {
    TrainingOptions {
        candidates: vec![Learner::LogisticRegression],
        ..TrainingOptions::quick()
    }
}

fn trained_on(data: &Dataset, orders: &[Order], options: &TrainingOptions) -> TrainedModel {
    let (customers, limits, reports, _) = data;
    train_dataset(customers, limits, reports, orders, options).expect("the portfolio trains")
}

fn held_by(model: &TrainedModel) -> HashSet<&str> {
    model.holdout_ids().iter().map(String::as_str).collect()
}

fn ids(orders: &[Order]) -> HashSet<String> {
    orders.iter().map(|o| o.id.clone()).collect()
}

/// 600 orders, one an hour: `older` is the first 300, `newer` the last 300.
fn portfolio() -> (Dataset, HashSet<String>, HashSet<String>) {
    let data = synthetic_dataset(600, 7);
    let (older, newer) = data.3.split_at(300);
    let (older, newer) = (ids(older), ids(newer));
    (data, older, newer)
}

#[test]
fn an_older_version_is_not_judged_on_orders_it_trained_on() {
    let (data, older, newer) = portfolio();
    let (customers, limits, reports, orders) = &data;
    // Version 1 trained on the newer half alone; version 2 on both halves, so its holdout (the
    // newest 120 orders) holds 60 orders version 1 trained on.
    let v1 = trained_on(&data, &orders[300..], &options());
    let v2 = trained_on(&data, orders, &options());
    let (h1, h2) = (held_by(&v1), held_by(&v2));
    assert_eq!((h1.len(), h2.len()), (60, 120));
    assert!(h1.is_subset(&h2));

    let contenders = [
        Contender {
            version: 1,
            model: &v1,
            dataset_orders: vec![&newer],
        },
        Contender {
            version: 2,
            model: &v2,
            dataset_orders: vec![&older, &newer],
        },
    ];
    let comparison = compare(&contenders, customers, limits, reports, orders).expect("compares");
    assert_eq!(
        comparison.examples, 60,
        "only version 1's holdout is clean: {comparison:?}"
    );
    assert_eq!(comparison.excluded, 540);
    assert_eq!(comparison.approved + comparison.blocked, 60);
    let trained: Vec<usize> = comparison.versions.iter().map(|v| v.trained_on).collect();
    assert_eq!(trained, [240, 480]);

    // Each version's evaluation is on exactly version 1's holdout.
    let all = examples(customers, limits, reports, orders);
    let clean: Vec<_> = all
        .into_iter()
        .filter(|e| h1.contains(e.order_id.as_str()))
        .collect();
    assert_eq!(
        comparison.blocked,
        clean.iter().filter(|e| e.blocked).count()
    );
    assert_eq!(comparison.versions[0].evaluation, v1.evaluate(&clean));
    assert_eq!(comparison.versions[1].evaluation, v2.evaluate(&clean));
    assert_eq!(comparison.versions[0].version, 1);
    assert_eq!(comparison.versions[1].learner, Learner::LogisticRegression);
}

#[test]
fn orders_outside_a_versions_data_count_as_unseen_by_it() {
    let (data, older, newer) = portfolio();
    let (customers, limits, reports, orders) = &data;
    let on_newer = trained_on(&data, &orders[300..], &options());
    let on_older = trained_on(&data, &orders[..300], &options());
    let contenders = [
        Contender {
            version: 3,
            model: &on_newer,
            dataset_orders: vec![&newer],
        },
        Contender {
            version: 4,
            model: &on_older,
            dataset_orders: vec![&older],
        },
    ];
    let comparison = compare(&contenders, customers, limits, reports, orders).expect("compares");
    // Each one's holdout is outside the other's data: both holdouts are clean.
    assert_eq!(comparison.examples, 120, "{comparison:?}");
    assert_eq!(comparison.excluded, 480);
    let versions: Vec<i32> = comparison.versions.iter().map(|v| v.version).collect();
    assert_eq!(versions, [3, 4], "in the order given");
}

#[test]
fn too_few_clean_orders_are_refused_with_the_count_and_the_minimum() {
    let (data, older, newer) = portfolio();
    let (customers, limits, reports, orders) = &data;
    let on_all = trained_on(&data, orders, &options());
    // Trained on the newest 120 orders but 12, which version 5 holds out.
    let small_holdout = TrainingOptions {
        holdout_fraction: 0.1,
        ..options()
    };
    let on_newest = trained_on(&data, &orders[480..], &small_holdout);
    assert_eq!(on_newest.holdout_ids().len(), 12);
    let newest = ids(&orders[480..]);
    let contenders = [
        Contender {
            version: 5,
            model: &on_all,
            dataset_orders: vec![&older, &newer],
        },
        Contender {
            version: 6,
            model: &on_newest,
            dataset_orders: vec![&newest],
        },
    ];
    let refused = compare(&contenders, customers, limits, reports, orders)
        .expect_err("12 orders cannot hold 10 of each outcome");
    assert_eq!(refused.remaining, 12);
    assert_eq!(refused.approved + refused.blocked, 12);
    assert_eq!(refused.excluded, 588);
    assert_eq!(refused.need, MIN_COMPARED_PER_OUTCOME);
    let message = refused.to_string();
    assert!(
        message.starts_with("only 12 orders remain that none of versions 5, 6 trained on")
            && message.ends_with("a comparison needs at least 10 of each outcome"),
        "{message}"
    );
}
