//! A company's decision policy: what decides an order around the model, in this order:
//! 1. hard rules on the order's features (a bankruptcy on record rejects; an order over three
//!    times the credit limit goes to review);
//! 2. the model's probability;
//! 3. a cut-off on it, set as a probability, as the approval rate wanted on the version's
//!    holdout, or by expected cost (a bad approval against a lost sale);
//! 4. refer bands: probabilities whose orders get the decision `review`, for a person.
//!
//! A policy is checked against the model's features when it is saved ([`Policy::check`]),
//! and judged the same way on a live order ([`Policy::judge`] over its assembled features)
//! and on a past decision replayed (over its stored drift values, [`StoredValues`]).
//!
//! Modules, in order of dependency: `check` (what a policy may say), `judge` (what it
//! decides), `replay` (what a new policy would have decided on past decisions).

mod check;
mod judge;
mod replay;

pub use check::{MAX_REFER_BANDS, MAX_RULES, REASON_CHARS};
pub use judge::{Band, FeatureValues, Judgement, StoredValues};
pub use replay::{
    PastDecision, REPLAY_EXAMPLES, ReplayChange, ReplaySummary, Transition, VerdictCounts,
};

use crate::model::{ScoreBin, TrainedModel};
use serde::{Deserialize, Serialize};

/// Reasons a decision under a policy lists at most: the rules that fired first, then the
/// model's largest factors.
pub const POLICY_REASONS: usize = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Checked in order; every rule that holds fires. A `reject` rule decides before a
    /// `review` one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub cutoff: Cutoff,
    /// Probabilities in [from, to) whose orders go to review; at most five, apart.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 5))]
    pub refer_bands: Vec<ReferBand>,
}

/// A hard rule: when `feature` meets the condition, `action`, for `reason`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// 1 to 40 of `a-z`, `0-9`, `_`, `-`; unique in the policy. Decisions name the rules that
    /// fired by it.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9_-]{1,40}$"))]
    pub id: String,
    /// One of the model's features, by name (`terms.amount_to_limit`,
    /// `bureau.negatives.bankruptcy.count`, ...).
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub feature: String,
    #[serde(flatten)]
    pub condition: Condition,
    pub action: RuleAction,
    pub reason: RuleReason,
}

/// What a feature's value is compared with. A missing value meets only `missing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "operator", rename_all = "snake_case")]
pub enum Condition {
    /// A number greater than `value`.
    Above { value: f64 },
    /// A number greater than or equal to `value`.
    AtLeast { value: f64 },
    /// A number less than `value`.
    Below { value: f64 },
    /// A number less than or equal to `value`.
    AtMost { value: f64 },
    /// A number equal to `value`.
    Equals { value: f64 },
    /// A category that is one of `levels`.
    In {
        #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
        levels: Vec<String>,
    },
    /// A category that is none of `levels` (a missing value is not compared).
    NotIn {
        #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
        levels: Vec<String>,
    },
    /// The value is missing.
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    Reject,
    Review,
}

/// Why the rule decides, as the customer and the analyst read it, in both languages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleReason {
    #[cfg_attr(feature = "openapi", schema(schema_with = reason_schema))]
    pub en: String,
    #[serde(rename = "pt-BR")]
    #[cfg_attr(feature = "openapi", schema(schema_with = reason_schema))]
    pub pt_br: String,
}

/// Where the model's probability is cut: at or above it, the order is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cutoff {
    /// The version's own threshold, chosen at training.
    #[default]
    Model,
    /// A fixed probability, in (0, 1).
    Probability {
        #[cfg_attr(
            feature = "openapi",
            schema(exclusive_minimum = 0, exclusive_maximum = 1)
        )]
        probability: f64,
    },
    /// The probability below which this share of the version's holdout orders falls, in
    /// (0, 1): the approval rate the company wants, if orders stay like the holdout's (the
    /// version's own threshold for a version trained before its holdout's scores were kept).
    ApprovalRate {
        #[cfg_attr(
            feature = "openapi",
            schema(exclusive_minimum = 0, exclusive_maximum = 1)
        )]
        approval_rate: f64,
    },
    /// Approve while the expected cost of approving (probability × `bad_approval_cost`) is
    /// below that of rejecting ((1 − probability) × `lost_sale_cost`): the cut is
    /// lost_sale / (bad_approval + lost_sale). Any positive amounts in one currency.
    ExpectedCost {
        #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
        bad_approval_cost: f64,
        #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
        lost_sale_cost: f64,
    },
}

/// A reason's text as the document states it: its length, and no character refused to values.
#[cfg(feature = "openapi")]
fn reason_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(*REASON_CHARS.start()))
        .max_length(Some(*REASON_CHARS.end()))
        .pattern(Some(crate::text::text_pattern()))
        .description(Some(
            "15 to 200 characters naming what about the order decides (not only words such as \
             policy, risk or decision); no control character.",
        ))
        .build()
}

/// Probabilities in [from, to).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReferBand {
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub from: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub to: f64,
}

impl ReferBand {
    pub fn contains(&self, probability: f64) -> bool {
        self.from <= probability && probability < self.to
    }
}

/// The policy a company's decisions follow, and its version (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInForce {
    pub version: i32,
    pub policy: Policy,
}

impl Cutoff {
    /// The probability at or above which `model`'s orders are rejected.
    pub fn threshold(&self, model: &TrainedModel) -> f64 {
        let holdout = model
            .metrics
            .holdout_curves
            .as_ref()
            .map(|curves| curves.score_distribution.as_slice());
        self.probability(model.threshold, holdout)
    }

    /// The cut for a version whose own threshold is `model_threshold` and whose holdout's
    /// probabilities are distributed as `holdout` (when known).
    fn probability(&self, model_threshold: f64, holdout: Option<&[ScoreBin]>) -> f64 {
        match *self {
            Cutoff::Model => model_threshold,
            Cutoff::Probability { probability } => probability,
            Cutoff::ApprovalRate { approval_rate } => holdout
                .and_then(|bins| holdout_quantile(bins, approval_rate))
                .unwrap_or(model_threshold),
            Cutoff::ExpectedCost {
                bad_approval_cost,
                lost_sale_cost,
                // lost / (bad + lost), written so that the sum of two huge costs cannot overflow.
            } => 1.0 / (1.0 + bad_approval_cost / lost_sale_cost),
        }
    }
}

/// The probability below which `share` of the holdout's orders fall, interpolated within the
/// 0.05-wide bins of its score distribution; `None` for an empty holdout.
fn holdout_quantile(bins: &[ScoreBin], share: f64) -> Option<f64> {
    let total: u64 = bins.iter().map(|b| b.approved + b.blocked).sum();
    if total == 0 {
        return None;
    }
    let wanted = share * total as f64;
    let mut below = 0.0;
    for bin in bins {
        let count = (bin.approved + bin.blocked) as f64;
        if count > 0.0 && below + count >= wanted {
            let inside = (wanted - below) / count;
            return Some(bin.from + inside * (bin.to - bin.from));
        }
        below += count;
    }
    bins.last().map(|b| b.to)
}

#[cfg(test)]
mod tests;
