//! A window of live decisions judged as of an instant: each decision's maturity by the
//! company's definition of a bad order ([`crate::outcome::judge`]), counted per model version
//! into a [`ScoreAccumulator`]. The caller reads the decisions and the repayment outcome each
//! had stored by `as_of`; the same inputs give the same window, so a past `as_of` computes
//! again to the same answer.

use super::performance::ScoreAccumulator;
use crate::outcome::{BadDefinition, Maturity, OutcomeKind, judge};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// One decision as monitoring sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitoredDecision {
    pub model_version: i32,
    /// The model's probability that the order is bad.
    pub probability: f64,
    pub approved: bool,
    pub decided_at: DateTime<Utc>,
    /// Its repayment outcome as stored by `as_of`, and when that happened.
    pub repayment: Option<(OutcomeKind, DateTime<Utc>)>,
}

/// One version's decisions in the window, by where they stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionWindow {
    pub accumulator: ScoreAccumulator,
    /// Too recent to judge.
    pub immature: u64,
    /// Matured without a repayment outcome.
    pub unknown: u64,
    pub good: u64,
    pub bad: u64,
}

/// Decisions of a window, per model version, judged as of one instant by one definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveWindow {
    pub definition: BadDefinition,
    pub as_of: DateTime<Utc>,
    pub versions: BTreeMap<i32, VersionWindow>,
}

impl LiveWindow {
    pub fn new(definition: BadDefinition, as_of: DateTime<Utc>) -> LiveWindow {
        LiveWindow {
            definition,
            as_of,
            versions: BTreeMap::new(),
        }
    }

    /// Counts one decision: its approval always; its outcome only once it has matured and the
    /// company said how it was repaid.
    pub fn add(&mut self, decision: &MonitoredDecision) {
        let repayment = decision
            .repayment
            .as_ref()
            .map(|(kind, occurred_at)| (kind, *occurred_at));
        let maturity = judge(self.definition, decision.decided_at, self.as_of, repayment);
        let window = self.versions.entry(decision.model_version).or_default();
        let bad = match maturity {
            Maturity::Immature => {
                window.immature += 1;
                None
            }
            Maturity::Unknown => {
                window.unknown += 1;
                None
            }
            Maturity::Good => {
                window.good += 1;
                Some(false)
            }
            Maturity::Bad => {
                window.bad += 1;
                Some(true)
            }
        };
        window
            .accumulator
            .record(decision.probability, decision.approved, bad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::DEFAULT_CONFIDENCE;
    use chrono::{TimeDelta, TimeZone};

    fn day(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a time")
            + TimeDelta::days(n)
    }

    /// A reference computation, order by order: the rank AUC with ties counting half, and the
    /// bad rate among approved matured orders.
    fn reference(decisions: &[(f64, bool, Option<bool>)]) -> (f64, f64, f64) {
        let scored: Vec<(f64, bool)> = decisions
            .iter()
            .filter_map(|(p, _, bad)| bad.map(|bad| (*p, bad)))
            .collect();
        let (mut pairs, mut wins) = (0.0, 0.0);
        for (pb, b) in &scored {
            for (pg, g) in &scored {
                if *b && !*g {
                    pairs += 1.0;
                    // Probabilities are ranked to the accumulator's bins, 0.001 wide.
                    let (rb, rg) = ((pb * 1000.0).floor(), (pg * 1000.0).floor());
                    wins += if rb > rg {
                        1.0
                    } else if rb == rg {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let approved = decisions.iter().filter(|(_, a, _)| *a).count() as f64;
        let approved_matured: Vec<bool> = decisions
            .iter()
            .filter(|(_, a, bad)| *a && bad.is_some())
            .filter_map(|(_, _, bad)| *bad)
            .collect();
        let bad_rate =
            approved_matured.iter().filter(|b| **b).count() as f64 / approved_matured.len() as f64;
        (wins / pairs, bad_rate, approved / decisions.len() as f64)
    }

    #[test]
    fn a_synthetic_stream_matches_the_reference_computation() {
        let definition = BadDefinition {
            days_past_due: 30,
            within_days: 60,
        };
        let as_of = day(200);
        let mut window = LiveWindow::new(definition, as_of);
        let mut expected = Vec::new();
        // Deterministic pseudo-random stream: a riskier order (higher p) defaults more often.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..2_000 {
            let decided_at = day(i % 190);
            let probability = next();
            let approved = probability < 0.6;
            let matured = decided_at + TimeDelta::days(60) <= as_of;
            let reported = next() < 0.9;
            let bad = next() < probability;
            let kind = if bad {
                OutcomeKind::PaidLate { days_late: 45 }
            } else {
                OutcomeKind::PaidLate { days_late: 5 }
            };
            let occurred_at = decided_at + TimeDelta::days(50);
            let repayment = reported.then_some((kind, occurred_at));
            window.add(&MonitoredDecision {
                model_version: 1 + (i % 2) as i32,
                probability,
                approved,
                decided_at,
                repayment,
            });
            if i % 2 == 0 {
                expected.push((probability, approved, (matured && reported).then_some(bad)));
            }
        }
        let version = &window.versions[&1];
        assert_eq!(
            version.immature + version.unknown + version.good + version.bad,
            1_000
        );
        assert_eq!(
            version.good + version.bad,
            expected.iter().filter(|e| e.2.is_some()).count() as u64
        );
        let performance = version.accumulator.performance(DEFAULT_CONFIDENCE);
        let (auc, bad_rate, approval_rate) = reference(&expected);
        assert!(
            (performance.auc - auc).abs() < 1e-9,
            "{} {auc}",
            performance.auc
        );
        assert!((performance.bad_rate - bad_rate).abs() < 1e-12);
        assert!((performance.approval_rate - approval_rate).abs() < 1e-12);
        assert!(performance.auc > 0.6, "riskier orders defaulted more");
    }

    #[test]
    fn an_outcome_outside_the_window_or_a_young_decision_is_judged_by_the_definition() {
        let definition = BadDefinition::default();
        let mut window = LiveWindow::new(definition, day(400));
        let decision = |decided: i64, repayment| MonitoredDecision {
            model_version: 3,
            probability: 0.2,
            approved: true,
            decided_at: day(decided),
            repayment,
        };
        // Defaulted after its 180 days: good. Defaulted within: bad. Young: immature.
        window.add(&decision(0, Some((OutcomeKind::Defaulted, day(200)))));
        window.add(&decision(0, Some((OutcomeKind::Defaulted, day(100)))));
        window.add(&decision(300, Some((OutcomeKind::Defaulted, day(310)))));
        window.add(&decision(10, None));
        let version = &window.versions[&3];
        assert_eq!(
            (version.good, version.bad, version.immature, version.unknown),
            (1, 1, 1, 1)
        );
        assert_eq!(version.accumulator.orders(), 4);
    }
}
