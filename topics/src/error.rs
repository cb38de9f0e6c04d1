use aval_core::{Dependency, Fault};
use rdkafka::types::RDKafkaErrorCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TopicsError {
    #[error("schema registry: {message}")]
    Registry { message: String, retryable: bool },
    #[error("cannot encode {record}: {message}")]
    Encode {
        record: &'static str,
        message: String,
    },
    #[error("cannot decode record: {0}")]
    Decode(String),
    #[error("expected a {expected} record but got {actual}")]
    WrongRecordType {
        expected: &'static str,
        actual: String,
    },
    #[error("kafka refused an admin operation on {topic}: {code}")]
    Admin {
        topic: String,
        code: rdkafka::types::RDKafkaErrorCode,
    },
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("kafka ACLs: {0}")]
    Acl(#[from] aval_kafka_admin::AdminError),
    #[error("kafka ACLs: the call panicked: {0}")]
    AclPanicked(String),
    #[error("topic {topic} carries no Avro schema")]
    Unframed { topic: String },
    #[error("schema {file}: {message}")]
    Schema { file: &'static str, message: String },
}

impl TopicsError {
    /// The principal may not do what was asked (alter ACLs, create users).
    pub fn is_not_authorized(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode::ClusterAuthorizationFailed;
        matches!(self, TopicsError::Acl(e) if e.is(ClusterAuthorizationFailed))
    }

    pub fn fault(&self) -> Fault {
        match self {
            TopicsError::Decode(_) | TopicsError::WrongRecordType { .. } => Fault::Sender,
            TopicsError::Registry {
                retryable: false, ..
            } => Fault::Sender,
            TopicsError::Registry { .. } => Fault::External(Dependency::SchemaRegistry),
            // A record the broker can never take is our bug (a topic's limits), not an outage
            // to wait out.
            TopicsError::Kafka(e)
                if matches!(
                    e.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::MessageSizeTooLarge
                            | RDKafkaErrorCode::InvalidRecord
                            | RDKafkaErrorCode::MessageBatchTooLarge
                    )
                ) =>
            {
                Fault::Internal
            }
            TopicsError::Kafka(_) | TopicsError::Admin { .. } | TopicsError::Acl(_) => {
                Fault::External(Dependency::Kafka)
            }
            TopicsError::AclPanicked(_) => Fault::Internal,
            TopicsError::Encode { .. }
            | TopicsError::Unframed { .. }
            | TopicsError::Schema { .. } => Fault::Internal,
        }
    }
}
