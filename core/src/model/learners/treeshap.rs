//! Exact path-dependent TreeSHAP over forust's trees, from tables built once per model.
//!
//! The values are those of Lundberg et al.'s Algorithm 2 (and of forust's own `Shapley`
//! contributions, which work in f32 and allocate at every node). For a leaf of value `v` whose
//! path splits on the distinct features `1..d`, let `z_j` be the share of the training cover
//! that follows the path at the splits on `j`, and `o_j` whether the row follows it at all of
//! them. Feature `k` receives
//!
//! `v · (o_k − z_k) · Σ_{S ⊆ others, o_S = 1} |S|!(d−|S|−1)!/d! · Π_{j ∉ S, j ≠ k} z_j`.
//!
//! Everything but the `o`s is fixed by the tree, and the `o`s are bits: so each leaf keeps a
//! table of its features' values for each of the 2^d patterns, and explaining a row is one
//! comparison per split node and one lookup per leaf. Trees here are shallow (depth 3 by
//! default: at most 8 patterns of 3 values per leaf), and decisions explain every order.

use forust_ml::tree::Tree;

/// Every tree's leaves, their paths and their tables, flattened.
#[derive(Debug, Clone, Default)]
pub(super) struct Explainer {
    trees: Vec<TreeTable>,
    leaves: Vec<LeafTable>,
    /// Split nodes along each leaf's path, and the child the path takes there.
    steps: Vec<Step>,
    /// The encoded column of each distinct feature of each leaf's path.
    columns: Vec<usize>,
    /// Per leaf, for each pattern of followed features, each feature's value.
    values: Vec<f64>,
}

#[derive(Debug, Clone, Copy)]
struct TreeTable {
    leaves: (usize, usize),
}

#[derive(Debug, Clone, Copy)]
struct LeafTable {
    steps: (usize, usize),
    columns: (usize, usize),
    values: usize,
}

#[derive(Debug, Clone, Copy)]
struct Step {
    node: usize,
    child: usize,
    /// Which of the leaf's distinct features this split is on.
    slot: usize,
}

/// A distinct feature split on along a path, while the tree is walked to build the tables.
#[derive(Debug, Clone, Copy)]
struct PathFeature {
    column: usize,
    /// Share of the training cover that follows the path at this feature's splits.
    zero: f64,
}

impl Explainer {
    pub(super) fn new(trees: &[Tree]) -> Self {
        let mut explainer = Explainer::default();
        let mut path = Vec::new();
        let mut steps = Vec::new();
        for tree in trees {
            let first = explainer.leaves.len();
            if !tree.nodes.is_empty() {
                explainer.walk(tree, 0, &mut path, &mut steps);
            }
            explainer.trees.push(TreeTable {
                leaves: (first, explainer.leaves.len()),
            });
        }
        explainer
    }

    fn walk(
        &mut self,
        tree: &Tree,
        node_index: usize,
        path: &mut Vec<PathFeature>,
        steps: &mut Vec<Step>,
    ) {
        let node = &tree.nodes[node_index];
        if node.is_leaf {
            self.add_leaf(f64::from(node.weight_value), path, steps);
            return;
        }
        let children = [node.left_child, node.right_child, node.missing_node];
        let count = if node.has_missing_branch() { 3 } else { 2 };
        let cover = f64::from(node.hessian_sum);
        let column = node.split_feature;
        let seen = path.iter().position(|p| p.column == column);
        for &child in &children[..count] {
            let share = if cover > 0.0 {
                f64::from(tree.nodes[child].hessian_sum) / cover
            } else {
                0.0
            };
            // A feature split on again: its shares multiply (and the row must follow both).
            let before = seen.map(|slot| path[slot].zero);
            let slot = match seen {
                Some(slot) => {
                    path[slot].zero *= share;
                    slot
                }
                None => {
                    path.push(PathFeature {
                        column,
                        zero: share,
                    });
                    path.len() - 1
                }
            };
            steps.push(Step {
                node: node_index,
                child,
                slot,
            });
            self.walk(tree, child, path, steps);
            steps.pop();
            match (seen, before) {
                (Some(slot), Some(zero)) => path[slot].zero = zero,
                _ => {
                    path.pop();
                }
            }
        }
    }

    fn add_leaf(&mut self, value: f64, path: &[PathFeature], steps: &[Step]) {
        let d = path.len();
        let first_step = self.steps.len();
        self.steps.extend_from_slice(steps);
        let first_column = self.columns.len();
        self.columns.extend(path.iter().map(|p| p.column));
        let first_value = self.values.len();
        let zeros: Vec<f64> = path.iter().map(|p| p.zero).collect();
        for pattern in 0..1usize << d {
            let ones: Vec<bool> = (0..d).map(|j| pattern >> j & 1 == 1).collect();
            self.values.extend(leaf_values(value, &zeros, &ones));
        }
        self.leaves.push(LeafTable {
            steps: (first_step, self.steps.len()),
            columns: (first_column, self.columns.len()),
            values: first_value,
        });
    }

    /// Adds each encoded column's Shapley value for `row` to `out`, over `trees` (the same
    /// trees, in the same order, as the explainer was built from).
    pub(super) fn contributions(&self, trees: &[Tree], row: &[f64], missing: f64, out: &mut [f64]) {
        let mut hot: Vec<usize> = Vec::new();
        for (tree, table) in trees.iter().zip(&self.trees) {
            hot.clear();
            hot.extend(tree.nodes.iter().map(|node| {
                if node.is_leaf {
                    usize::MAX
                } else {
                    node.get_child_idx(&row[node.split_feature], &missing)
                }
            }));
            for leaf in &self.leaves[table.leaves.0..table.leaves.1] {
                let columns = &self.columns[leaf.columns.0..leaf.columns.1];
                let mut pattern = (1usize << columns.len()) - 1;
                for step in &self.steps[leaf.steps.0..leaf.steps.1] {
                    if hot[step.node] != step.child {
                        pattern &= !(1 << step.slot);
                    }
                }
                let values = &self.values[leaf.values + pattern * columns.len()..];
                for (&column, value) in columns.iter().zip(values) {
                    out[column] += value;
                }
            }
        }
    }
}

/// One leaf's share of each path feature's Shapley value, for one pattern of followed
/// features (see the module comment).
fn leaf_values(value: f64, zeros: &[f64], ones: &[bool]) -> Vec<f64> {
    let d = zeros.len();
    // w(s) = s!(d−s−1)!/d!, from w(0) = 1/d and w(s)/w(s−1) = s/(d−s).
    let mut weights = vec![1.0 / d as f64];
    for s in 1..d {
        weights.push(weights[s - 1] * s as f64 / (d - s) as f64);
    }
    (0..d)
        .map(|k| {
            let difference = if ones[k] { 1.0 } else { 0.0 } - zeros[k];
            // Features not followed only ever contribute their z; followed ones contribute z
            // or 1 depending on the coalition: symmetric[t] sums their z over subsets of size t.
            let mut not_followed = 1.0;
            let mut symmetric = vec![1.0];
            for j in (0..d).filter(|&j| j != k) {
                if ones[j] {
                    symmetric.push(0.0);
                    for t in (1..symmetric.len()).rev() {
                        symmetric[t] += symmetric[t - 1] * zeros[j];
                    }
                } else {
                    not_followed *= zeros[j];
                }
            }
            let followed = symmetric.len() - 1;
            // A coalition of s followed features leaves the other (followed − s) at their z.
            let coalitions: f64 = (0..=followed)
                .map(|s| weights[s] * symmetric[followed - s])
                .sum();
            value * difference * not_followed * coalitions
        })
        .collect()
}
