//! The decision on one order: features with the same assembly as training, the model's
//! probability against its threshold, the top reasons in words, and for a rejection the
//! largest amount that would have passed. The same whether the request came over HTTP or
//! straight over Kafka; the processor only reads the request and writes the answer.

use crate::features::{CustomerFacts, FeatureValue, RawFeatures, assemble, reprice};
use crate::ingest::items::{Cents, Order};
use crate::model::TrainedModel;
use crate::reasons::{Language, sentence};
use std::time::{Duration, Instant};

/// How many factors a decision lists.
pub const TOP_REASONS: usize = 5;
/// Bisection for the largest approvable amount stops at one cent.
const SMALLEST_AMOUNT: Cents = Cents(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    Rejected,
}

/// One factor behind a decision, largest effect first.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub feature: String,
    /// The feature's value as text; `None` when it was missing.
    pub value: Option<String>,
    /// Signed contribution to the risk (log-odds); positive raised it.
    pub contribution: f64,
    pub sentence: String,
}

/// How long each step of the decision took, measured where it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecisionTimings {
    pub features: Duration,
    /// The probability and the explanation behind the reasons (one pass over the model).
    pub model: Duration,
    pub reasons: Duration,
    /// The search for the largest approvable amount: rejections only.
    pub max_amount: Option<Duration>,
    /// The whole decision.
    pub decide: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    /// Probability that the order would be blocked.
    pub probability: f64,
    /// The model's threshold: at or above it, the order is rejected.
    pub threshold: f64,
    /// The [`TOP_REASONS`] largest factors.
    pub reasons: Vec<Reason>,
    /// For a rejection, the largest amount the model approves with every other fact equal.
    pub max_approvable_amount: Option<Cents>,
    /// The order's features as the drift report counts them, recorded with the decision.
    pub drift_values: Vec<f64>,
    pub timings: DecisionTimings,
}

/// Decides `order` with `model`, from what is known of its customer.
pub fn decide(
    model: &TrainedModel,
    order: &Order,
    facts: &CustomerFacts,
    language: Language,
) -> Decision {
    let started = Instant::now();
    let features = assemble(order, facts);
    let features_took = started.elapsed();

    // The explanation carries the raw score, so the row is encoded and scored once.
    let scored = Instant::now();
    let explanation = model.explain(&features);
    let probability = explanation.probability();
    let rejected = model.blocks(probability);
    let model_took = scored.elapsed();

    let explained = Instant::now();
    let reasons = explanation
        .contributions
        .into_iter()
        .take(TOP_REASONS)
        .map(|c| Reason {
            value: value_text(&c.value),
            sentence: sentence(&c.feature, &c.value, c.contribution, language),
            contribution: c.contribution,
            feature: c.feature,
        })
        .collect();
    let reasons_took = explained.elapsed();

    let drift_values = model.drift_values(&features);
    let (max_approvable_amount, max_amount_took) = if rejected {
        let searched = Instant::now();
        let amount = max_approvable(model, order, features);
        (amount, Some(searched.elapsed()))
    } else {
        (None, None)
    };
    Decision {
        verdict: if rejected {
            Verdict::Rejected
        } else {
            Verdict::Approved
        },
        probability,
        threshold: model.threshold,
        reasons,
        max_approvable_amount,
        drift_values,
        timings: DecisionTimings {
            features: features_took,
            model: model_took,
            reasons: reasons_took,
            max_amount: max_amount_took,
            decide: started.elapsed(),
        },
    }
}

/// A feature's value as text for the reason; `None` when it was missing.
pub fn value_text(value: &FeatureValue) -> Option<String> {
    match value {
        FeatureValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(format!("{n:.0}")),
        FeatureValue::Number(n) => Some(format!("{:.4}", n).trim_end_matches('0').to_owned()),
        FeatureValue::Category(text) => Some(text.clone()),
        FeatureValue::Missing => None,
    }
}

/// The largest amount below the order's that the model approves with every other fact equal,
/// by bisection on the amount (about 40 model evaluations, each on the order's `features`
/// repriced in place). It assumes risk grows with the amount, as the monotone constraints of
/// training make it; `None` when even the smallest amount is rejected.
pub fn max_approvable(
    model: &TrainedModel,
    order: &Order,
    mut features: RawFeatures,
) -> Option<Cents> {
    let mut approves = |amount: Cents| {
        reprice(&mut features, amount);
        !model.blocks(model.probability(&features))
    };
    if order.amount <= SMALLEST_AMOUNT || !approves(SMALLEST_AMOUNT) {
        return None;
    }
    // Invariant: `low` is approved, `high` is rejected.
    let (mut low, mut high) = (SMALLEST_AMOUNT.0, order.amount.0);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if approves(Cents(middle)) {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(Cents(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_text() {
        assert_eq!(value_text(&FeatureValue::Number(3.0)), Some("3".into()));
        assert_eq!(value_text(&FeatureValue::Number(0.25)), Some("0.25".into()));
        assert_eq!(
            value_text(&FeatureValue::Category("SP".into())),
            Some("SP".into())
        );
        assert_eq!(value_text(&FeatureValue::Missing), None);
    }
}
