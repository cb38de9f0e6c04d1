//! Checking a company's audit chain: every event links to the one before it, its hash is what
//! its content gives, the sequence has no gap, and the chain reaches every head recorded for it
//! elsewhere (the database's head row, the copy on the `audit-heads` topic, a head the company
//! kept from an earlier check). An edited, removed, reordered or invented event breaks a link;
//! a removed tail leaves a recorded head out of reach.

use super::{AuditEvent, ChainHash, GENESIS};

/// A head recorded outside the chain: the chain must hold event `seq`, with this hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: ChainHash,
    /// Where it was recorded, for the report.
    pub source: CheckpointSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointSource {
    /// `audit_heads`, written in the same transaction as the events.
    DatabaseHead,
    /// The latest record of the compacted `audit-heads` topic.
    PublishedHead,
    /// A head the caller kept from an earlier check.
    Given,
}

impl CheckpointSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointSource::DatabaseHead => "database head",
            CheckpointSource::PublishedHead => "published head",
            CheckpointSource::Given => "given head",
        }
    }
}

/// Why the chain does not verify, at the first event found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The events skip from one seq to a later one (events removed), or go back.
    Gap { expected: i64, found: i64 },
    /// The event does not name the previous event's hash (reordered, or one removed before it).
    BrokenLink { seq: i64 },
    /// The event's stored hash is not what its content gives (the event was edited).
    AlteredEvent { seq: i64 },
    /// A recorded head lies beyond the chain's last event (the tail was removed).
    MissingTail { last: i64, checkpoint: Checkpoint },
    /// The chain holds the head's seq with another hash (rewritten from there or before).
    HeadMismatch { checkpoint: Checkpoint },
}

impl ChainBreak {
    /// The first seq that is wrong or missing.
    pub fn first_broken_seq(&self) -> i64 {
        match self {
            ChainBreak::Gap { expected, .. } => *expected,
            ChainBreak::BrokenLink { seq } | ChainBreak::AlteredEvent { seq } => *seq,
            ChainBreak::MissingTail { last, .. } => last + 1,
            ChainBreak::HeadMismatch { checkpoint } => checkpoint.seq,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ChainBreak::Gap { expected, found } => {
                format!("event {expected} is missing: the next stored event is {found}")
            }
            ChainBreak::BrokenLink { seq } => {
                format!("event {seq} does not link to the event before it")
            }
            ChainBreak::AlteredEvent { seq } => {
                format!("event {seq} is not what its hash was computed over: it was altered")
            }
            ChainBreak::MissingTail { last, checkpoint } => format!(
                "the {} is event {}, but the log ends at event {last}: its tail is missing",
                checkpoint.source.as_str(),
                checkpoint.seq
            ),
            ChainBreak::HeadMismatch { checkpoint } => format!(
                "event {} differs from the {}: the log was rewritten up to there",
                checkpoint.seq,
                checkpoint.source.as_str()
            ),
        }
    }
}

/// What a walk over the whole chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Events walked.
    pub events: u64,
    /// The last event's seq and hash ([`GENESIS`] and 0 for an empty log).
    pub last_seq: i64,
    pub head: ChainHash,
    /// `None`: the chain verifies.
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    pub fn verified(&self) -> bool {
        self.broken.is_none()
    }
}

/// Walks a company's events in seq order, one at a time, so a log of any length is checked
/// in constant memory. Keeps the first break; later events are still counted.
#[derive(Debug)]
pub struct ChainWalk {
    checkpoints: Vec<Checkpoint>,
    expected_seq: i64,
    previous: ChainHash,
    events: u64,
    broken: Option<ChainBreak>,
}

impl ChainWalk {
    pub fn new(checkpoints: Vec<Checkpoint>) -> Self {
        Self {
            checkpoints,
            expected_seq: 1,
            previous: GENESIS,
            events: 0,
            broken: None,
        }
    }

    /// The next event as stored: its seq, content, and the links stored with it.
    pub fn push(&mut self, seq: i64, event: &AuditEvent, prev_hash: &ChainHash, hash: &ChainHash) {
        self.events += 1;
        if self.broken.is_none() {
            self.broken = self.check(seq, event, prev_hash, hash);
        }
        // Follow the stored links, so one bad event is reported once rather than breaking
        // every later comparison too.
        self.expected_seq = seq + 1;
        self.previous = *hash;
    }

    fn check(
        &self,
        seq: i64,
        event: &AuditEvent,
        prev_hash: &ChainHash,
        hash: &ChainHash,
    ) -> Option<ChainBreak> {
        if seq != self.expected_seq {
            return Some(ChainBreak::Gap {
                expected: self.expected_seq,
                found: seq,
            });
        }
        if *prev_hash != self.previous {
            return Some(ChainBreak::BrokenLink { seq });
        }
        if event.chain_hash(prev_hash) != *hash {
            return Some(ChainBreak::AlteredEvent { seq });
        }
        self.checkpoints
            .iter()
            .find(|c| c.seq == seq && c.hash != *hash)
            .map(|&checkpoint| ChainBreak::HeadMismatch { checkpoint })
    }

    pub fn finish(self) -> ChainReport {
        let last_seq = self.expected_seq - 1;
        let broken = self.broken.or_else(|| {
            self.checkpoints
                .iter()
                .filter(|c| c.seq > last_seq)
                .max_by_key(|c| c.seq)
                .map(|&checkpoint| ChainBreak::MissingTail {
                    last: last_seq,
                    checkpoint,
                })
        });
        ChainReport {
            events: self.events,
            last_seq,
            head: self.previous,
            broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditKind;
    use chrono::DateTime;
    use uuid::Uuid;

    struct Stored {
        seq: i64,
        event: AuditEvent,
        prev: ChainHash,
        hash: ChainHash,
    }

    fn chain(n: i64) -> Vec<Stored> {
        let mut previous = GENESIS;
        (1..=n)
            .map(|seq| {
                let at =
                    DateTime::from_timestamp_millis(1_764_000_000_000 + seq).unwrap_or_default();
                let event =
                    AuditEvent::new(Uuid::nil(), AuditKind::BatchAccepted, "system:ingest", at)
                        .with_detail("items", seq.to_string());
                let hash = event.chain_hash(&previous);
                let stored = Stored {
                    seq,
                    event,
                    prev: previous,
                    hash,
                };
                previous = hash;
                stored
            })
            .collect()
    }

    fn walk(events: &[Stored], checkpoints: Vec<Checkpoint>) -> ChainReport {
        let mut walk = ChainWalk::new(checkpoints);
        for s in events {
            walk.push(s.seq, &s.event, &s.prev, &s.hash);
        }
        walk.finish()
    }

    fn head(events: &[Stored], seq: i64, source: CheckpointSource) -> Checkpoint {
        Checkpoint {
            seq,
            hash: events[(seq - 1) as usize].hash,
            source,
        }
    }

    #[test]
    fn an_intact_chain_verifies_against_its_heads() {
        let events = chain(5);
        let report = walk(
            &events,
            vec![
                head(&events, 5, CheckpointSource::DatabaseHead),
                head(&events, 3, CheckpointSource::PublishedHead),
            ],
        );
        assert!(report.verified(), "{:?}", report.broken);
        assert_eq!((report.events, report.last_seq), (5, 5));
        assert_eq!(report.head, events[4].hash);
    }

    #[test]
    fn an_empty_log_verifies_and_its_head_is_genesis() {
        let report = walk(&[], vec![]);
        assert!(report.verified());
        assert_eq!(
            (report.events, report.last_seq, report.head),
            (0, 0, GENESIS)
        );
    }

    #[test]
    fn an_edited_event_is_found_where_it_was_edited() {
        let mut events = chain(5);
        events[2].event.details.insert("items".into(), "999".into());
        let report = walk(&events, vec![]);
        assert_eq!(report.broken, Some(ChainBreak::AlteredEvent { seq: 3 }));
        assert_eq!(report.broken.map(|b| b.first_broken_seq()), Some(3));
        assert_eq!(report.events, 5);
    }

    #[test]
    fn a_removed_event_leaves_a_gap() {
        let mut events = chain(5);
        events.remove(1);
        let report = walk(&events, vec![]);
        assert_eq!(
            report.broken,
            Some(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn a_rewritten_link_is_a_broken_link() {
        let mut events = chain(4);
        // Renumbered after a removal: seqs are contiguous, the link is not.
        events.remove(1);
        for (i, s) in events.iter_mut().enumerate() {
            s.seq = i as i64 + 1;
        }
        let report = walk(&events, vec![]);
        assert_eq!(report.broken, Some(ChainBreak::BrokenLink { seq: 2 }));
    }

    #[test]
    fn a_removed_tail_shows_against_any_head_recorded_beyond_it() {
        let events = chain(6);
        let published = head(&events, 5, CheckpointSource::PublishedHead);
        let report = walk(&events[..3], vec![published]);
        assert_eq!(
            report.broken,
            Some(ChainBreak::MissingTail {
                last: 3,
                checkpoint: published
            })
        );
        assert_eq!(report.broken.map(|b| b.first_broken_seq()), Some(4));
        // Without a head recorded elsewhere, a shorter chain is indistinguishable from a
        // younger one: that is what the heads are for.
        assert!(walk(&events[..3], vec![]).verified());
    }

    #[test]
    fn a_chain_rebuilt_from_scratch_differs_from_a_head_kept_elsewhere() {
        let original = chain(4);
        let mut rebuilt = chain(4);
        rebuilt[1].event.actor = "system:forger".into();
        let mut previous = GENESIS;
        for s in &mut rebuilt {
            s.prev = previous;
            s.hash = s.event.chain_hash(&previous);
            previous = s.hash;
        }
        assert!(walk(&rebuilt, vec![]).verified(), "internally consistent");
        let given = head(&original, 3, CheckpointSource::Given);
        let report = walk(&rebuilt, vec![given]);
        assert_eq!(
            report.broken,
            Some(ChainBreak::HeadMismatch { checkpoint: given })
        );
    }
}
