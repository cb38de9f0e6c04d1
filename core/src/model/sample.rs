//! Evenly spread samples of rows, each outcome in its own proportion: what a large training
//! part is ranked on, and what a capped learner fits.

/// At most `size` rows, each outcome in its own proportion, evenly spaced through the given
/// order (time, for the training part) so the sample spans the whole period. `None` when there
/// are no more than `size` rows: then all are used.
pub(super) fn spread_sample(blocked: &[bool], size: usize) -> Option<Vec<usize>> {
    let n = blocked.len();
    if n <= size {
        return None;
    }
    let mut rows = Vec::with_capacity(size);
    for class in [false, true] {
        let members: Vec<usize> = (0..n).filter(|&i| blocked[i] == class).collect();
        if members.is_empty() {
            continue;
        }
        // At least one of each outcome, so a sample never loses a class.
        let take = ((members.len() as f64 * size as f64 / n as f64).round() as usize)
            .clamp(1, members.len());
        rows.extend((0..take).map(|k| members[k * members.len() / take]));
    }
    rows.sort_unstable();
    Some(rows)
}
