//! Exact TreeSHAP (Lundberg et al., Algorithm 2) over forust's trees, in f64 with one path
//! buffer per call. Same values as forust's own `Shapley` contributions, which work in f32 and
//! allocate at every node: this is several times faster, and decisions explain every order.

use forust_ml::tree::Tree;

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PathElement {
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Adds each feature's Shapley value for `row` in `tree` to `out`.
pub(super) fn tree_shap(
    tree: &Tree,
    row: &[f64],
    missing: f64,
    out: &mut [f64],
    path: &mut Vec<PathElement>,
) {
    if tree.nodes.is_empty() {
        return;
    }
    recurse(
        tree,
        row,
        missing,
        out,
        path,
        Step {
            node: 0,
            parent: 0,
            depth: 0,
            zero: 1.0,
            one: 1.0,
            feature: usize::MAX,
        },
    );
}

pub(super) fn buffer() -> Vec<PathElement> {
    Vec::with_capacity(64)
}

#[derive(Clone, Copy)]
struct Step {
    node: usize,
    /// Where the parent's path starts in the buffer.
    parent: usize,
    depth: usize,
    zero: f64,
    one: f64,
    feature: usize,
}

fn recurse(
    tree: &Tree,
    row: &[f64],
    missing: f64,
    out: &mut [f64],
    path: &mut Vec<PathElement>,
    step: Step,
) {
    let mut depth = step.depth;
    let at = step.parent + depth + 1;
    if path.len() < at + depth + 2 {
        path.resize(at + depth + 2, PathElement::default());
    }
    path.copy_within(step.parent..step.parent + depth + 1, at);
    let p = &mut path[at..];
    extend(p, depth, step.zero, step.one, step.feature);

    let node = &tree.nodes[step.node];
    if node.is_leaf {
        for i in 1..=depth {
            let w = unwound_sum(p, depth, i);
            let e = p[i];
            out[e.feature] += w * (e.one - e.zero) * f64::from(node.weight_value);
        }
        return;
    }
    let hot = node.get_child_idx(&row[node.split_feature], &missing);
    let mut children = [node.left_child, node.right_child, node.missing_node];
    let count = if node.has_missing_branch() { 3 } else { 2 };
    let children = &mut children[..count];
    if let Some(i) = children.iter().position(|&c| c == hot) {
        children.swap(0, i);
    }

    let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
    if let Some(k) = (0..=depth).find(|&k| p[k].feature == node.split_feature) {
        incoming_zero = p[k].zero;
        incoming_one = p[k].one;
        unwind(p, depth, k);
        depth -= 1;
    }
    let cover = f64::from(node.hessian_sum);
    for (i, &child) in children.iter().enumerate() {
        let share = if cover > 0.0 {
            f64::from(tree.nodes[child].hessian_sum) / cover
        } else {
            0.0
        };
        recurse(
            tree,
            row,
            missing,
            out,
            path,
            Step {
                node: child,
                parent: at,
                depth: depth + 1,
                zero: share * incoming_zero,
                one: if i == 0 { incoming_one } else { 0.0 },
                feature: node.split_feature,
            },
        );
    }
}

fn extend(p: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: usize) {
    p[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d = (depth + 1) as f64;
    for i in (0..depth).rev() {
        p[i + 1].weight += one * p[i].weight * (i + 1) as f64 / d;
        p[i].weight = zero * p[i].weight * (depth - i) as f64 / d;
    }
}

fn unwind(p: &mut [PathElement], depth: usize, index: usize) {
    let (one, zero) = (p[index].one, p[index].zero);
    let d = (depth + 1) as f64;
    let mut next = p[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let kept = p[i].weight;
            p[i].weight = next * d / ((i + 1) as f64 * one);
            next = kept - p[i].weight * zero * (depth - i) as f64 / d;
        } else {
            p[i].weight = p[i].weight * d / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        p[i].feature = p[i + 1].feature;
        p[i].zero = p[i + 1].zero;
        p[i].one = p[i + 1].one;
    }
}

fn unwound_sum(p: &[PathElement], depth: usize, index: usize) -> f64 {
    let (one, zero) = (p[index].one, p[index].zero);
    let d = (depth + 1) as f64;
    let mut next = p[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let w = next * d / ((i + 1) as f64 * one);
            total += w;
            next = p[i].weight - w * zero * (depth - i) as f64 / d;
        } else if zero != 0.0 {
            total += p[i].weight / zero / ((depth - i) as f64 / d);
        }
    }
    total
}
