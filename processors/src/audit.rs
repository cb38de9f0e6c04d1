//! `aval audit`: appends every audit event to its company's hash chain in PostgreSQL.

use crate::consumer::{Processor, Source};
use crate::failure::Failure;
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::AuditEvent;
use aval_store::Store;
use aval_store::audit::Appended;
use aval_topics::AvroCodec;
use aval_topics::records::AuditEventRecord;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::future::Future;
use std::sync::Arc;

pub const DEFAULT_GROUP: &str = "aval-audit";

#[derive(Debug, Clone)]
pub struct AuditProcessor {
    pub consumer: ConsumerSettings,
    pub topic: String,
    pub codec: AvroCodec,
    pub store: Store,
    pub dead_letters: DeadLetters,
}

impl AuditProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        consumer
            .run(Arc::new(self), Source::Group(&topic), shutdown)
            .await
    }

    /// The event a record carries; a record that is not one is the sender's fault.
    async fn event(&self, message: &OwnedMessage) -> Result<AuditEvent, Failure> {
        let payload = message
            .payload()
            .ok_or_else(|| Failure::BadRecord("the record has no value".to_owned()))?;
        let record = self.codec.decode::<AuditEventRecord>(payload).await?;
        if message.key() != Some(record.company_id.as_bytes()) {
            // Keys order a company's events on one partition; a record keyed otherwise could
            // overtake its own company's earlier events.
            return Err(Failure::BadRecord(
                "the record key is not the event's company_id".to_owned(),
            ));
        }
        AuditEvent::try_from(record)
            .map_err(|errors| Failure::BadRecord(format!("invalid: {errors}")))
    }
}

impl Processor for AuditProcessor {
    const NAME: &'static str = "audit";
    type Work = Vec<AuditEvent>;
    /// The audit log is the end of the line: nothing to tell anyone.
    type Announcement = ();

    fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<AuditEvent>, Failure> {
        let mut events = Vec::with_capacity(messages.len());
        for message in messages {
            events.push(self.event(message).await?);
        }
        Ok(events)
    }

    async fn apply(&self, _: &[OwnedMessage], events: &Vec<AuditEvent>) -> Result<(), Failure> {
        for event in events {
            let outcome = match self.store.append_audit_event(event).await? {
                Appended::New { .. } => "stored",
                Appended::Duplicate => "duplicate",
            };
            metrics::counter!("aval_audit_events_total", "outcome" => outcome).increment(1);
        }
        Ok(())
    }

    async fn announce(&self, (): &()) -> Result<(), Failure> {
        Ok(())
    }
}
