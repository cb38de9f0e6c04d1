//! `aval audit`: appends every audit event to its company's hash chain in PostgreSQL.

use crate::consumer::{Handler, Transient};
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::AuditEvent;
use aval_store::Store;
use aval_store::audit::Appended;
use aval_topics::records::AuditEventRecord;
use aval_topics::{AvroCodec, Fault};
use rdkafka::Message;
use rdkafka::message::BorrowedMessage;
use std::future::Future;

pub const DEFAULT_GROUP: &str = "aval-audit";

#[derive(Debug, Clone)]
pub struct AuditProcessor {
    pub consumer: ConsumerSettings,
    pub topic: String,
    pub codec: AvroCodec,
    pub store: Store,
    pub dead_letters: DeadLetters,
}

/// What became of one record.
enum Outcome {
    Stored,
    Duplicate,
    DeadLettered,
}

impl AuditProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        self.consumer
            .clone()
            .run("audit", &self.topic, &self, shutdown)
            .await
    }
    async fn process(&self, message: &BorrowedMessage<'_>) -> Result<Outcome, Transient> {
        let Some(payload) = message.payload() else {
            return self.dead_letter(message, "the record has no value").await;
        };
        let record = match self.codec.decode::<AuditEventRecord>(payload).await {
            Ok(record) => record,
            Err(e) if e.fault() == Fault::Sender => {
                return self
                    .dead_letter(message, &format!("undecodable: {e}"))
                    .await;
            }
            Err(e) => return Err(e.into()),
        };
        if message.key() != Some(record.company_id.as_bytes()) {
            // Keys order a company's events on one partition; a record keyed otherwise could
            // overtake its own company's earlier events.
            return self
                .dead_letter(message, "the record key is not the event's company_id")
                .await;
        }
        let event = match AuditEvent::try_from(record) {
            Ok(event) => event,
            Err(errors) => {
                return self
                    .dead_letter(message, &format!("invalid: {errors}"))
                    .await;
            }
        };
        match self.store.append_audit_event(&event).await {
            Ok(Appended::New { .. }) => Ok(Outcome::Stored),
            Ok(Appended::Duplicate) => Ok(Outcome::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        reason: &str,
    ) -> Result<Outcome, Transient> {
        self.dead_letters
            .send(message, reason)
            .await
            .map(|()| Outcome::DeadLettered)
            .map_err(|e| Transient(format!("cannot dead-letter: {e}")))
    }
}

impl Handler for AuditProcessor {
    async fn handle(&self, message: &BorrowedMessage<'_>) -> Result<(), Transient> {
        let label = match self.process(message).await? {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::DeadLettered => "dead_lettered",
        };
        metrics::counter!("aval_audit_events_total", "outcome" => label).increment(1);
        Ok(())
    }
}
