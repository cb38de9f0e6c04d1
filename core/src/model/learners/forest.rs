//! The original system's random forest (linfa-ensemble: bootstrapped linfa decision trees, each
//! on a random subset of columns), kept as a baseline. The fitted trees are copied into flat
//! arrays so serving does not go through linfa (which predicts a whole matrix per tree).
//!
//! Probability = the share of trees voting "blocked", clamped to [1/(2T), 1 − 1/(2T)] so its
//! log-odds (the raw score) is finite. Explanations use tree-path attribution (Saabas): each
//! node holds the average vote of the training rows reaching it, and each split on the path
//! is credited with the change it makes; per tree these add up exactly to the leaf's vote minus
//! the root's. Those vote-scale attributions are then scaled by
//! (raw − base raw) ÷ (votes − base votes), so they add up exactly on the log-odds scale too;
//! that rescaling (not the attribution itself) is the approximation.

use super::ForestSettings;
use crate::model::spec::Design;
use linfa::prelude::*;
use linfa_ensemble::EnsembleLearnerParams;
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// linfa trees cannot take NaN; a value below anything real lets trees split missing apart.
const MISSING: f64 = -1e300;
const LEAF: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Forest {
    trees: Vec<Tree>,
    /// Average vote of the training rows: where every explanation starts.
    base_votes: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Node {
    column: u32,
    threshold: f64,
    left: u32,
    right: u32,
    /// A leaf's vote (0 or 1); elsewhere the mean vote of the training rows passing through.
    value: f64,
}

fn impute(v: f64) -> f64 {
    if v.is_nan() { MISSING } else { v }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

impl Forest {
    pub(crate) fn fit(
        design: &Design,
        blocked: &[bool],
        settings: &ForestSettings,
        seed: u64,
    ) -> Result<Self, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Bounded rows keep the baseline's training time bounded on large datasets.
        let mut rows: Vec<usize> = (0..design.rows).collect();
        if rows.len() > settings.max_rows {
            rows.shuffle(&mut rng);
            rows.truncate(settings.max_rows);
        }
        let sample = design.select(&rows);
        let x: Vec<f64> = sample.row_major().into_iter().map(impute).collect();
        let x = Array2::from_shape_vec((rows.len(), design.cols), x).map_err(|e| e.to_string())?;
        let y = Array1::from_iter(rows.iter().map(|&r| usize::from(blocked[r])));
        let tree = DecisionTree::<f64, usize>::params()
            .max_depth(Some(settings.max_depth))
            .min_weight_leaf(settings.min_leaf);
        let params = EnsembleLearnerParams::new_fixed_rng(tree, rng)
            .ensemble_size(settings.trees)
            .bootstrap_proportion(1.0)
            .feature_proportion(settings.feature_proportion);
        let dataset = Dataset::new(x, y);
        // linfa-ensemble unwraps each tree's fit; a panic there must fail this candidate only.
        let fitted =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| params.fit(&dataset)))
                .map_err(|_| "random forest could not be fitted".to_owned())?
                .map_err(|e| format!("random forest could not be fitted: {e}"))?;
        let mut trees: Vec<Tree> = fitted
            .models
            .iter()
            .zip(&fitted.model_features)
            .map(|(tree, features)| {
                let mut nodes = Vec::new();
                flatten(tree.root_node(), features, &mut nodes);
                Tree { nodes }
            })
            .collect();
        let mut base = 0.0;
        for tree in &mut trees {
            tree.attribute(&sample);
            base += tree.nodes.first().map_or(0.0, |n| n.value);
        }
        let base_votes = base / trees.len().max(1) as f64;
        Ok(Forest { trees, base_votes })
    }

    fn votes(&self, row: &[f64]) -> f64 {
        let total: f64 = self.trees.iter().map(|t| t.nodes[t.leaf(row)].value).sum();
        total / self.trees.len().max(1) as f64
    }

    fn clamp(&self, votes: f64) -> f64 {
        let margin = 0.5 / self.trees.len().max(1) as f64;
        votes.clamp(margin, 1.0 - margin)
    }

    pub(crate) fn raw_score(&self, row: &[f64]) -> f64 {
        logit(self.clamp(self.votes(row)))
    }

    pub(crate) fn contributions(&self, row: &[f64]) -> (f64, Vec<f64>) {
        let mut out = vec![0.0; row.len()];
        for tree in &self.trees {
            tree.saabas(row, &mut out);
        }
        let n = self.trees.len().max(1) as f64;
        out.iter_mut().for_each(|c| *c /= n);
        let votes = self.votes(row);
        let (p, base_p) = (self.clamp(votes), self.clamp(self.base_votes));
        let base = logit(base_p);
        let scale = if (votes - self.base_votes).abs() > 1e-12 {
            (logit(p) - base) / (votes - self.base_votes)
        } else {
            1.0 / (p * (1.0 - p))
        };
        out.iter_mut().for_each(|c| *c *= scale);
        (base, out)
    }
}

fn flatten(node: &TreeNode<f64, usize>, features: &[usize], nodes: &mut Vec<Node>) -> u32 {
    let at = nodes.len();
    nodes.push(Node {
        column: 0,
        threshold: 0.0,
        left: LEAF,
        right: LEAF,
        value: 0.0,
    });
    let children = node.children();
    match (node.is_leaf(), children[0], children[1]) {
        (false, Some(left), Some(right)) => {
            let (column, threshold, _) = node.split();
            let left = flatten(left, features, nodes);
            let right = flatten(right, features, nodes);
            nodes[at] = Node {
                column: features[column] as u32,
                threshold,
                left,
                right,
                value: 0.0,
            };
        }
        _ => nodes[at].value = node.prediction().map_or(0.0, |class| class as f64),
    }
    at as u32
}

impl Tree {
    fn leaf(&self, row: &[f64]) -> usize {
        let mut at = 0;
        loop {
            let node = &self.nodes[at];
            if node.left == LEAF {
                return at;
            }
            // linfa sends values below the split to the left.
            at = if impute(row[node.column as usize]) < node.threshold {
                node.left
            } else {
                node.right
            } as usize;
        }
    }

    fn path(&self, row: &[f64]) -> Vec<usize> {
        let mut path = vec![0];
        let mut at = 0;
        while self.nodes[at].left != LEAF {
            let node = &self.nodes[at];
            at = if impute(row[node.column as usize]) < node.threshold {
                node.left
            } else {
                node.right
            } as usize;
            path.push(at);
        }
        path
    }

    /// Sets each inner node's value to the mean vote of the training rows that pass through it.
    fn attribute(&mut self, design: &Design) {
        let mut sums = vec![(0.0, 0usize); self.nodes.len()];
        for r in 0..design.rows {
            let path = self.path(&design.row(r));
            let vote = path.last().map_or(0.0, |&leaf| self.nodes[leaf].value);
            for node in path {
                sums[node].0 += vote;
                sums[node].1 += 1;
            }
        }
        // Children come after their parent, so walking backwards fills children first.
        for at in (0..self.nodes.len()).rev() {
            let (left, right) = (self.nodes[at].left, self.nodes[at].right);
            if left == LEAF {
                continue;
            }
            self.nodes[at].value = match sums[at] {
                (sum, n) if n > 0 => sum / n as f64,
                _ => (self.nodes[left as usize].value + self.nodes[right as usize].value) / 2.0,
            };
        }
    }

    fn saabas(&self, row: &[f64], out: &mut [f64]) {
        let path = self.path(row);
        for pair in path.windows(2) {
            let (parent, child) = (&self.nodes[pair[0]], &self.nodes[pair[1]]);
            out[parent.column as usize] += child.value - parent.value;
        }
    }
}
