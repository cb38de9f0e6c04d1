//! Checks that a trained model moves the risk the known way along each feature with a known
//! direction. Forust's constraints are not strict and the other learners have none, so the
//! check runs on every model: each such feature is swept over its training quantiles on a
//! sample of orders, all else held equal.

use super::spec::{Design, Encoding};
use super::trained::TrainedModel;
use crate::features::Direction;

const SAMPLE_ROWS: usize = 50;
const STEPS: usize = 10;
/// Below this a change in log-odds is rounding, not a violation.
const TOLERANCE: f64 = 1e-9;

pub(crate) fn violations(model: &TrainedModel, probe: &Design, training: &Design) -> Vec<String> {
    let owners = model.spec.owners();
    let mut found = Vec::new();
    for (index, feature) in model.spec.features.iter().enumerate() {
        let (Some(direction), Encoding::Number) = (feature.direction, &feature.encoding) else {
            continue;
        };
        let Some(column) = owners.iter().position(|&o| o == index) else {
            continue;
        };
        let grid = quantiles(training, column);
        if grid.len() < 2 {
            continue;
        }
        let step = probe.rows.div_ceil(SAMPLE_ROWS).max(1);
        let (mut checked, mut wrong, mut worst) = (0, 0, 0.0_f64);
        for r in (0..probe.rows).step_by(step) {
            let mut row = probe.row(r);
            let scores: Vec<f64> = grid
                .iter()
                .map(|&value| {
                    row[column] = value;
                    model.fitted.raw_score(&row)
                })
                .collect();
            let against = scores
                .windows(2)
                .map(|w| match direction {
                    Direction::RaisesRisk => w[0] - w[1],
                    Direction::LowersRisk => w[1] - w[0],
                })
                .fold(0.0, f64::max);
            checked += 1;
            if against > TOLERANCE {
                wrong += 1;
                worst = worst.max(against);
            }
        }
        if wrong > 0 {
            let should = match direction {
                Direction::RaisesRisk => "never lower the risk as it rises",
                Direction::LowersRisk => "never raise the risk as it rises",
            };
            found.push(format!(
                "{} should {should}, but did on {wrong} of {checked} orders checked (by up to {worst:.4} in log-odds)",
                feature.name
            ));
        }
    }
    found
}

/// Distinct values at evenly spaced quantiles of a column in training, missing left out.
fn quantiles(design: &Design, column: usize) -> Vec<f64> {
    let mut values: Vec<f64> = design
        .column(column)
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    if values.is_empty() {
        return Vec::new();
    }
    values.sort_by(f64::total_cmp);
    let mut grid: Vec<f64> = (0..=STEPS)
        .map(|k| values[(values.len() - 1) * k / STEPS])
        .collect();
    grid.dedup();
    grid
}
