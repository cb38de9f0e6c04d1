//! The override report: how often a company's analysts overrode aval's decisions, which way and
//! why, and how the overridden orders were repaid. Overrides are rated against the decisions
//! they could overturn: approving a rejection against the rejections, blocking an approval
//! against the approvals. An override whose direction contradicts its decision (an
//! "approved_rejection" of an approved order) is counted apart as mismatched, not in the rates.

use super::OverrideDirection;
use serde::Serialize;
use std::collections::BTreeMap;

/// Decisions sharing a decision, an override and a repayment kind, as counted by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideCount<'a> {
    pub approved: bool,
    /// The override's direction and reason code, when the decision was overridden.
    pub overridden: Option<(OverrideDirection, &'a str)>,
    /// The repayment outcome's kind name, when reported.
    pub repayment: Option<&'a str>,
    pub decisions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverrideReport {
    /// Decisions in the window.
    pub decisions: u64,
    /// Of those, overridden (mismatched ones included).
    pub overridden: u64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub override_rate: f64,
    /// Overrides whose direction contradicts the decision, left out of the directions' rates.
    pub mismatched: u64,
    /// `approved_rejection`, then `blocked_approval`.
    pub directions: Vec<DirectionReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectionReport {
    /// `approved_rejection` or `blocked_approval`.
    pub direction: &'static str,
    /// The decisions this direction could overturn: rejections, or approvals.
    pub eligible: u64,
    pub overrides: u64,
    /// `overrides / eligible` (0 with none eligible).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub rate: f64,
    /// By reason code, most used first (then by code).
    pub reasons: Vec<ReasonCount>,
    /// How the overridden orders were repaid, by repayment kind, and those not yet reported.
    pub repayment: RepaymentCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReasonCount {
    pub reason_code: String,
    pub overrides: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepaymentCounts {
    pub paid_on_time: u64,
    pub paid_late: u64,
    pub defaulted: u64,
    pub written_off: u64,
    pub not_reported: u64,
}

impl RepaymentCounts {
    fn add(&mut self, kind: Option<&str>, count: u64) {
        let slot = match kind {
            Some("paid_on_time") => &mut self.paid_on_time,
            Some("paid_late") => &mut self.paid_late,
            Some("defaulted") => &mut self.defaulted,
            Some("written_off") => &mut self.written_off,
            _ => &mut self.not_reported,
        };
        *slot += count;
    }
}

#[derive(Default)]
struct Tally {
    overrides: u64,
    reasons: BTreeMap<String, u64>,
    repayment: RepaymentCounts,
}

/// The report of a window's counts.
pub fn override_report(counts: &[OverrideCount<'_>]) -> OverrideReport {
    let (mut decisions, mut approved, mut overridden, mut mismatched) = (0, 0, 0, 0);
    let mut tallies: [Tally; 2] = Default::default();
    for count in counts {
        decisions += count.decisions;
        if count.approved {
            approved += count.decisions;
        }
        let Some((direction, reason_code)) = count.overridden else {
            continue;
        };
        overridden += count.decisions;
        let matches = match direction {
            OverrideDirection::ApprovedRejection => !count.approved,
            OverrideDirection::BlockedApproval => count.approved,
        };
        if !matches {
            mismatched += count.decisions;
            continue;
        }
        let tally = &mut tallies[index(direction)];
        tally.overrides += count.decisions;
        *tally.reasons.entry(reason_code.to_owned()).or_default() += count.decisions;
        tally.repayment.add(count.repayment, count.decisions);
    }
    let directions = OverrideDirection::ALL
        .into_iter()
        .zip(tallies)
        .map(|(direction, tally)| {
            let eligible = match direction {
                OverrideDirection::ApprovedRejection => decisions - approved,
                OverrideDirection::BlockedApproval => approved,
            };
            let mut reasons: Vec<ReasonCount> = tally
                .reasons
                .into_iter()
                .map(|(reason_code, overrides)| ReasonCount {
                    reason_code,
                    overrides,
                })
                .collect();
            reasons.sort_by_key(|r| std::cmp::Reverse(r.overrides));
            DirectionReport {
                direction: direction.as_str(),
                eligible,
                overrides: tally.overrides,
                rate: ratio(tally.overrides, eligible),
                reasons,
                repayment: tally.repayment,
            }
        })
        .collect();
    OverrideReport {
        decisions,
        overridden,
        override_rate: ratio(overridden, decisions),
        mismatched,
        directions,
    }
}

fn index(direction: OverrideDirection) -> usize {
    match direction {
        OverrideDirection::ApprovedRejection => 0,
        OverrideDirection::BlockedApproval => 1,
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_against_what_each_direction_could_overturn() {
        use OverrideDirection::{ApprovedRejection, BlockedApproval};
        let count = |approved, overridden, repayment, decisions| OverrideCount {
            approved,
            overridden,
            repayment,
            decisions,
        };
        let report = override_report(&[
            count(true, None, None, 70),
            count(false, None, Some("defaulted"), 20),
            count(
                false,
                Some((ApprovedRejection, "known-client")),
                Some("paid_on_time"),
                4,
            ),
            count(
                false,
                Some((ApprovedRejection, "known-client")),
                Some("defaulted"),
                1,
            ),
            count(false, Some((ApprovedRejection, "collateral")), None, 5),
            count(true, Some((BlockedApproval, "fraud-suspected")), None, 3),
            count(true, Some((ApprovedRejection, "typo")), None, 2),
        ]);
        assert_eq!(report.decisions, 105);
        assert_eq!(report.overridden, 15);
        assert_eq!(report.mismatched, 2);
        let approving = &report.directions[0];
        assert_eq!(approving.direction, "approved_rejection");
        assert_eq!((approving.eligible, approving.overrides), (30, 10));
        assert!((approving.rate - 10.0 / 30.0).abs() < 1e-12);
        assert_eq!(
            approving.reasons,
            [
                ReasonCount {
                    reason_code: "collateral".to_owned(),
                    overrides: 5
                },
                ReasonCount {
                    reason_code: "known-client".to_owned(),
                    overrides: 5
                },
            ]
        );
        assert_eq!(
            approving.repayment,
            RepaymentCounts {
                paid_on_time: 4,
                defaulted: 1,
                not_reported: 5,
                ..RepaymentCounts::default()
            }
        );
        let blocking = &report.directions[1];
        assert_eq!((blocking.eligible, blocking.overrides), (75, 3));
        assert_eq!(blocking.repayment.not_reported, 3);
    }

    #[test]
    fn no_decisions_rate_nothing() {
        let report = override_report(&[]);
        assert_eq!(report.override_rate, 0.0);
        assert!(report.directions.iter().all(|d| d.rate == 0.0));
    }
}
