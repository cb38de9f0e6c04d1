//! What a policy would have decided on past decisions, before it is put in force: each past
//! decision judged again from its stored probability and drift values (the model is not run
//! again: a version's probability for an order does not change), counted by what changes.

use super::{Band, Policy, StoredValues};
use crate::decision::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;

/// Changed decisions a summary shows as examples, at most.
pub const REPLAY_EXAMPLES: usize = 20;

/// One past decision as it was made.
#[derive(Debug, Clone, Copy)]
pub struct PastDecision<'a> {
    pub request_id: &'a str,
    pub order_id: &'a str,
    pub verdict: Verdict,
    pub probability: f64,
    pub values: StoredValues<'a>,
}

/// Decisions by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerdictCounts {
    pub approved: u64,
    pub rejected: u64,
    pub review: u64,
}

impl VerdictCounts {
    fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Approved => self.approved += 1,
            Verdict::Rejected => self.rejected += 1,
            Verdict::Review => self.review += 1,
        }
    }
}

/// How many decisions went from one verdict to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transition {
    pub from: Verdict,
    pub to: Verdict,
    pub decisions: u64,
}

/// A decision the policy would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayChange {
    pub request_id: String,
    pub order_id: String,
    pub before: Verdict,
    pub after: Verdict,
    pub band: Band,
    pub rules_fired: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplaySummary {
    /// Past decisions judged again.
    pub decisions: u64,
    /// Past decisions left out: recorded before aval kept each decision's features, or by a
    /// model version without some feature or level the policy names.
    pub without_values: u64,
    pub before: VerdictCounts,
    pub after: VerdictCounts,
    /// Decisions whose verdict would change.
    pub changed: u64,
    /// Every pair of verdicts, before and after, that some decision took.
    pub transitions: Vec<Transition>,
    /// Decisions each rule fired on, by rule id.
    pub rules_fired: BTreeMap<String, u64>,
    /// Decisions by the step that decided them.
    pub bands: BTreeMap<Band, u64>,
    /// Up to 20 decisions that would change, the earliest replayed first.
    pub examples: Vec<ReplayChange>,
}

impl ReplaySummary {
    /// Judges `decision` again under `policy`, its version's cut-off at `threshold`.
    pub fn add(&mut self, policy: &Policy, threshold: f64, decision: &PastDecision<'_>) {
        let judged = policy.judge(&decision.values, decision.probability, threshold);
        self.decisions += 1;
        self.before.add(decision.verdict);
        self.after.add(judged.verdict);
        *self.bands.entry(judged.band).or_default() += 1;
        let fired: Vec<String> = judged
            .rules_fired
            .iter()
            .map(|&i| policy.rules[i].id.clone())
            .collect();
        for id in &fired {
            *self.rules_fired.entry(id.clone()).or_default() += 1;
        }
        match self
            .transitions
            .iter_mut()
            .find(|t| t.from == decision.verdict && t.to == judged.verdict)
        {
            Some(transition) => transition.decisions += 1,
            None => self.transitions.push(Transition {
                from: decision.verdict,
                to: judged.verdict,
                decisions: 1,
            }),
        }
        if judged.verdict != decision.verdict {
            self.changed += 1;
            if self.examples.len() < REPLAY_EXAMPLES {
                self.examples.push(ReplayChange {
                    request_id: decision.request_id.to_owned(),
                    order_id: decision.order_id.to_owned(),
                    before: decision.verdict,
                    after: judged.verdict,
                    band: judged.band,
                    rules_fired: fired,
                });
            }
        }
    }

    /// Counts a past decision that cannot be judged again.
    pub fn left_out(&mut self) {
        self.without_values += 1;
    }
}
