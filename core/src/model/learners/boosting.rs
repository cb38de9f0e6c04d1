//! Gradient-boosted trees (forust): missing values handled natively, monotone constraints where
//! the direction is known, exact Shapley contributions (TreeSHAP) on the log-odds scale.
//! Trained and batch-scored by forust; single orders are scored and explained here, walking its
//! trees directly, because decisions do one order at a time and every microsecond counts.

use super::BoostingSettings;
use super::RowExplanation;
use super::treeshap::Explainer;
use crate::features::Direction;
use crate::model::spec::Design;
use forust_ml::constraints::{Constraint, ConstraintMap};
use forust_ml::tree::Tree;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

#[derive(Serialize, Deserialize)]
pub(crate) struct Boosted {
    // Boxed: the booster's settings alone are several hundred bytes.
    booster: Box<GradientBooster>,
    /// The expected raw score over the training rows: where every explanation starts.
    base: f64,
    /// Built from the trees on the first explanation (a stored model is read without it).
    #[serde(skip)]
    explainer: OnceLock<Explainer>,
}

impl std::fmt::Debug for Boosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Boosted")
            .field("trees", &self.booster.trees.len())
            .field("base_score", &self.booster.base_score)
            .finish_non_exhaustive()
    }
}

impl Boosted {
    pub(crate) fn fit(
        design: &Design,
        blocked: &[bool],
        directions: &[Option<Direction>],
        settings: &BoostingSettings,
        seed: u64,
    ) -> Result<Self, String> {
        let constraints: ConstraintMap = directions
            .iter()
            .enumerate()
            .filter(|_| settings.monotone)
            .filter_map(|(i, d)| match d {
                Some(Direction::RaisesRisk) => Some((i, Constraint::Positive)),
                Some(Direction::LowersRisk) => Some((i, Constraint::Negative)),
                None => None,
            })
            .collect();
        let mut booster = GradientBooster::default()
            .set_iterations(settings.iterations)
            .set_learning_rate(settings.learning_rate)
            .set_max_depth(settings.max_depth)
            .set_l2(settings.l2)
            .set_min_leaf_weight(settings.min_leaf_weight)
            .set_colsample_bytree(settings.colsample_bytree)
            .set_seed(seed)
            .set_parallel(settings.parallel)
            .set_monotone_constraints(Some(constraints));
        let matrix = Matrix::new(design.column_major(), design.rows, design.cols);
        let y: Vec<f64> = blocked.iter().map(|&b| f64::from(u8::from(b))).collect();
        booster
            .fit_unweighted(&matrix, &y, None)
            .map_err(|e| format!("gradient boosting could not be fitted: {e}"))?;
        let mut model = Boosted {
            booster: Box::new(booster),
            base: 0.0,
            explainer: OnceLock::new(),
        };
        model.base = model.booster.base_score
            + model
                .trees()
                .iter()
                .map(|t| t.get_average_leaf_weights(0))
                .sum::<f64>();
        Ok(model)
    }

    pub(crate) fn raw_scores(&self, design: &Design) -> Vec<f64> {
        self.booster.predict(
            &Matrix::new(design.column_major(), design.rows, design.cols),
            false,
        )
    }

    fn trees(&self) -> &[Tree] {
        let all = &self.booster.trees;
        &all[..self
            .booster
            .prediction_iteration
            .unwrap_or(all.len())
            .min(all.len())]
    }

    /// The same sum, in the same order, as forust's `predict`.
    pub(crate) fn raw_score(&self, row: &[f64]) -> f64 {
        let missing = self.booster.missing;
        let leaves = self
            .trees()
            .iter()
            .map(|t| t.predict_row_from_row_slice(row, &missing));
        leaves.fold(self.booster.base_score, |score, leaf| score + leaf)
    }

    /// Exact Shapley values per encoded column, and the base value they start from.
    pub(crate) fn contributions(&self, row: &[f64]) -> (f64, Vec<f64>) {
        let explained = self.explain_row(row);
        (explained.base, explained.per_column)
    }

    /// The Shapley values and the raw score, from one pass over the trees: the explainer's
    /// tables know which leaf each pattern reaches.
    pub(crate) fn explain_row(&self, row: &[f64]) -> RowExplanation {
        let mut per_column = vec![0.0; row.len()];
        let raw_score = self
            .explainer
            .get_or_init(|| Explainer::new(self.trees()))
            .contributions(
                self.trees(),
                row,
                self.booster.missing,
                self.booster.base_score,
                &mut per_column,
            );
        RowExplanation {
            base: self.base,
            per_column,
            raw_score,
        }
    }

    /// The same values from every tree's leaf tables, none from whole-tree tables: to check
    /// the whole-tree tables against.
    #[cfg(test)]
    pub(crate) fn contributions_leaf_by_leaf(&self, row: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; row.len()];
        Explainer::build(self.trees(), 0).contributions(
            self.trees(),
            row,
            self.booster.missing,
            self.booster.base_score,
            &mut out,
        );
        out
    }

    /// How many trees (of how many) the explainer reads from whole-tree tables.
    #[cfg(test)]
    pub(crate) fn whole_tree_tables(&self) -> (usize, usize) {
        (
            Explainer::new(self.trees()).whole_trees(),
            self.trees().len(),
        )
    }

    /// forust's own (f32) Shapley values, to check ours against.
    #[cfg(test)]
    pub(crate) fn forust_contributions(&self, row: &[f64]) -> Vec<f64> {
        use forust_ml::gradientbooster::ContributionsMethod;
        let matrix = Matrix::new(row, 1, row.len());
        self.booster
            .predict_contributions(&matrix, ContributionsMethod::Shapley, false)
    }
}
