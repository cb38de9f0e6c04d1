//! Model versions side by side, judged fairly: every version is evaluated on the same orders,
//! and only on orders none of them trained on. Scoring every version on the newest one's
//! holdout flattered an older version that had trained on some of those orders.

use super::columns::TrainingColumns;
use super::examples::{TrainingExample, for_each_example};
use super::learners::Learner;
use super::metrics::Evaluation;
use super::trained::TrainedModel;
use crate::ingest::items::{BureauReport, CreditLimit, Customer, Order};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Fewest orders of each outcome a comparison is made on. An AUC needs both outcomes to exist
/// at all, and it is the share of (blocked, approved) pairs ranked the right way round: with
/// 10 orders of each outcome its standard error is already about 0.1 (Hanley and McNeil, at
/// an AUC of 0.8), wider than the gaps between versions a comparison is asked to show, and
/// with fewer it only grows. It is also the least training asks of each outcome
/// ([`crate::model::MIN_PER_OUTCOME`]); below it, the answer would describe noise.
pub const MIN_COMPARED_PER_OUTCOME: usize = 10;

/// One version to compare, and what it may have trained on.
#[derive(Debug, Clone)]
pub struct Contender<'a> {
    pub version: i32,
    pub model: &'a TrainedModel,
    /// For each dataset it was trained from, the ids of that dataset's orders with an outcome.
    /// Those not in the model's holdout are what it trained on. Counting every such order,
    /// even one a later dataset replaced, errs towards leaving an order out, never towards
    /// letting a version be judged on what it saw.
    pub dataset_orders: Vec<&'a HashSet<String>>,
}

impl Contender<'_> {
    fn trained_on(&self, holdout: &HashSet<&str>, order_id: &str) -> bool {
        !holdout.contains(order_id) && self.dataset_orders.iter().any(|d| d.contains(order_id))
    }
}

/// What the versions were compared on, and how each did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ModelComparison))]
pub struct Comparison {
    /// Orders every version was evaluated on: those with an outcome that none of them trained
    /// on (for each version, in its holdout or outside the data it was trained from). At least
    /// 10 of each outcome.
    #[cfg_attr(feature = "openapi", schema(minimum = 20))]
    pub examples: usize,
    /// Of those, the approved ones.
    #[cfg_attr(feature = "openapi", schema(minimum = 10))]
    pub approved: usize,
    /// Of those, the blocked ones.
    #[cfg_attr(feature = "openapi", schema(minimum = 10))]
    pub blocked: usize,
    /// Orders with an outcome in the versions' datasets that were left out because at least
    /// one version trained on them.
    pub excluded: usize,
    /// In the order the contenders were given (the order of the `versions` parameter).
    pub versions: Vec<ComparedVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparedVersion {
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: i32,
    pub learner: Learner,
    /// Orders of the versions' datasets this version trained on; all are among `excluded`.
    pub trained_on: usize,
    /// At the version's own threshold, on the `examples` orders.
    pub evaluation: Evaluation,
}

/// Too few orders remain that none of the versions trained on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "only {remaining} orders remain that none of versions {versions} trained on ({approved} approved, {blocked} blocked; {excluded} more were left out because a version trained on them); a comparison needs at least {need} of each outcome"
)]
pub struct TooFewToCompare {
    /// The versions, as a list for the message ("1, 2").
    pub versions: String,
    pub remaining: usize,
    pub approved: usize,
    pub blocked: usize,
    pub excluded: usize,
    pub need: usize,
}

/// Evaluates every contender, at its own threshold, on the orders with an outcome in the data
/// given (items merged as training merges them) that none of the contenders trained on. Too
/// few of either outcome ([`MIN_COMPARED_PER_OUTCOME`]) is refused, saying how many remain.
pub fn compare(
    contenders: &[Contender<'_>],
    customers: &[Customer],
    credit_limits: &[CreditLimit],
    bureau_reports: &[BureauReport],
    orders: &[Order],
) -> Result<Comparison, TooFewToCompare> {
    let holdouts: Vec<HashSet<&str>> = contenders
        .iter()
        .map(|c| c.model.holdout_ids().iter().map(String::as_str).collect())
        .collect();
    let mut trained_on = vec![0; contenders.len()];
    let mut excluded = 0;
    let mut kept: Vec<(usize, TrainingExample)> = Vec::new();
    let columns = TrainingColumns::from_items(customers, credit_limits, bureau_reports, orders);
    for_each_example(&columns, |i, example| {
        let mut clean = true;
        for (k, contender) in contenders.iter().enumerate() {
            if contender.trained_on(&holdouts[k], &example.order_id) {
                trained_on[k] += 1;
                clean = false;
            }
        }
        if clean {
            kept.push((i, example));
        } else {
            excluded += 1;
        }
    });
    // The examples come in no particular order; the orders' own order makes the answer the
    // same at every call.
    kept.sort_unstable_by_key(|(i, _)| *i);
    let examples: Vec<TrainingExample> = kept.into_iter().map(|(_, e)| e).collect();
    let blocked = examples.iter().filter(|e| e.blocked).count();
    let approved = examples.len() - blocked;
    if approved.min(blocked) < MIN_COMPARED_PER_OUTCOME {
        return Err(TooFewToCompare {
            versions: contenders
                .iter()
                .map(|c| c.version.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            remaining: examples.len(),
            approved,
            blocked,
            excluded,
            need: MIN_COMPARED_PER_OUTCOME,
        });
    }
    let versions = contenders
        .iter()
        .zip(trained_on)
        .map(|(contender, trained_on)| ComparedVersion {
            version: contender.version,
            learner: contender.model.learner,
            trained_on,
            evaluation: contender.model.evaluate(&examples),
        })
        .collect();
    Ok(Comparison {
        examples: examples.len(),
        approved,
        blocked,
        excluded,
        versions,
    })
}
