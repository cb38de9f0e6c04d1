//! Two versions of an experiment on the same orders: the `arm` (a challenger, a shadow, or a
//! champion on probation) against its `reference` (the champion, or the one a promotion
//! replaced). Every order of the window carries both versions' scores, one from the decision
//! and one scored beside it, so each measure is paired: the same customers, the same day, the
//! same outcome.
//!
//! - ΔAUC with DeLong's paired test, on the orders whose outcome is known;
//! - the bad rate at equal approval: each version approving the same share of the window's
//!   orders (the reference's own approval rate), its lowest probabilities first, and the bad
//!   rate among those of its approved orders whose outcome is known;
//! - PSI between the two versions' scores, in ten cells of the reference's.
//!
//! Outcomes are known mostly for approved orders (a rejected order is rarely repaid or not):
//! both versions are judged on the same known outcomes, which is fair between them, but the
//! rates are those of the orders someone approved. No verdict is given before
//! [`MIN_MATURED_PER_ARM`] decisions of each arm matured.

use crate::monitoring::{
    Bins, DEFAULT_BINS, Interval, PairedComparison, PsiBand, delong_paired, normal_quantile, psi,
};
use serde::{Deserialize, Serialize};

/// Matured decisions each arm needs before a comparison gives a verdict.
pub const MIN_MATURED_PER_ARM: u64 = 2_500;
/// The significance of a verdict (two-sided).
const VERDICT_ALPHA: f64 = 0.05;

/// One version's answer for an order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmScore {
    pub probability: f64,
    pub approved: bool,
}

/// An order both versions scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedOrder {
    pub reference: ArmScore,
    pub arm: ArmScore,
    /// Which of the two decided it (neither: a third version of the experiment did).
    pub served_by_arm: bool,
    pub served_by_reference: bool,
    /// `Some(true)` bad, `Some(false)` good, `None` immature or unknown.
    pub bad: Option<bool>,
}

/// The orders of a window, as their scores and outcomes: kept one by one, since DeLong's test
/// and equal-approval cut-offs rank them (about 40 bytes an order).
#[derive(Debug, Clone, Default)]
pub struct PairWindow {
    reference: Vec<f64>,
    arm: Vec<f64>,
    reference_approved: u64,
    arm_approved: u64,
    /// Index and outcome of each order whose outcome is known.
    known: Vec<(usize, bool)>,
    served_by_arm: ServedCounts,
    served_by_reference: u64,
    matured_served_by_reference: u64,
}

/// What the orders the arm decided say of it: what a guardrail judges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServedCounts {
    pub decisions: u64,
    /// Of them, approved by the arm, and by the reference scoring the same orders.
    pub approved: u64,
    pub approved_by_reference: u64,
    /// Of them, with a known outcome.
    pub matured: u64,
    /// Approved by the arm with a known outcome, and of those, bad.
    pub approved_matured: u64,
    pub approved_bad: u64,
    /// Sums over the orders of (reference approved − arm approved) and its square, for the
    /// paired bound on the drop in approval.
    #[serde(skip)]
    drop_sum: f64,
    #[serde(skip)]
    drop_squares: f64,
}

impl ServedCounts {
    /// A one-sided lower bound, at `confidence`, on how much less often the arm approves
    /// than the reference would on the same orders; `None` below two orders.
    pub fn approval_drop_lower_bound(&self, confidence: f64) -> Option<f64> {
        if self.decisions < 2 {
            return None;
        }
        let n = self.decisions as f64;
        let mean = self.drop_sum / n;
        let variance = ((self.drop_squares - n * mean * mean) / (n - 1.0)).max(0.0);
        Some(mean - normal_quantile(confidence) * (variance / n).sqrt())
    }
}

impl PairWindow {
    pub fn add(&mut self, order: &PairedOrder) {
        let index = self.reference.len();
        self.reference.push(order.reference.probability);
        self.arm.push(order.arm.probability);
        self.reference_approved += u64::from(order.reference.approved);
        self.arm_approved += u64::from(order.arm.approved);
        if let Some(bad) = order.bad {
            self.known.push((index, bad));
        }
        if order.served_by_reference {
            self.served_by_reference += 1;
            self.matured_served_by_reference += u64::from(order.bad.is_some());
        }
        if order.served_by_arm {
            let served = &mut self.served_by_arm;
            served.decisions += 1;
            served.approved += u64::from(order.arm.approved);
            served.approved_by_reference += u64::from(order.reference.approved);
            let drop = f64::from(u8::from(order.reference.approved))
                - f64::from(u8::from(order.arm.approved));
            served.drop_sum += drop;
            served.drop_squares += drop * drop;
            if let Some(bad) = order.bad {
                served.matured += 1;
                if order.arm.approved {
                    served.approved_matured += 1;
                    served.approved_bad += u64::from(bad);
                }
            }
        }
    }

    pub fn orders(&self) -> u64 {
        self.reference.len() as u64
    }

    /// The comparison; `served_by_arm` tells a challenger (its own matured decisions count
    /// for the verdict) from a shadow (every paired order does).
    pub fn compare(&self) -> ArmComparison {
        let orders = self.orders();
        let rate = |part: u64| (orders > 0).then(|| part as f64 / orders as f64);
        let (scores_arm, scores_reference, bad): (Vec<f64>, Vec<f64>, Vec<bool>) = {
            let mut a = Vec::with_capacity(self.known.len());
            let mut r = Vec::with_capacity(self.known.len());
            let mut b = Vec::with_capacity(self.known.len());
            for &(i, is_bad) in &self.known {
                a.push(self.arm[i]);
                r.push(self.reference[i]);
                b.push(is_bad);
            }
            (a, r, b)
        };
        let auc = delong_paired(&scores_arm, &scores_reference, &bad);
        let equal_approval = rate(self.reference_approved).and_then(|r| self.equal_approval(r));
        let psi = (orders > 0).then(|| {
            let bins = Bins::learn(&self.reference, DEFAULT_BINS);
            psi(
                bins.count(&self.reference).counts(),
                bins.count(&self.arm).counts(),
            )
        });
        let matured = self.known.len() as u64;
        let matured_arm = if self.served_by_arm.decisions > 0 {
            self.served_by_arm.matured
        } else {
            matured
        };
        let matured_reference = self.matured_served_by_reference;
        let (verdict, verdict_pending) =
            if matured_arm < MIN_MATURED_PER_ARM || matured_reference < MIN_MATURED_PER_ARM {
                (
                    None,
                    Some(format!(
                        "a verdict needs {MIN_MATURED_PER_ARM} matured decisions per arm; the arm \
                         has {matured_arm}, the reference {matured_reference}"
                    )),
                )
            } else {
                match &auc {
                    Some(auc) => (Some(verdict(auc, equal_approval.as_ref())), None),
                    None => (
                        None,
                        Some("the matured decisions hold only one outcome".to_owned()),
                    ),
                }
            };
        ArmComparison {
            orders,
            served_by_arm: self.served_by_arm,
            served_by_reference: self.served_by_reference,
            matured,
            matured_served_by_reference: matured_reference,
            approval_rate_reference: rate(self.reference_approved),
            approval_rate_arm: rate(self.arm_approved),
            auc,
            bad_rate_at_equal_approval: equal_approval,
            psi,
            psi_band: psi.map(PsiBand::of),
            verdict,
            verdict_pending,
        }
    }

    /// Each version approving `rate` of the window's orders, its lowest probabilities first:
    /// the bad rate among its approved orders whose outcome is known.
    fn equal_approval(&self, rate: f64) -> Option<EqualApproval> {
        let bad_rate = |scores: &[f64]| -> Option<(u64, u64)> {
            let mut sorted = scores.to_vec();
            sorted.sort_by(f64::total_cmp);
            let take = (rate * sorted.len() as f64).round() as usize;
            let cutoff = *sorted.get(take.checked_sub(1)?)?;
            let (mut approved, mut bad) = (0_u64, 0_u64);
            for &(i, is_bad) in &self.known {
                if scores[i] <= cutoff {
                    approved += 1;
                    bad += u64::from(is_bad);
                }
            }
            (approved > 0).then_some((bad, approved))
        };
        let (reference_bad, reference_n) = bad_rate(&self.reference)?;
        let (arm_bad, arm_n) = bad_rate(&self.arm)?;
        let p_reference = reference_bad as f64 / reference_n as f64;
        let p_arm = arm_bad as f64 / arm_n as f64;
        let difference = p_arm - p_reference;
        let standard_error = (p_arm * (1.0 - p_arm) / arm_n as f64
            + p_reference * (1.0 - p_reference) / reference_n as f64)
            .sqrt();
        let z = normal_quantile(1.0 - VERDICT_ALPHA / 2.0);
        Some(EqualApproval {
            approval_rate: rate,
            reference_bad_rate: p_reference,
            arm_bad_rate: p_arm,
            difference,
            interval: Interval {
                low: difference - z * standard_error,
                high: difference + z * standard_error,
            },
            reference_orders: reference_n,
            arm_orders: arm_n,
        })
    }
}

/// Better when the arm ranks significantly better and its bad rate at equal approval is not
/// significantly higher; worse when it ranks significantly worse or that bad rate is
/// significantly higher.
fn verdict(auc: &PairedComparison, equal: Option<&EqualApproval>) -> ComparisonVerdict {
    let more_bad = equal.is_some_and(|e| e.interval.low > 0.0);
    let significant = auc.p_value < VERDICT_ALPHA;
    if more_bad || (significant && auc.difference < 0.0) {
        ComparisonVerdict::Worse
    } else if significant && auc.difference > 0.0 {
        ComparisonVerdict::Better
    } else {
        ComparisonVerdict::NoDifference
    }
}

/// The two versions approving the same share of orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EqualApproval {
    /// The share approved: the reference's own approval rate on the window.
    pub approval_rate: f64,
    pub reference_bad_rate: f64,
    pub arm_bad_rate: f64,
    /// `arm_bad_rate − reference_bad_rate`, with its 95 % interval.
    pub difference: f64,
    pub interval: Interval,
    /// Approved orders with a known outcome each rate rests on.
    pub reference_orders: u64,
    pub arm_orders: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComparisonVerdict {
    /// The arm ranks better, at no higher bad rate.
    Better,
    Worse,
    NoDifference,
}

/// The arm against its reference on the window's orders both scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArmComparison {
    /// Orders both versions scored.
    pub orders: u64,
    /// The orders the arm decided (none for a shadow), and what they say of it.
    pub served_by_arm: ServedCounts,
    pub served_by_reference: u64,
    /// Orders with a known outcome, and of those, decided by the reference.
    pub matured: u64,
    pub matured_served_by_reference: u64,
    /// Each version's approval rate on the same orders (its own verdicts, policy included).
    pub approval_rate_reference: Option<f64>,
    pub approval_rate_arm: Option<f64>,
    /// `auc_a` is the arm's, `auc_b` the reference's; `None` without both outcomes known.
    pub auc: Option<PairedComparison>,
    pub bad_rate_at_equal_approval: Option<EqualApproval>,
    /// PSI between the two versions' scores, in ten cells of the reference's.
    pub psi: Option<f64>,
    pub psi_band: Option<PsiBand>,
    /// `None` until each arm has [`MIN_MATURED_PER_ARM`] matured decisions; why, then, in
    /// `verdict_pending`.
    pub verdict: Option<ComparisonVerdict>,
    pub verdict_pending: Option<String>,
}
