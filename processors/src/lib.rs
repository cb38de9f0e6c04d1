//! Kafka processors. Each is a loop: read a record, call the domain, write the result, and only
//! then store the record's offset, so a crash anywhere means redelivery, never loss. A record
//! that can never be processed goes to the dead-letter topic with the reason.

pub mod audit;
mod authorize;
mod consumer;
pub mod dead_letters;
mod failure;
pub mod guardrail;
pub mod ingest;
pub mod monitor;
pub mod outcomes;
pub mod score;
pub mod train;

pub use authorize::AUTHORIZATION_HEADER;
pub use consumer::ConsumerSettings;
pub use dead_letters::DeadLetters;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProcessorError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Topics(#[from] aval_topics::TopicsError),
    /// An apply task panicked: a bug, surfaced instead of skipping the record.
    #[error("applying a record failed: {0}")]
    Apply(String),
}
