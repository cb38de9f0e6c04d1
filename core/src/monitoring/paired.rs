//! Champion against challenger on the same orders: DeLong's paired test of two AUCs, on the
//! raw scores, since both models' scores of each order are at hand when they are compared
//! side by side (the binned counts of a window keep one model's only).

use super::stats::normal_cdf;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Two models' AUCs on the same orders and whether they differ by more than chance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairedComparison {
    pub auc_a: f64,
    pub auc_b: f64,
    /// `auc_a − auc_b`.
    pub difference: f64,
    /// Of the difference, counting that both models' errors fall on the same orders.
    pub standard_error: f64,
    /// `difference / standard_error`; 0 when both are 0, and infinite when only the standard
    /// error is (every order's placement moved by the same amount).
    pub z: f64,
    /// Two-sided: the chance of a difference at least this large if both models ranked
    /// equally well.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub p_value: f64,
}

/// DeLong's test of two correlated AUCs (DeLong, DeLong and Clarke-Pearson, 1988): both
/// models scored the same orders, `bad[i]` the outcome of order i, so the variance of the
/// difference subtracts what the two share. Placements come from midranks (Sun and Xu, 2014),
/// in O(n log n). `None` when the slices differ in length or one outcome is missing, where
/// there is nothing to rank.
pub fn delong_paired(scores_a: &[f64], scores_b: &[f64], bad: &[bool]) -> Option<PairedComparison> {
    if scores_a.len() != bad.len() || scores_b.len() != bad.len() {
        return None;
    }
    let a = Placements::new(scores_a, bad)?;
    let b = Placements::new(scores_b, bad)?;
    let difference = a.auc - b.auc;
    let bad_differences: Vec<f64> = a.bads.iter().zip(&b.bads).map(|(x, y)| x - y).collect();
    let good_differences: Vec<f64> = a.goods.iter().zip(&b.goods).map(|(x, y)| x - y).collect();
    let variance = sample_variance(&bad_differences) / bad_differences.len() as f64
        + sample_variance(&good_differences) / good_differences.len() as f64;
    let standard_error = variance.sqrt();
    let z = if difference == 0.0 {
        0.0
    } else {
        difference / standard_error
    };
    Some(PairedComparison {
        auc_a: a.auc,
        auc_b: b.auc,
        difference,
        standard_error,
        z,
        p_value: (2.0 * normal_cdf(-z.abs())).min(1.0),
    })
}

/// Each order's DeLong placement under one model: for a bad order, the share of good orders
/// it scores above (ties half); for a good one, the share of bad orders scoring above it.
struct Placements {
    bads: Vec<f64>,
    goods: Vec<f64>,
    auc: f64,
}

impl Placements {
    /// A bad order's midrank among all orders, less its midrank among the bads, is the number
    /// of goods below it (ties half); likewise for a good order.
    fn new(scores: &[f64], bad: &[bool]) -> Option<Placements> {
        let (bad_scores, good_scores): (Vec<f64>, Vec<f64>) = {
            let pick = |want: bool| -> Vec<f64> {
                scores
                    .iter()
                    .zip(bad)
                    .filter(|(_, b)| **b == want)
                    .map(|(s, _)| *s)
                    .collect()
            };
            (pick(true), pick(false))
        };
        if bad_scores.is_empty() || good_scores.is_empty() {
            return None;
        }
        let all = midranks(scores);
        let within_bad = midranks(&bad_scores);
        let within_good = midranks(&good_scores);
        let (nb, ng) = (bad_scores.len() as f64, good_scores.len() as f64);
        let (mut bads, mut goods) = (Vec::new(), Vec::new());
        let (mut bi, mut gi) = (0, 0);
        for (rank, &is_bad) in all.iter().zip(bad) {
            if is_bad {
                bads.push((rank - within_bad[bi]) / ng);
                bi += 1;
            } else {
                goods.push(1.0 - (rank - within_good[gi]) / nb);
                gi += 1;
            }
        }
        let auc = bads.iter().sum::<f64>() / nb;
        Some(Placements { bads, goods, auc })
    }
}

/// 1-based ranks, tied values sharing the mean of their ranks.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len()
            && values[order[j + 1]].total_cmp(&values[order[i]]) == Ordering::Equal
        {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// With n − 1 in the denominator; 0 for fewer than two values.
pub(super) fn sample_variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
}

/// DeLong's variance of one model's AUC from its raw scores.
#[cfg(test)]
pub(super) fn delong_variance(scores: &[f64], bad: &[bool]) -> Option<f64> {
    let p = Placements::new(scores, bad)?;
    Some(
        sample_variance(&p.bads) / p.bads.len() as f64
            + sample_variance(&p.goods) / p.goods.len() as f64,
    )
}
