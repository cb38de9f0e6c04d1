//! Audit events: what happened to a company's data, by whom, and when. Every action of the
//! pipeline emits one; the audit processor chains them per company so tampering shows.

pub mod verification;

use crate::fingerprint::Canonical;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The kinds of event; the wire carries the dotted name so consumers need no enum upgrade to
/// read a new kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditKind {
    #[serde(rename = "company.registered")]
    CompanyRegistered,
    #[serde(rename = "dataset.created")]
    DatasetCreated,
    #[serde(rename = "batch.accepted")]
    BatchAccepted,
    #[serde(rename = "batch.rejected")]
    BatchRejected,
    #[serde(rename = "dataset.ready")]
    DatasetReady,
    #[serde(rename = "dataset.rejected")]
    DatasetRejected,
    #[serde(rename = "training.started")]
    TrainingStarted,
    #[serde(rename = "training.finished")]
    TrainingFinished,
    #[serde(rename = "training.failed")]
    TrainingFailed,
    #[serde(rename = "model.activated")]
    ModelActivated,
    /// A new version that did not beat the active one on the same holdout.
    #[serde(rename = "model.kept_as_candidate")]
    ModelKeptAsCandidate,
    /// A record sent straight to Kafka with the company's token that no processor could
    /// accept; it went to the dead-letter topic, and this says where and why.
    #[serde(rename = "record.dead_lettered")]
    RecordDeadLettered,
    /// The company issued itself a new token (`jti`, `label`).
    #[serde(rename = "token.issued")]
    TokenIssued,
    /// The company revoked one of its tokens (`jti`).
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    /// An order approved (`request_id`, `order_id`, `decision`, `probability`, `model_version`,
    /// `channel`, ...).
    #[serde(rename = "decision.approved")]
    DecisionApproved,
    #[serde(rename = "decision.rejected")]
    DecisionRejected,
    /// An order the company's policy sent to a person (`decision`: `review`; `policy_version`,
    /// `band`, `rules_fired`).
    #[serde(rename = "decision.referred")]
    DecisionReferred,
    /// A request for an order decided before, answered with that first decision.
    #[serde(rename = "decision.repeated")]
    DecisionRepeated,
    /// A request answered without a decision (`status`: `no_model`, `invalid`, `conflict`,
    /// `failed`; `reason`).
    #[serde(rename = "decision.refused")]
    DecisionRefused,
    /// A batch of outcome reports stored (`reports`, `stored`, `unchanged`).
    #[serde(rename = "outcomes.reported")]
    OutcomesReported,
    /// The company changed its definition of a bad order (`days_past_due`, `within_days`, and
    /// the values before as `previous_days_past_due`, `previous_within_days`).
    #[serde(rename = "outcomes.definition_changed")]
    OutcomeDefinitionChanged,
    /// The active version's recent orders no longer look like its training orders
    /// (`model_version`, `from`, `to`, `decisions`, `alpha`, `top_drifting`, `score_psi`,
    /// `score_drifting`, `retrain_suggested`); at most one a version and day.
    #[serde(rename = "drift.detected")]
    DriftDetected,
    /// The company saved a new version of its decision policy, in force at once (`version`,
    /// `previous_version`, `rules`, `cutoff`, `refer_bands`, `model_version` it was checked
    /// against).
    #[serde(rename = "policy.changed")]
    PolicyChanged,
    /// The company asked, for its customer, that a person review a decision (LGPD art. 20):
    /// `request_id`, `order_id`, `decision`. The analyst's override outcome answers it.
    #[serde(rename = "decision.review_requested")]
    ReviewRequested,
    /// The company's experiment changed (`version`, `previous_version`, `action`: `saved`,
    /// `promoted`, `rolled_back`, `guardrail_ended` or `guardrail_rolled_back`; `champion`,
    /// `challengers`, `shadows`; for a promotion or rollback `from` and `to`; for the
    /// guardrail's, the `model_version` judged, the `limit` breached and the `evidence`).
    #[serde(rename = "experiment.changed")]
    ExperimentChanged,
}

impl AuditKind {
    /// Every kind, for callers that name them (the audit log's filters).
    pub const ALL: [AuditKind; 25] = [
        AuditKind::CompanyRegistered,
        AuditKind::DatasetCreated,
        AuditKind::BatchAccepted,
        AuditKind::BatchRejected,
        AuditKind::DatasetReady,
        AuditKind::DatasetRejected,
        AuditKind::TrainingStarted,
        AuditKind::TrainingFinished,
        AuditKind::TrainingFailed,
        AuditKind::ModelActivated,
        AuditKind::ModelKeptAsCandidate,
        AuditKind::RecordDeadLettered,
        AuditKind::TokenIssued,
        AuditKind::TokenRevoked,
        AuditKind::DecisionApproved,
        AuditKind::DecisionRejected,
        AuditKind::DecisionRepeated,
        AuditKind::DecisionRefused,
        AuditKind::OutcomesReported,
        AuditKind::OutcomeDefinitionChanged,
        AuditKind::DriftDetected,
        AuditKind::DecisionReferred,
        AuditKind::PolicyChanged,
        AuditKind::ReviewRequested,
        AuditKind::ExperimentChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::CompanyRegistered => "company.registered",
            AuditKind::DatasetCreated => "dataset.created",
            AuditKind::BatchAccepted => "batch.accepted",
            AuditKind::BatchRejected => "batch.rejected",
            AuditKind::DatasetReady => "dataset.ready",
            AuditKind::DatasetRejected => "dataset.rejected",
            AuditKind::TrainingStarted => "training.started",
            AuditKind::TrainingFinished => "training.finished",
            AuditKind::TrainingFailed => "training.failed",
            AuditKind::ModelActivated => "model.activated",
            AuditKind::ModelKeptAsCandidate => "model.kept_as_candidate",
            AuditKind::RecordDeadLettered => "record.dead_lettered",
            AuditKind::TokenIssued => "token.issued",
            AuditKind::TokenRevoked => "token.revoked",
            AuditKind::DecisionApproved => "decision.approved",
            AuditKind::DecisionRejected => "decision.rejected",
            AuditKind::DecisionRepeated => "decision.repeated",
            AuditKind::DecisionRefused => "decision.refused",
            AuditKind::OutcomesReported => "outcomes.reported",
            AuditKind::OutcomeDefinitionChanged => "outcomes.definition_changed",
            AuditKind::DriftDetected => "drift.detected",
            AuditKind::DecisionReferred => "decision.referred",
            AuditKind::PolicyChanged => "policy.changed",
            AuditKind::ReviewRequested => "decision.review_requested",
            AuditKind::ExperimentChanged => "experiment.changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub event_id: Uuid,
    pub company_id: Uuid,
    /// The dotted kind name; a string, so the audit log stores kinds newer than itself.
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    /// Who acted: `company:<id>` for a token holder, `system:<role>` for a processor.
    pub actor: String,
    /// Small, flat facts about the event (ids, counts, reasons); never item payloads.
    pub details: BTreeMap<String, String>,
}

impl AuditEvent {
    pub fn new(
        company_id: Uuid,
        kind: AuditKind,
        actor: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            company_id,
            kind: kind.as_str().to_owned(),
            occurred_at: at,
            actor: actor.into(),
            details: BTreeMap::new(),
        }
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// The link of a company's audit chain: `hash = SHA-256(previous hash ‖ canonical event)`.
/// Changing, removing or reordering a stored event breaks every later link, so the company
/// (or an auditor) can check the log was not rewritten.
pub type ChainHash = [u8; 32];

/// The previous hash of a company's first event.
pub const GENESIS: ChainHash = [0; 32];

/// A chain hash as the API, the CLI and the `audit-heads` topic show it: 64 lowercase hex digits.
pub fn hash_to_hex(hash: &ChainHash) -> String {
    hex::encode(hash)
}

/// The hash that [`hash_to_hex`] wrote; anything else (other length, upper case) is `None`.
pub fn hash_from_hex(text: &str) -> Option<ChainHash> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

impl AuditEvent {
    pub fn chain_hash(&self, previous: &ChainHash) -> ChainHash {
        let mut canonical = Canonical::starting_with(previous);
        canonical.field(self.event_id.as_bytes());
        canonical.field(self.company_id.as_bytes());
        canonical.field(self.kind.as_bytes());
        canonical.field(&self.occurred_at.timestamp_millis().to_be_bytes());
        canonical.field(self.actor.as_bytes());
        canonical.field(&(self.details.len() as u64).to_be_bytes());
        for (key, value) in &self.details {
            canonical.field(key.as_bytes());
            canonical.field(value.as_bytes());
        }
        canonical.finish()
    }
}

/// The tip of a company's chain: its last event's `seq` (0 before the first) and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: ChainHash,
}

impl Default for ChainHead {
    fn default() -> Self {
        Self {
            seq: 0,
            hash: GENESIS,
        }
    }
}

/// An event placed in its company's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub event: &'a AuditEvent,
    pub seq: i64,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

/// Chains `events`, in order, after their companies' `heads` (a company missing from `heads`
/// starts at [`GENESIS`]), and moves each head to its company's last link.
pub fn chain<'a>(
    heads: &mut std::collections::HashMap<Uuid, ChainHead>,
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Vec<Link<'a>> {
    events
        .into_iter()
        .map(|event| {
            let head = heads.entry(event.company_id).or_default();
            let link = Link {
                event,
                seq: head.seq + 1,
                prev_hash: head.hash,
                hash: event.chain_hash(&head.hash),
            };
            *head = ChainHead {
                seq: link.seq,
                hash: link.hash,
            };
            link
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_reads_back_only_in_its_written_form() {
        let hash = event().chain_hash(&GENESIS);
        let text = hash_to_hex(&hash);
        assert_eq!(text.len(), 64);
        assert_eq!(hash_from_hex(&text), Some(hash));
        assert_eq!(hash_from_hex(&text.to_uppercase()), None);
        assert_eq!(hash_from_hex(&text[..62]), None);
        assert_eq!(hash_from_hex("zz"), None);
    }

    #[test]
    fn all_names_every_kind_once() {
        // A kind missing from ALL cannot be filtered on: adding a variant must add it there.
        // The match has no wildcard, so a new variant fails to compile here until it is listed.
        for kind in AuditKind::ALL {
            let position = match kind {
                AuditKind::CompanyRegistered => 0,
                AuditKind::DatasetCreated => 1,
                AuditKind::BatchAccepted => 2,
                AuditKind::BatchRejected => 3,
                AuditKind::DatasetReady => 4,
                AuditKind::DatasetRejected => 5,
                AuditKind::TrainingStarted => 6,
                AuditKind::TrainingFinished => 7,
                AuditKind::TrainingFailed => 8,
                AuditKind::ModelActivated => 9,
                AuditKind::ModelKeptAsCandidate => 10,
                AuditKind::RecordDeadLettered => 11,
                AuditKind::TokenIssued => 12,
                AuditKind::TokenRevoked => 13,
                AuditKind::DecisionApproved => 14,
                AuditKind::DecisionRejected => 15,
                AuditKind::DecisionRepeated => 16,
                AuditKind::DecisionRefused => 17,
                AuditKind::OutcomesReported => 18,
                AuditKind::OutcomeDefinitionChanged => 19,
                AuditKind::DriftDetected => 20,
                AuditKind::DecisionReferred => 21,
                AuditKind::PolicyChanged => 22,
                AuditKind::ReviewRequested => 23,
                AuditKind::ExperimentChanged => 24,
            };
            assert_eq!(AuditKind::ALL[position], kind);
            let wire = serde_json::to_value(kind).unwrap_or_default();
            assert_eq!(wire, serde_json::json!(kind.as_str()));
        }
    }

    #[test]
    fn a_batch_chains_each_company_after_its_own_head() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let at = DateTime::from_timestamp_millis(1_764_000_000_000).unwrap_or_default();
        let event = |company| AuditEvent::new(company, AuditKind::DatasetCreated, "x", at);
        let events = [event(a), event(b), event(a)];
        let b_head = ChainHead {
            seq: 4,
            hash: [9; 32],
        };
        let mut heads = std::collections::HashMap::from([(b, b_head)]);
        let links = chain(&mut heads, &events);
        let placed: Vec<(Uuid, i64)> = links.iter().map(|l| (l.event.company_id, l.seq)).collect();
        assert_eq!(placed, [(a, 1), (b, 5), (a, 2)]);
        assert_eq!(links[0].prev_hash, GENESIS);
        assert_eq!(links[1].prev_hash, [9; 32]);
        assert_eq!(links[2].prev_hash, links[0].hash);
        assert_eq!(links[2].hash, events[2].chain_hash(&links[0].hash));
        assert_eq!(
            heads[&a],
            ChainHead {
                seq: 2,
                hash: links[2].hash
            }
        );
        assert_eq!(
            heads[&b],
            ChainHead {
                seq: 5,
                hash: links[1].hash
            }
        );
    }

    fn event() -> AuditEvent {
        let at = DateTime::from_timestamp_millis(1_764_000_000_000).unwrap_or_default();
        AuditEvent::new(Uuid::nil(), AuditKind::CompanyRegistered, "company:x", at)
            .with_detail("name", "Acme")
    }

    #[test]
    fn the_hash_depends_on_every_field_and_the_previous_link() {
        let base = event();
        let hash = base.chain_hash(&GENESIS);
        assert_eq!(hash, base.clone().chain_hash(&GENESIS), "deterministic");
        assert_ne!(hash, base.chain_hash(&hash), "previous link");
        let mut changed = base.clone();
        changed.details.insert("name".into(), "Acme2".into());
        assert_ne!(hash, changed.chain_hash(&GENESIS), "details");
        let mut changed = base.clone();
        changed.actor = "company:y".into();
        assert_ne!(hash, changed.chain_hash(&GENESIS), "actor");
        let mut shifted = base.clone();
        shifted.details = BTreeMap::from([("nam".into(), "eAcme".into())]);
        assert_ne!(hash, shifted.chain_hash(&GENESIS), "field boundaries");
    }
}
