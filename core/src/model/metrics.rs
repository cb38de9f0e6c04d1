//! How well probabilities separate blocked from approved orders, and where to cut them.
//! "Positive" is blocked throughout: recall is the share of blocked orders the model catches.

use serde::{Deserialize, Serialize};

/// Orders by what the company decided and what the model predicted at its threshold. The four
/// cells sum to the orders evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Confusion {
    pub approved_predicted_approved: u64,
    /// False positives.
    pub approved_predicted_blocked: u64,
    /// False negatives.
    pub blocked_predicted_approved: u64,
    /// True positives.
    pub blocked_predicted_blocked: u64,
}

impl Confusion {
    pub fn total(&self) -> u64 {
        self.approved_predicted_approved
            + self.approved_predicted_blocked
            + self.blocked_predicted_approved
            + self.blocked_predicted_blocked
    }
}

/// A model's metrics on labelled orders, at the model's threshold. "Positive" is blocked:
/// recall is the share of blocked orders the model catches. A ratio with nothing to divide by
/// is 0; with only one outcome among the orders there is nothing to rank, so `roc_auc` is 0.5
/// and `ks` 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    /// Orders evaluated.
    pub examples: usize,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub accuracy: f64,
    pub confusion: Confusion,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub precision: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub recall: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub f1: f64,
    /// Area under the ROC curve of the probabilities (threshold-free).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub roc_auc: f64,
    /// Kolmogorov-Smirnov statistic: the largest gap between the shares of blocked and of
    /// approved orders above a cut.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub ks: f64,
    /// Mean squared error of the probabilities; lower is better.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub brier: f64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

pub(crate) fn evaluate(probabilities: &[f64], blocked: &[bool], threshold: f64) -> Evaluation {
    let mut c = Confusion::default();
    for (&p, &b) in probabilities.iter().zip(blocked) {
        match (b, p >= threshold) {
            (false, false) => c.approved_predicted_approved += 1,
            (false, true) => c.approved_predicted_blocked += 1,
            (true, false) => c.blocked_predicted_approved += 1,
            (true, true) => c.blocked_predicted_blocked += 1,
        }
    }
    let tp = c.blocked_predicted_blocked;
    let precision = ratio(tp, tp + c.approved_predicted_blocked);
    let recall = ratio(tp, tp + c.blocked_predicted_approved);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let n = probabilities.len();
    let brier = if n == 0 {
        0.0
    } else {
        let squares = probabilities.iter().zip(blocked);
        squares
            .map(|(p, &b)| (p - f64::from(u8::from(b))).powi(2))
            .sum::<f64>()
            / n as f64
    };
    Evaluation {
        examples: n,
        accuracy: ratio(tp + c.approved_predicted_approved, c.total()),
        confusion: c,
        precision,
        recall,
        f1,
        roc_auc: roc_auc(probabilities, blocked),
        ks: sweep(probabilities, blocked)
            .iter()
            .map(|s| s.tpr - s.fpr)
            .fold(0.0, f64::max),
        brier,
    }
}

/// Area under the ROC curve by ranks (ties share their average rank).
pub(crate) fn roc_auc(scores: &[f64], blocked: &[bool]) -> f64 {
    let positives = blocked.iter().filter(|b| **b).count();
    let negatives = blocked.len() - positives;
    if positives == 0 || negatives == 0 {
        return 0.5;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += average_rank * order[i..=j].iter().filter(|&&k| blocked[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64)
}

/// One candidate cut: block every order at or above `threshold`.
#[derive(Debug, Clone, Copy)]
struct Cut {
    threshold: f64,
    tpr: f64,
    fpr: f64,
    blocked_missed: u64,
    approved_blocked: u64,
}

/// Every distinct cut, from blocking nothing to blocking everything. Thresholds sit midway
/// between neighbouring scores so that new orders near a training score are not on a knife edge.
fn sweep(scores: &[f64], blocked: &[bool]) -> Vec<Cut> {
    let positives = blocked.iter().filter(|b| **b).count() as u64;
    let negatives = blocked.len() as u64 - positives;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top = order.first().map_or(1.0, |&i| scores[i]);
    let mut cuts = vec![Cut {
        threshold: (top + 1.0) / 2.0,
        tpr: 0.0,
        fpr: 0.0,
        blocked_missed: positives,
        approved_blocked: 0,
    }];
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut i = 0;
    while i < order.len() {
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            if blocked[order[i]] {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        let next = order.get(i).map_or(0.0, |&k| scores[k]);
        cuts.push(Cut {
            threshold: (score + next) / 2.0,
            tpr: ratio(tp, positives),
            fpr: ratio(fp, negatives),
            blocked_missed: positives - tp,
            approved_blocked: fp,
        });
    }
    cuts
}

/// The cut with the largest KS (TPR − FPR); the highest such threshold on ties.
pub(crate) fn ks_threshold(scores: &[f64], blocked: &[bool]) -> f64 {
    let mut best = (f64::NEG_INFINITY, 0.5);
    for cut in sweep(scores, blocked) {
        if cut.tpr - cut.fpr > best.0 {
            best = (cut.tpr - cut.fpr, cut.threshold);
        }
    }
    best.1
}

/// The cut with the lowest cost when approving an order that should be blocked costs
/// `cost_ratio` times as much as blocking one that should be approved.
pub(crate) fn cost_threshold(scores: &[f64], blocked: &[bool], cost_ratio: f64) -> f64 {
    let mut best = (f64::INFINITY, 0.5);
    for cut in sweep(scores, blocked) {
        let cost = cost_ratio * cut.blocked_missed as f64 + cut.approved_blocked as f64;
        if cost < best.0 {
            best = (cost, cut.threshold);
        }
    }
    best.1
}

/// How the probabilities fall on the holdout, for a person to look at: the ROC curve, the
/// probabilities of approved and of blocked orders, and how well they are calibrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoldoutCurves {
    /// `[false positive rate, true positive rate]` points from `[0, 0]` to `[1, 1]`, the false
    /// positive rate ascending; at most 101 of them (`ROC_POINTS`), thinned evenly from every cut.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<f64>>))]
    pub roc: Vec<[f64; 2]>,
    /// Orders by probability, in 20 equal bins from 0 to 1 (`SCORE_BINS`), by what the company
    /// decided.
    pub score_distribution: Vec<ScoreBin>,
    /// Orders sorted by probability and cut into 10 equal groups (`CALIBRATION_BINS`; one per
    /// order when fewer): in each, the mean probability beside the share actually blocked.
    pub calibration: Vec<CalibrationBin>,
}

/// The most points a ROC curve keeps: enough to draw, small enough to store with the model.
pub const ROC_POINTS: usize = 101;
pub const SCORE_BINS: usize = 20;
pub const CALIBRATION_BINS: usize = 10;

/// Orders whose probability is in [from, to) (the last bin includes 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreBin {
    pub from: f64,
    pub to: f64,
    pub approved: u64,
    pub blocked: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalibrationBin {
    pub examples: u64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub mean_probability: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub blocked_share: f64,
}

pub(crate) fn holdout_curves(probabilities: &[f64], blocked: &[bool]) -> HoldoutCurves {
    HoldoutCurves {
        roc: roc_points(probabilities, blocked),
        score_distribution: score_distribution(probabilities, blocked),
        calibration: calibration(probabilities, blocked),
    }
}

fn roc_points(scores: &[f64], blocked: &[bool]) -> Vec<[f64; 2]> {
    let cuts = sweep(scores, blocked);
    let last = cuts.len() - 1;
    if cuts.len() <= ROC_POINTS {
        return cuts.iter().map(|c| [c.fpr, c.tpr]).collect();
    }
    // Evenly spaced cuts, always keeping the first (nothing blocked) and the last (everything).
    (0..ROC_POINTS)
        .map(|i| &cuts[i * last / (ROC_POINTS - 1)])
        .map(|c| [c.fpr, c.tpr])
        .collect()
}

fn score_distribution(scores: &[f64], blocked: &[bool]) -> Vec<ScoreBin> {
    let width = 1.0 / SCORE_BINS as f64;
    let mut bins: Vec<ScoreBin> = (0..SCORE_BINS)
        .map(|i| ScoreBin {
            from: i as f64 * width,
            to: (i + 1) as f64 * width,
            approved: 0,
            blocked: 0,
        })
        .collect();
    for (&p, &b) in scores.iter().zip(blocked) {
        let index = ((p.clamp(0.0, 1.0) / width) as usize).min(SCORE_BINS - 1);
        if b {
            bins[index].blocked += 1;
        } else {
            bins[index].approved += 1;
        }
    }
    bins
}

fn calibration(scores: &[f64], blocked: &[bool]) -> Vec<CalibrationBin> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let groups = CALIBRATION_BINS.min(order.len());
    (0..groups)
        .map(|g| {
            let members = &order[g * order.len() / groups..(g + 1) * order.len() / groups];
            let n = members.len() as f64;
            CalibrationBin {
                examples: members.len() as u64,
                mean_probability: members.iter().map(|&i| scores[i]).sum::<f64>() / n,
                blocked_share: members.iter().filter(|&&i| blocked[i]).count() as f64 / n,
            }
        })
        .collect()
}
