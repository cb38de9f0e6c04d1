//! What a policy decides for one order: from its features (a live order's, assembled as
//! training does, or a past decision's stored drift values) and the model's probability.

use super::{Condition, Policy, RuleAction};
use crate::decision::Verdict;
use crate::features::{FeatureValue, RawFeatures};
use crate::model::{Encoding, FeatureSpec};
use serde::{Deserialize, Serialize};

/// An order's features as rules read them.
pub trait FeatureValues {
    /// The feature's number; `None` when missing or not a number.
    fn number(&self, name: &str) -> Option<f64>;
    /// The feature's category level; `None` when missing, not a category, or a level the model
    /// did not know.
    fn level(&self, name: &str) -> Option<&str>;
}

impl FeatureValues for RawFeatures {
    fn number(&self, name: &str) -> Option<f64> {
        self.get(name).as_number()
    }

    fn level(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            FeatureValue::Category(level) => Some(level),
            _ => None,
        }
    }
}

/// A past decision's features: its drift values, in the order of its model's features (a
/// category as the index of its level, NaN when missing).
#[derive(Debug, Clone, Copy)]
pub struct StoredValues<'a> {
    pub spec: &'a FeatureSpec,
    pub values: &'a [f64],
}

impl StoredValues<'_> {
    fn stored(&self, name: &str) -> Option<(&Encoding, f64)> {
        let index = self.spec.features.iter().position(|f| f.name == name)?;
        let value = *self.values.get(index)?;
        (!value.is_nan()).then_some((&self.spec.features[index].encoding, value))
    }
}

impl FeatureValues for StoredValues<'_> {
    fn number(&self, name: &str) -> Option<f64> {
        match self.stored(name)? {
            (Encoding::Number, value) => Some(value),
            _ => None,
        }
    }

    fn level(&self, name: &str) -> Option<&str> {
        match self.stored(name)? {
            // The index after the last level is a level the model did not know.
            (Encoding::Category { levels }, index) => Some(
                levels
                    .get(index as usize)
                    .map_or(crate::model::OTHER, String::as_str),
            ),
            _ => None,
        }
    }
}

/// Which step of the policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// A hard rule fired.
    Rule,
    /// Below the cut-off, outside every refer band.
    Approve,
    /// In a refer band: a person decides.
    Refer,
    /// At or above the cut-off, outside every refer band.
    Reject,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Rule => "rule",
            Band::Approve => "approve",
            Band::Refer => "refer",
            Band::Reject => "reject",
        }
    }

    pub fn parse(text: &str) -> Option<Band> {
        [Band::Rule, Band::Approve, Band::Refer, Band::Reject]
            .into_iter()
            .find(|b| b.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub band: Band,
    /// The indices of the rules that fired, in the policy's order.
    pub rules_fired: Vec<usize>,
}

impl Policy {
    /// Decides an order: a `reject` rule that fires rejects, else a `review` rule sends it to
    /// review; else a probability in a refer band goes to review, and the cut-off (`threshold`)
    /// decides the rest.
    pub fn judge(
        &self,
        values: &impl FeatureValues,
        probability: f64,
        threshold: f64,
    ) -> Judgement {
        let rules_fired: Vec<usize> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| holds(&rule.condition, values, &rule.feature))
            .map(|(i, _)| i)
            .collect();
        let fired = |action| rules_fired.iter().any(|&i| self.rules[i].action == action);
        let (verdict, band) = if fired(RuleAction::Reject) {
            (Verdict::Rejected, Band::Rule)
        } else if fired(RuleAction::Review) {
            (Verdict::Review, Band::Rule)
        } else if self.refer_bands.iter().any(|b| b.contains(probability)) {
            (Verdict::Review, Band::Refer)
        } else if probability >= threshold {
            (Verdict::Rejected, Band::Reject)
        } else {
            (Verdict::Approved, Band::Approve)
        };
        Judgement {
            verdict,
            band,
            rules_fired,
        }
    }
}

impl Policy {
    /// The rules that fired, those whose action decided first (a rejection names its reject
    /// rules before any review rule that also fired), each group in the policy's order: the
    /// order a decision lists their reasons in.
    pub fn decisive_first(&self, judgement: &Judgement) -> Vec<usize> {
        let mut fired = judgement.rules_fired.clone();
        fired.sort_by_key(|&i| match self.rules[i].action {
            RuleAction::Reject => judgement.verdict != Verdict::Rejected,
            RuleAction::Review => judgement.verdict != Verdict::Review,
        });
        fired
    }
}

fn holds(condition: &Condition, values: &impl FeatureValues, feature: &str) -> bool {
    let number = || values.number(feature);
    match condition {
        Condition::Above { value } => number().is_some_and(|n| n > *value),
        Condition::AtLeast { value } => number().is_some_and(|n| n >= *value),
        Condition::Below { value } => number().is_some_and(|n| n < *value),
        Condition::AtMost { value } => number().is_some_and(|n| n <= *value),
        Condition::Equals { value } => number().is_some_and(|n| n == *value),
        Condition::In { levels } => values
            .level(feature)
            .is_some_and(|l| levels.iter().any(|x| x == l)),
        Condition::NotIn { levels } => values
            .level(feature)
            .is_some_and(|l| levels.iter().all(|x| x != l)),
        Condition::Missing => values.number(feature).is_none() && values.level(feature).is_none(),
    }
}
