//! Why a record could not be processed, in the three classes the consume loop treats apart:
//! the record is bad (dead-letter it, move on), a dependency is down (back off, retry, show it
//! in readiness), or aval has a bug (be loud, retry a few times, then dead-letter rather than
//! stall the partition).

use aval_core::{Dependency, Fault};
use aval_store::StoreError;
use aval_topics::TopicsError;
use std::fmt;

#[derive(Debug)]
pub(crate) enum Failure {
    /// The record's content can never succeed; the reason goes with it to the dead letters.
    BadRecord(String),
    /// A dependency is down or refusing for now; the same record will succeed later.
    Outage(Dependency, String),
    /// Our own bug or misconfiguration.
    Defect(String),
}

impl Failure {
    pub(crate) fn defect(context: &str, error: impl fmt::Display) -> Self {
        Failure::Defect(format!("{context}: {error}"))
    }

    fn classed(fault: Fault, message: String) -> Self {
        match fault {
            Fault::Sender => Failure::BadRecord(message),
            Fault::External(dependency) => Failure::Outage(dependency, message),
            Fault::Internal => Failure::Defect(message),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BadRecord(reason) => write!(f, "bad record: {reason}"),
            Failure::Outage(dependency, reason) => write!(f, "{dependency} unavailable: {reason}"),
            Failure::Defect(reason) => write!(f, "defect: {reason}"),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::classed(e.fault(), format!("database: {e}"))
    }
}

impl From<TopicsError> for Failure {
    fn from(e: TopicsError) -> Self {
        match e.fault() {
            Fault::Sender => Failure::BadRecord(format!("undecodable: {e}")),
            fault => Failure::classed(fault, e.to_string()),
        }
    }
}

impl From<rdkafka::error::KafkaError> for Failure {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        Failure::Outage(Dependency::Kafka, e.to_string())
    }
}

/// Our own records (decisions, models) failed to (de)serialise: a bug, not the sender's fault.
impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::defect("json", e)
    }
}

/// A task of ours panicked or was cancelled while working on a record.
impl From<tokio::task::JoinError> for Failure {
    fn from(e: tokio::task::JoinError) -> Self {
        Failure::defect("a worker task failed", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_fall_into_their_class() {
        assert!(matches!(
            Failure::from(TopicsError::Decode("truncated".into())),
            Failure::BadRecord(_)
        ));
        assert!(matches!(
            Failure::from(TopicsError::Registry {
                message: "500".into(),
                retryable: true
            }),
            Failure::Outage(Dependency::SchemaRegistry, _)
        ));
        assert!(matches!(
            Failure::from(StoreError::Corrupt("bad row".into())),
            Failure::Defect(_)
        ));
        // A company's decisions topic that cannot be created yet: the batch waits and retries.
        assert!(matches!(
            Failure::from(TopicsError::Admin {
                topic: "aval.decisions.x".into(),
                code: rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed,
            }),
            Failure::Outage(Dependency::Kafka, _)
        ));
    }
}
