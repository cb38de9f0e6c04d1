//! Which offset may be stored when requests of a partition finish out of order: the first one
//! still running (everything before it is done), or one past the last when none runs.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub(super) struct OffsetTracker {
    partitions: HashMap<i32, Partition>,
}

#[derive(Debug, Default)]
struct Partition {
    running: BTreeSet<i64>,
    highest_finished: Option<i64>,
}

impl OffsetTracker {
    pub(super) fn start(&mut self, partition: i32, offset: i64) {
        self.partitions
            .entry(partition)
            .or_default()
            .running
            .insert(offset);
    }

    /// Marks `offset` finished; returns the offset to store (the next to read after a restart)
    /// when it moved.
    pub(super) fn finish(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let state = self.partitions.get_mut(&partition)?;
        let before = state.committable();
        state.running.remove(&offset);
        state.highest_finished = Some(state.highest_finished.map_or(offset, |h| h.max(offset)));
        let after = state.committable();
        (after != before).then_some(after).flatten()
    }
}

impl Partition {
    fn committable(&self) -> Option<i64> {
        match (self.running.first(), self.highest_finished) {
            (Some(&first), _) => Some(first),
            (None, Some(highest)) => Some(highest + 1),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_past_a_contiguous_prefix() {
        let mut tracker = OffsetTracker::default();
        for offset in [10, 11, 12] {
            tracker.start(0, offset);
        }
        // 11 finishes first: 10 still runs, so nothing past 10 may be stored.
        assert_eq!(tracker.finish(0, 11), None);
        assert_eq!(tracker.finish(0, 10), Some(12));
        assert_eq!(tracker.finish(0, 12), Some(13));
    }

    #[test]
    fn partitions_are_independent() {
        let mut tracker = OffsetTracker::default();
        tracker.start(0, 5);
        tracker.start(1, 7);
        assert_eq!(tracker.finish(1, 7), Some(8));
        assert_eq!(tracker.finish(0, 5), Some(6));
        assert_eq!(tracker.finish(2, 1), None);
    }
}
