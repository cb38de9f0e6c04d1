//! A trained model: what it is, how it scored on its holdout, and how it scores and explains
//! an order.

use super::examples::TrainingExample;
use super::learners::{Fitted, Learner, sigmoid};
use super::metrics::{self, Evaluation, HoldoutCurves};
use super::spec::FeatureSpec;
use super::split::Split;
use crate::features::{FeatureValue, RawFeatures};
use crate::monitoring::DriftReference;
use crate::outcome::TrainingLabel;
use serde::{Deserialize, Serialize};

/// One candidate learner: its validation AUC (out-of-fold, training part only: this is what
/// chose) and its AUC on the holdout once refitted (shown only). On large training parts the
/// candidates are validated on a sample and only the chosen one is refitted on all of it; the
/// row counts say which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CandidateScore {
    pub learner: Learner,
    /// Out-of-fold ROC AUC on the training part: what chose the learner. 0 when it failed.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub validation_auc: f64,
    /// ROC AUC on the holdout of the model fitted on `fitted_rows` rows (the chosen learner:
    /// the whole training part); shown only, it chose nothing. 0 when it failed.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub holdout_auc: f64,
    /// Seconds spent fitting it: its cross-validation and its refit. The folds of all
    /// candidates share the cores, so this is the sum of their fits, not the wall time.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub seconds: f64,
    /// Training rows its out-of-fold validation AUC is over (0: not recorded, older models).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub validation_rows: usize,
    /// Rows the model scored on the holdout learnt from (0: not recorded, older models).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub fitted_rows: usize,
    /// Why it could not be fitted, when it could not (its AUCs are then 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, examples("random forest could not be fitted"))
    )]
    pub failure: Option<String>,
}

/// Everything measured when the version was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelMetrics {
    /// The chosen model on the holdout: orders it never saw.
    pub holdout: Evaluation,
    /// Orders with a probability at or above this are blocked: the cut that maximises KS on the
    /// out-of-fold probabilities (or, when configured, minimises the cost of errors).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub threshold: f64,
    pub chosen: Learner,
    /// Every learner tried, in order of preference (the first wins a tie).
    pub candidates: Vec<CandidateScore>,
    /// `[feature, share]` pairs: each feature's share of the mean absolute contribution
    /// (log-odds) on the training orders. The shares sum to 1; largest first.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::model::schema::feature_importance))]
    pub feature_importance: Vec<(String, f64)>,
    /// Features with a known direction (the bureau score lowers the risk; negatives, late
    /// payment, inquiries and amount to limit raise it) along which the model's risk moved the
    /// wrong way, one sentence each; empty when none did.
    #[cfg_attr(
        feature = "openapi",
        schema(examples(
            "bureau.inquiries should never lower the risk as it rises, but did on 3 of 50 orders checked (by up to 0.0123 in log-odds)"
        ))
    )]
    pub monotonicity_violations: Vec<String>,
    /// The holdout's ROC curve, probabilities by outcome and calibration; absent for versions
    /// trained before they were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_curves: Option<HoldoutCurves>,
    /// What the version learnt: the company's decisions on its uploaded orders, or how the
    /// orders aval decided were repaid. Versions trained before labels could be chosen learnt
    /// the company's decisions.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub label: TrainingLabel,
    /// Orders in the training part.
    pub training_examples: usize,
    /// Orders in the holdout.
    pub holdout_examples: usize,
    pub split: Split,
    /// Wall time of the whole training.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub training_seconds: f64,
}

/// Why a score is what it is: `base + Σ contributions = raw_score` (log-odds of "blocked").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub base: f64,
    pub raw_score: f64,
    /// One per feature the model uses, largest effect first.
    pub contributions: Vec<Contribution>,
}

impl Explanation {
    /// Probability that the order is blocked: the same as [`TrainedModel::probability`].
    pub fn probability(&self) -> f64 {
        sigmoid(self.raw_score)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub feature: String,
    pub value: FeatureValue,
    /// Signed, on the log-odds scale; positive raises the risk.
    pub contribution: f64,
}

/// A fitted model with everything needed to use it and to judge it. Immutable once trained;
/// serialise it (serde_json) to store a model version.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrainedModel {
    pub learner: Learner,
    /// The chosen learner's settings.
    pub params: serde_json::Value,
    pub spec: FeatureSpec,
    /// Orders with a probability at or above this are blocked.
    pub threshold: f64,
    pub metrics: ModelMetrics,
    /// The training distributions live orders are compared with; absent for versions trained
    /// before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftReference>,
    pub(super) holdout_ids: Vec<String>,
    pub(super) fitted: Fitted,
}

impl TrainedModel {
    /// Log-odds that the order is blocked.
    pub fn raw_score(&self, features: &RawFeatures) -> f64 {
        self.fitted.raw_score(&self.spec.encode(features))
    }

    /// Probability that the order is blocked.
    pub fn probability(&self, features: &RawFeatures) -> f64 {
        sigmoid(self.raw_score(features))
    }

    /// The order's features as the drift report counts them ([`FeatureSpec::drift_values`]).
    pub fn drift_values(&self, features: &RawFeatures) -> Vec<f64> {
        self.spec.drift_values(features)
    }

    /// Whether this model blocks an order with that probability.
    pub fn blocks(&self, probability: f64) -> bool {
        probability >= self.threshold
    }

    /// Exact additive contributions per feature (see each learner for the method).
    pub fn explain(&self, features: &RawFeatures) -> Explanation {
        let row = self.spec.encode(features);
        let explained = self.fitted.explain_row(&row);
        let mut per_feature = vec![0.0; self.spec.features.len()];
        for (owner, c) in self.spec.owners().into_iter().zip(explained.per_column) {
            per_feature[owner] += c;
        }
        let (base, raw_score) = (explained.base, explained.raw_score);
        let mut contributions: Vec<Contribution> = self
            .spec
            .features
            .iter()
            .zip(per_feature)
            .map(|(column, contribution)| Contribution {
                feature: column.name.clone(),
                value: features.get(&column.name).clone(),
                contribution,
            })
            .collect();
        contributions.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        Explanation {
            base,
            raw_score,
            contributions,
        }
    }

    /// Metrics of this model, at its own threshold, on other labelled orders.
    pub fn evaluate(&self, examples: &[TrainingExample]) -> Evaluation {
        let design = self.spec.design(examples.iter().map(|e| &e.features));
        let probabilities: Vec<f64> = self
            .fitted
            .raw_scores(&design)
            .into_iter()
            .map(sigmoid)
            .collect();
        let blocked: Vec<bool> = examples.iter().map(|e| e.blocked).collect();
        metrics::evaluate(&probabilities, &blocked, self.threshold)
    }

    /// [`TrainedModel::evaluate`] on this model's probabilities of orders already scored, one
    /// per order with its outcome: for callers that score examples as they stream by rather
    /// than hold them (each is a few KB).
    pub fn evaluate_probabilities(&self, probabilities: &[f64], blocked: &[bool]) -> Evaluation {
        metrics::evaluate(probabilities, blocked, self.threshold)
    }

    /// Order ids of this model's holdout, so another version can be evaluated on the same.
    pub fn holdout_ids(&self) -> &[String] {
        &self.holdout_ids
    }
}
