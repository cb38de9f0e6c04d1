//! Everything about aval's Kafka wire: which topics exist and how they are configured (the
//! catalogue), what their records look like (the Avro schemas from `schemas/`), the one codec
//! that frames records the Confluent way, the one connection configuration every Kafka client
//! starts from, and the producer every role publishes with.

pub mod access;
pub mod admin;
pub mod audit_heads;
pub mod catalogue;
pub mod codec;
pub mod connection;
pub mod consumers;
mod error;
pub mod keys;
pub mod metadata;
pub mod publisher;
pub mod records;
pub mod schemas;

pub use aval_core::Fault;
pub use catalogue::{Catalogue, TopicRole, TopicSpec};
pub use codec::{AvroCodec, WireRecord};
pub use connection::KafkaConnection;
pub use error::TopicsError;
pub use publisher::Publisher;
