//! When a version must stop deciding. A guardrail is judged on the orders the version decided,
//! against what its reference made of the same orders, and breaches only when the evidence
//! clears chance at 95 %, one-sided: a small sample that merely looks bad breaches nothing.
//! A challenger that breaches is ended; a champion on probation that breaches gives its place
//! back to the one it replaced.

use super::compare::ArmComparison;
use crate::FieldErrors;
use crate::monitoring::wilson_interval;
use serde::{Deserialize, Serialize};

/// Confidence of a breach, one-sided.
const BREACH_CONFIDENCE: f64 = 0.95;
const DEFAULT_MAX_APPROVAL_DROP: f64 = 0.10;
const DEFAULT_MIN_DECISIONS: u32 = 1_000;
const MIN_DECISIONS: std::ops::RangeInclusive<u32> = 10..=10_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Guardrail {
    /// Breached when the version approves this much less often than its reference would on
    /// the same orders (0.10: ten percentage points); default 0.10.
    #[serde(default = "default_max_approval_drop")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub max_approval_rate_drop: f64,
    /// Breached when the version's approval rate on the orders it decided is below this.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub min_approval_rate: Option<f64>,
    /// Breached when the bad rate of the orders it approved, among those whose outcome is
    /// known, is above this.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub max_bad_rate: Option<f64>,
    /// Decisions the version must have made (for the bad rate: approved orders with a known
    /// outcome) before it is judged, 10 to 10,000,000; default 1,000.
    #[serde(default = "default_min_decisions")]
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 10_000_000))]
    pub min_decisions: u32,
}

fn default_max_approval_drop() -> f64 {
    DEFAULT_MAX_APPROVAL_DROP
}

fn default_min_decisions() -> u32 {
    DEFAULT_MIN_DECISIONS
}

impl Default for Guardrail {
    fn default() -> Self {
        Self {
            max_approval_rate_drop: DEFAULT_MAX_APPROVAL_DROP,
            min_approval_rate: None,
            max_bad_rate: None,
            min_decisions: DEFAULT_MIN_DECISIONS,
        }
    }
}

/// A guardrail breached: which limit, and the evidence, in words for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Breach {
    /// `max_approval_rate_drop`, `min_approval_rate` or `max_bad_rate`.
    pub limit: String,
    pub evidence: String,
}

impl Guardrail {
    pub(super) fn check(&self, errors: &mut FieldErrors) {
        let rate = |value: f64| value.is_finite() && (0.0..=1.0).contains(&value);
        if !rate(self.max_approval_rate_drop) {
            errors.push(
                "guardrail.max_approval_rate_drop",
                "must be a rate from 0 to 1",
            );
        }
        if self.min_approval_rate.is_some_and(|r| !rate(r)) {
            errors.push("guardrail.min_approval_rate", "must be a rate from 0 to 1");
        }
        if self.max_bad_rate.is_some_and(|r| !rate(r)) {
            errors.push("guardrail.max_bad_rate", "must be a rate from 0 to 1");
        }
        if !MIN_DECISIONS.contains(&self.min_decisions) {
            errors.push(
                "guardrail.min_decisions",
                format!(
                    "must be from {} to {}",
                    MIN_DECISIONS.start(),
                    MIN_DECISIONS.end()
                ),
            );
        }
    }

    /// The first limit the version breached on the orders it decided, if any.
    pub fn breach(&self, comparison: &ArmComparison) -> Option<Breach> {
        let served = &comparison.served_by_arm;
        let enough = u64::from(self.min_decisions);
        if served.decisions >= enough {
            let drop = served.approval_drop_lower_bound(BREACH_CONFIDENCE);
            if let Some(drop) = drop.filter(|&d| d > self.max_approval_rate_drop) {
                return Some(Breach {
                    limit: "max_approval_rate_drop".to_owned(),
                    evidence: format!(
                        "on the {} orders it decided it approved {}, where its reference would \
                         have approved {}: a drop of at least {:.4} (95 %), above {}",
                        served.decisions,
                        served.approved,
                        served.approved_by_reference,
                        drop,
                        self.max_approval_rate_drop
                    ),
                });
            }
            let approval = wilson_interval(
                served.approved,
                served.decisions,
                1.0 - 2.0 * (1.0 - BREACH_CONFIDENCE),
            );
            if let Some(floor) = self.min_approval_rate.filter(|&f| approval.high < f) {
                return Some(Breach {
                    limit: "min_approval_rate".to_owned(),
                    evidence: format!(
                        "it approved {} of the {} orders it decided: at most {:.4} (95 %), below {}",
                        served.approved, served.decisions, approval.high, floor
                    ),
                });
            }
        }
        if served.approved_matured >= enough
            && let Some(ceiling) = self.max_bad_rate
        {
            let bad = wilson_interval(
                served.approved_bad,
                served.approved_matured,
                1.0 - 2.0 * (1.0 - BREACH_CONFIDENCE),
            );
            if bad.low > ceiling {
                return Some(Breach {
                    limit: "max_bad_rate".to_owned(),
                    evidence: format!(
                        "{} of the {} orders it approved whose outcome is known went bad: at \
                         least {:.4} (95 %), above {}",
                        served.approved_bad, served.approved_matured, bad.low, ceiling
                    ),
                });
            }
        }
        None
    }
}
