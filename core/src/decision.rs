//! The decision on one order: features with the same assembly as training, the model's
//! probability, the company's policy around it (hard rules, cut-off, refer bands; without a
//! policy, the model's own threshold), the top reasons in words, and for a rejection the
//! largest amount that would have passed. The same whether the request came over HTTP or
//! straight over Kafka; the processor only reads the request and writes the answer.

use crate::features::{CustomerFacts, FeatureValue, RawFeatures, assemble, reprice};
use crate::ingest::items::{Cents, Order};
use crate::model::TrainedModel;
use crate::policy::{Band, POLICY_REASONS, PolicyInForce};
use crate::reasons::{Language, sentence};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How many factors a decision lists.
pub const TOP_REASONS: usize = 5;
/// Bisection for the largest approvable amount stops at one cent.
const SMALLEST_AMOUNT: Cents = Cents(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Rejected,
    /// The policy sends the order to a person (a `review` rule, or a refer band).
    Review,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
            Verdict::Review => "review",
        }
    }

    pub fn parse(text: &str) -> Option<Verdict> {
        [Verdict::Approved, Verdict::Rejected, Verdict::Review]
            .into_iter()
            .find(|v| v.as_str() == text)
    }
}

/// How the company's policy decided: its version, the step that decided, the rules that
/// fired (by id, in the policy's order).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyApplied {
    pub version: i32,
    pub band: Band,
    pub rules_fired: Vec<String>,
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
    /// The cut-off: at or above it, the order is rejected (the policy's, else the model's).
    pub threshold: f64,
    /// Without a policy, the [`TOP_REASONS`] largest factors; under one, the reasons of the
    /// rules that fired, then the largest factors, [`POLICY_REASONS`] in all.
    pub reasons: Vec<Reason>,
    /// `None` when the company has no policy.
    pub policy: Option<PolicyApplied>,
    /// For a rejection, the largest amount the model approves with every other fact equal.
    pub max_approvable_amount: Option<Cents>,
    /// The order's features as the drift report counts them, recorded with the decision.
    pub drift_values: Vec<f64>,
    pub timings: DecisionTimings,
}

/// Decides `order` with `model` under the company's `policy`, from what is known of its
/// customer.
pub fn decide(
    model: &TrainedModel,
    policy: Option<&PolicyInForce>,
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
    let threshold = policy.map_or(model.threshold, |p| p.policy.cutoff.threshold(model));
    let judged = policy.map(|p| (p, p.policy.judge(&features, probability, threshold)));
    let verdict = match &judged {
        Some((_, judgement)) => judgement.verdict,
        None if probability >= threshold => Verdict::Rejected,
        None => Verdict::Approved,
    };
    let model_took = scored.elapsed();

    let explained = Instant::now();
    let mut reasons: Vec<Reason> = Vec::new();
    if let Some((in_force, judgement)) = &judged {
        for i in in_force.policy.decisive_first(judgement) {
            let rule = &in_force.policy.rules[i];
            reasons.push(Reason {
                feature: rule.feature.clone(),
                value: value_text(features.get(&rule.feature)),
                // A rule is not a factor of the model: it adds nothing to the risk score.
                contribution: 0.0,
                sentence: match language {
                    Language::English => rule.reason.en.clone(),
                    Language::Portuguese => rule.reason.pt_br.clone(),
                },
            });
        }
    }
    let listed = if judged.is_some() {
        POLICY_REASONS
    } else {
        TOP_REASONS
    };
    let factors = listed.saturating_sub(reasons.len());
    reasons.extend(
        explanation
            .contributions
            .into_iter()
            .take(factors)
            .map(|c| Reason {
                value: value_text(&c.value),
                sentence: sentence(&c.feature, &c.value, c.contribution, language),
                contribution: c.contribution,
                feature: c.feature,
            }),
    );
    reasons.truncate(listed);
    let reasons_took = explained.elapsed();

    let drift_values = model.drift_values(&features);
    let applied = judged.map(|(in_force, judgement)| PolicyApplied {
        version: in_force.version,
        band: judgement.band,
        rules_fired: judgement
            .rules_fired
            .iter()
            .map(|&i| in_force.policy.rules[i].id.clone())
            .collect(),
    });
    let (max_approvable_amount, max_amount_took) = if verdict == Verdict::Rejected {
        let searched = Instant::now();
        let approves = |features: &RawFeatures| {
            let probability = model.probability(features);
            match policy {
                Some(p) => {
                    p.policy.judge(features, probability, threshold).verdict == Verdict::Approved
                }
                None => probability < threshold,
            }
        };
        let amount = max_approvable(order, features, approves);
        (amount, Some(searched.elapsed()))
    } else {
        (None, None)
    };
    Decision {
        verdict,
        probability,
        threshold,
        reasons,
        policy: applied,
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

/// What `model` makes of `order` under the company's `policy` without deciding it: the
/// probability and the verdict, without reasons or the largest approvable amount. A version
/// scoring beside the one that decided (a shadow, or the champion on a challenger's order)
/// needs no more, at a fraction of the cost.
pub fn score(
    model: &TrainedModel,
    policy: Option<&PolicyInForce>,
    order: &Order,
    facts: &CustomerFacts,
) -> (f64, Verdict) {
    let features = assemble(order, facts);
    let probability = model.probability(&features);
    let threshold = policy.map_or(model.threshold, |p| p.policy.cutoff.threshold(model));
    let verdict = match policy {
        Some(p) => p.policy.judge(&features, probability, threshold).verdict,
        None if probability >= threshold => Verdict::Rejected,
        None => Verdict::Approved,
    };
    (probability, verdict)
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

/// The largest amount below the order's that `approves` (the model, under the policy) with
/// every other fact equal, by bisection on the amount (about 40 evaluations, each on the
/// order's `features` repriced); `None` when not even one cent is approved.
pub fn max_approvable(
    order: &Order,
    mut features: RawFeatures,
    approves: impl Fn(&RawFeatures) -> bool,
) -> Option<Cents> {
    let mut approves_at = |amount: Cents| {
        reprice(&mut features, amount);
        approves(&features)
    };
    if order.amount <= SMALLEST_AMOUNT || !approves_at(SMALLEST_AMOUNT) {
        return None;
    }
    // Invariant: `low` is approved, `high` is rejected.
    let (mut low, mut high) = (SMALLEST_AMOUNT.0, order.amount.0);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if approves_at(Cents(middle)) {
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
