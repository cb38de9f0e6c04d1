//! Which orders train and which judge: the holdout split, and the folds inside the training part.

use super::options::MIN_PER_OUTCOME;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How the holdout was chosen: `time_ordered`, the newest orders by issue time; or
/// `stratified_random`, a random share of each outcome, when all orders have the same time or
/// the newest ones hold a single outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The newest orders by issue time.
    TimeOrdered,
    /// A random share of each outcome: all orders had the same date, or the newest ones held
    /// a single outcome.
    StratifiedRandom,
}

/// What splitting needs to know of an example.
pub(super) struct Meta<'a> {
    pub(super) order_id: &'a str,
    pub(super) issued_at: DateTime<Utc>,
    pub(super) blocked: bool,
}

/// Indices of (training part, holdout).
pub(super) fn split(
    examples: &[Meta<'_>],
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>, Split) {
    let n = examples.len();
    let holdout = ((n as f64 * fraction.clamp(0.05, 0.5)).round() as usize).clamp(1, n - 1);
    let first = examples.iter().map(|e| e.issued_at).min();
    let last = examples.iter().map(|e| e.issued_at).max();
    if first != last {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&examples[a], &examples[b]);
            a.issued_at
                .cmp(&b.issued_at)
                .then_with(|| a.order_id.cmp(b.order_id))
        });
        let (train, hold) = order.split_at(n - holdout);
        let has_both = |part: &[usize], least: usize| {
            let blocked = part.iter().filter(|&&i| examples[i].blocked).count();
            blocked >= least && part.len() - blocked >= least
        };
        if has_both(hold, 1) && has_both(train, MIN_PER_OUTCOME / 2) {
            return (train.to_vec(), hold.to_vec(), Split::TimeOrdered);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut hold) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut members: Vec<usize> = (0..n).filter(|&i| examples[i].blocked == class).collect();
        members.shuffle(&mut rng);
        let take = ((members.len() as f64 * holdout as f64 / n as f64).round() as usize)
            .clamp(1, members.len() - 1);
        hold.extend_from_slice(&members[..take]);
        train.extend_from_slice(&members[take..]);
    }
    train.sort_unstable();
    hold.sort_unstable();
    (train, hold, Split::StratifiedRandom)
}

/// Fold number of each row, each outcome spread evenly over the folds.
pub(super) fn stratified_folds(blocked: &[bool], folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut fold_of = vec![0; blocked.len()];
    for class in [false, true] {
        let mut members: Vec<usize> = (0..blocked.len())
            .filter(|&i| blocked[i] == class)
            .collect();
        members.shuffle(&mut rng);
        for (k, i) in members.into_iter().enumerate() {
            fold_of[i] = k % folds;
        }
    }
    fold_of
}
