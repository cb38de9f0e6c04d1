//! The decision itself, pure: features with the same assembly as training, the model's
//! probability and verdict, the top reasons in words, and for a rejection the largest amount
//! that would have passed. No I/O, so it is the same whether the request came over HTTP or
//! straight over Kafka.

use aval_core::features::{CustomerFacts, FeatureValue, RawFeatures, assemble, reprice};
use aval_core::ingest::items::{Cents, Order};
use aval_core::model::TrainedModel;
use aval_core::reasons::{Language, sentence};
use aval_topics::records::{DecisionOutcomeWire, ReasonWire};
use std::collections::HashMap;
use std::time::Instant;

/// How many factors a decision lists.
pub(crate) const TOP_REASONS: usize = 5;
/// Below one real an approval says nothing useful; bisection stops at one cent anyway.
const SMALLEST_AMOUNT: Cents = Cents(1);

#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) decision: DecisionOutcomeWire,
    pub(crate) probability: f64,
    pub(crate) threshold: f64,
    pub(crate) reasons: Vec<ReasonWire>,
    pub(crate) max_approvable_amount_cents: Option<i64>,
    pub(crate) timings_us: HashMap<String, i64>,
}

fn micros(since: Instant) -> i64 {
    i64::try_from(since.elapsed().as_micros()).unwrap_or(i64::MAX)
}

/// A feature's value as text for the reason; `None` when it was missing.
pub(crate) fn value_text(value: &FeatureValue) -> Option<String> {
    match value {
        FeatureValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(format!("{n:.0}")),
        FeatureValue::Number(n) => Some(format!("{:.4}", n).trim_end_matches('0').to_owned()),
        FeatureValue::Category(text) => Some(text.clone()),
        FeatureValue::Missing => None,
    }
}

pub(crate) fn decide(
    model: &TrainedModel,
    order: &Order,
    facts: &CustomerFacts,
    language: Language,
) -> Verdict {
    let mut timings_us = HashMap::new();
    let started = Instant::now();
    let features = assemble(order, facts);
    timings_us.insert("features".to_owned(), micros(started));

    // The explanation carries the raw score, so the row is encoded and scored once.
    let scored = Instant::now();
    let explanation = model.explain(&features);
    let probability = explanation.probability();
    let rejected = model.blocks(probability);
    timings_us.insert("model".to_owned(), micros(scored));

    let explained = Instant::now();
    let reasons = explanation
        .contributions
        .iter()
        .take(TOP_REASONS)
        .map(|c| ReasonWire {
            feature: c.feature.clone(),
            value: value_text(&c.value),
            contribution: c.contribution,
            sentence: sentence(&c.feature, &c.value, c.contribution, language),
        })
        .collect();
    timings_us.insert("reasons".to_owned(), micros(explained));

    let max_approvable_amount_cents = if rejected {
        let searched = Instant::now();
        let amount = max_approvable(model, order, &features);
        timings_us.insert("max_amount".to_owned(), micros(searched));
        amount.map(|c| c.0)
    } else {
        None
    };
    timings_us.insert("decide".to_owned(), micros(started));
    Verdict {
        decision: if rejected {
            DecisionOutcomeWire::Rejected
        } else {
            DecisionOutcomeWire::Approved
        },
        probability,
        threshold: model.threshold,
        reasons,
        max_approvable_amount_cents,
        timings_us,
    }
}

/// The largest amount below the order's that the model approves with every other fact equal,
/// by bisection on the amount (about 40 model evaluations, each on the order's `features`
/// repriced). It assumes risk grows with the amount, as the monotone constraints of training
/// make it; `None` when even the smallest amount is rejected.
pub(crate) fn max_approvable(
    model: &TrainedModel,
    order: &Order,
    features: &RawFeatures,
) -> Option<Cents> {
    let mut candidate = features.clone();
    let mut approves = |amount: Cents| {
        reprice(&mut candidate, amount);
        !model.blocks(model.probability(&candidate))
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
