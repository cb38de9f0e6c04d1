//! Every topic aval uses, with its configuration and its value schema: the single place a
//! topic is named. `aval topics apply` makes the cluster match it.
//!
//! Keys: every record is keyed by its company id, so a company's records stay in order on one
//! partition (a completion marker after its batches, an activation after the training); a
//! decision reply by its request id; an outcome report by its order (or request) id, as the
//! company's producer chooses; a dead letter by the original record's key.

use crate::schemas::{self, RecordSchema};

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Largest ingest record: the ingest and dead-letter topics' `max.message.bytes`, and the
/// producers' `message.max.bytes`.
pub const MAX_INGEST_RECORD_BYTES: i32 = 8 * 1024 * 1024;

/// What a topic is for; code asks the catalogue for a role, never spells a topic name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicRole {
    /// Dataset batches and completion markers, keyed by company so a marker follows its batches.
    Ingest,
    TrainingRequests,
    /// Compacted: the latest record per company is its active model.
    ModelActivations,
    DecisionRequests,
    /// Replies to the gateway instance that asked; short-lived.
    DecisionReplies,
    /// Every decision, for downstream systems.
    Decisions,
    Audit,
    /// Compacted: the latest record per company is the tip of its audit chain, a copy kept
    /// outside the database.
    AuditHeads,
    /// Records no processor could accept, byte for byte, with the reason in headers.
    DeadLetters,
    /// What happened to decided orders, as companies report it with their tokens.
    Outcomes,
    /// Model versions found drifting, for operators (each company hears of its own in its
    /// audit log).
    DriftAlerts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    Delete,
    Compact,
}

impl CleanupPolicy {
    pub fn as_config(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub role: TopicRole,
    pub name: String,
    pub partitions: i32,
    pub replication: i32,
    pub cleanup: CleanupPolicy,
    /// `None` keeps records forever (compacted topics).
    pub retention_ms: Option<i64>,
    /// `None` for the dead-letter topic, which keeps the original bytes.
    pub value: Option<&'static RecordSchema>,
    /// Largest record the topic takes, when above the broker's 1 MiB default.
    pub max_message_bytes: Option<i32>,
}

impl TopicSpec {
    /// The topic-level configs the catalogue owns; anything else is left to the broker.
    pub fn configs(&self) -> Vec<(&'static str, String)> {
        let mut configs = vec![
            ("cleanup.policy", self.cleanup.as_config().to_owned()),
            ("retention.ms", self.retention_ms.unwrap_or(-1).to_string()),
        ];
        if let Some(bytes) = self.max_message_bytes {
            configs.push(("max.message.bytes", bytes.to_string()));
        }
        configs
    }

    /// The registry subject of the value schema (Confluent's TopicNameStrategy).
    pub fn value_subject(&self) -> String {
        format!("{}-value", self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Catalogue {
    prefix: String,
    topics: Vec<TopicSpec>,
}

impl Catalogue {
    /// `prefix` namespaces every topic (`aval.` by default), so several deployments or test
    /// runs can share a cluster; `replication` is the cluster's replication factor.
    pub fn new(prefix: &str, replication: i32) -> Self {
        let topic = |role, suffix: &str, partitions, cleanup, retention_ms, value| TopicSpec {
            role,
            name: format!("{prefix}{suffix}"),
            partitions,
            replication,
            cleanup,
            retention_ms,
            value,
            max_message_bytes: None,
        };
        use CleanupPolicy::{Compact, Delete};
        let mut catalogue = Self {
            prefix: prefix.to_owned(),
            topics: vec![
                topic(
                    TopicRole::Ingest,
                    "ingest",
                    6,
                    Delete,
                    Some(7 * DAY_MS),
                    Some(&schemas::INGEST_RECORD),
                ),
                topic(
                    TopicRole::TrainingRequests,
                    "training-requests",
                    6,
                    Delete,
                    Some(7 * DAY_MS),
                    Some(&schemas::TRAINING_REQUEST),
                ),
                topic(
                    TopicRole::ModelActivations,
                    "model-activations",
                    6,
                    Compact,
                    None,
                    Some(&schemas::MODEL_ACTIVATION),
                ),
                topic(
                    TopicRole::DecisionRequests,
                    "decision-requests",
                    6,
                    Delete,
                    Some(DAY_MS),
                    Some(&schemas::DECISION_REQUEST),
                ),
                topic(
                    TopicRole::DecisionReplies,
                    "decision-replies",
                    6,
                    Delete,
                    Some(HOUR_MS),
                    Some(&schemas::DECISION_REPLY),
                ),
                topic(
                    TopicRole::Decisions,
                    "decisions",
                    6,
                    Delete,
                    Some(30 * DAY_MS),
                    Some(&schemas::DECISION),
                ),
                topic(
                    TopicRole::Audit,
                    "audit",
                    6,
                    Delete,
                    Some(30 * DAY_MS),
                    Some(&schemas::AUDIT_EVENT),
                ),
                topic(
                    TopicRole::AuditHeads,
                    "audit-heads",
                    6,
                    Compact,
                    None,
                    Some(&schemas::AUDIT_HEAD),
                ),
                topic(
                    TopicRole::Outcomes,
                    "outcomes",
                    6,
                    Delete,
                    Some(7 * DAY_MS),
                    Some(&schemas::OUTCOME_REPORT),
                ),
                topic(
                    TopicRole::DriftAlerts,
                    "drift-alerts",
                    3,
                    Delete,
                    Some(30 * DAY_MS),
                    Some(&schemas::DRIFT_ALERT),
                ),
                topic(
                    TopicRole::DeadLetters,
                    "dead-letters",
                    3,
                    Delete,
                    Some(30 * DAY_MS),
                    None,
                ),
            ],
        };
        // A batch of 500 richly attributed customers can pass Kafka's 1 MiB default; the
        // gateway's 4 MiB body limit bounds it, so the ingest and dead-letter topics take
        // that much (with headroom for framing).
        for topic in &mut catalogue.topics {
            if matches!(topic.role, TopicRole::Ingest | TopicRole::DeadLetters) {
                topic.max_message_bytes = Some(MAX_INGEST_RECORD_BYTES);
            }
        }
        catalogue
    }

    pub fn topic(&self, role: TopicRole) -> &TopicSpec {
        // Every role is in `new`, so the lookup cannot miss; a test keeps it that way.
        self.topics
            .iter()
            .find(|t| t.role == role)
            .unwrap_or(&self.topics[0])
    }

    pub fn topics(&self) -> &[TopicSpec] {
        &self.topics
    }

    /// The prefix every topic name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What every company's own decisions topic's name starts with: `<prefix>decisions.`.
    pub fn company_decisions_prefix(&self) -> String {
        format!("{}.", self.topic(TopicRole::Decisions).name)
    }

    /// A company's own decisions topic, `<prefix>decisions.<company id>`: the same records as
    /// the shared `decisions` topic, for the company's downstream consumers, which may read
    /// it and nothing else of the company's neighbours. Not in [`Catalogue::topics`]: it is
    /// created for each company (by `aval admin kafka-tenant`, or by the scorer at the
    /// company's first decision). One partition keeps a company's decisions in order, and
    /// one per company keeps the cluster's partition count near the number of companies.
    pub fn company_decisions(&self, company: uuid::Uuid) -> TopicSpec {
        let shared = self.topic(TopicRole::Decisions);
        TopicSpec {
            name: format!("{}{company}", self.company_decisions_prefix()),
            partitions: 1,
            ..shared.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_s_decisions_topic_is_named_after_the_shared_one() {
        let catalogue = Catalogue::new("aval.", 3);
        let company = uuid::Uuid::from_u128(7);
        let topic = catalogue.company_decisions(company);
        assert_eq!(topic.name, format!("aval.decisions.{company}"));
        assert!(
            topic
                .name
                .starts_with(&catalogue.company_decisions_prefix())
        );
        assert_eq!(topic.partitions, 1);
        assert_eq!(topic.replication, 3);
        let shared = catalogue.topic(TopicRole::Decisions);
        assert_eq!(
            topic.value.map(|schema| schema.file),
            shared.value.map(|schema| schema.file)
        );
        assert!(!catalogue.topics().iter().any(|t| t.name == topic.name));
    }

    #[test]
    fn every_role_has_its_own_topic() {
        let catalogue = Catalogue::new("t.", 1);
        let roles = [
            TopicRole::Ingest,
            TopicRole::TrainingRequests,
            TopicRole::ModelActivations,
            TopicRole::DecisionRequests,
            TopicRole::DecisionReplies,
            TopicRole::Decisions,
            TopicRole::Audit,
            TopicRole::AuditHeads,
            TopicRole::DeadLetters,
            TopicRole::Outcomes,
            TopicRole::DriftAlerts,
        ];
        for role in roles {
            assert_eq!(catalogue.topic(role).role, role);
            assert!(catalogue.topic(role).name.starts_with("t."));
        }
        assert_eq!(catalogue.topics().len(), roles.len());
    }

    #[test]
    fn activations_are_compacted_and_kept() {
        let catalogue = Catalogue::new("aval.", 1);
        let activations = catalogue.topic(TopicRole::ModelActivations);
        assert_eq!(activations.cleanup, CleanupPolicy::Compact);
        assert!(
            activations
                .configs()
                .contains(&("retention.ms", "-1".to_owned()))
        );
    }

    #[test]
    fn topics_that_carry_whole_batches_take_large_records() {
        let catalogue = Catalogue::new("aval.", 1);
        let large = ("max.message.bytes", MAX_INGEST_RECORD_BYTES.to_string());
        for topic in catalogue.topics() {
            let carries_batches = matches!(topic.role, TopicRole::Ingest | TopicRole::DeadLetters);
            assert_eq!(
                topic.configs().contains(&large),
                carries_batches,
                "{}",
                topic.name
            );
        }
    }
}
