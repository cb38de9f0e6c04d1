//! A training tells its progress stage by stage, and cross-validation takes exactly the steps
//! it announced, so the bar neither stalls at its end nor jumps over it.

use super::synthetic_dataset;
use crate::model::{Stage, TrainingOptions, TrainingProgress, train_dataset_reporting};

#[test]
fn each_stage_takes_the_steps_it_announced_in_order() {
    let (customers, limits, reports, orders) = synthetic_dataset(400, 11);
    let progress = TrainingProgress::default();
    train_dataset_reporting(
        &customers,
        &limits,
        &reports,
        &orders,
        &TrainingOptions::quick(),
        &progress,
    )
    .expect("trains");
    let left = progress.left.lock().expect("not poisoned").clone();
    let stages: Vec<Stage> = left.iter().map(|(stage, _, _)| *stage).collect();
    // The first entry is the untouched start (`Loading`), left for feature building.
    assert_eq!(
        stages,
        [
            Stage::Loading,
            Stage::BuildingFeatures,
            Stage::CrossValidating,
            Stage::Refitting
        ]
    );
    for (stage, done, total) in &left[1..3] {
        assert!(*total > 0, "{stage:?} announced no steps");
        assert_eq!(done, total, "{stage:?}");
    }
    assert_eq!(progress.snapshot().stage, Stage::EvaluatingHoldout);
}
