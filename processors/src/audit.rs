//! `aval audit`: appends every audit event to its company's hash chain in PostgreSQL.

use crate::consumer::{Handler, Transient};
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::AuditEvent;
use aval_store::Store;
use aval_store::audit::Appended;
use aval_topics::records::AuditEventRecord;
use aval_topics::{AvroCodec, Fault};
use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, OwnedMessage};
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

/// What to write for one record.
#[derive(Debug)]
pub(crate) enum AuditWork {
    Append(AuditEvent),
    DeadLetter(String),
}

impl AuditProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        consumer
            .run("audit", &topic, Arc::new(self), shutdown)
            .await
    }
}

impl Handler for AuditProcessor {
    type Work = AuditWork;
    /// The audit log is the end of the line: nothing to tell anyone.
    type Announcement = ();

    async fn prepare(&self, message: &BorrowedMessage<'_>) -> Result<AuditWork, Transient> {
        let dead = |reason: String| Ok(AuditWork::DeadLetter(reason));
        let Some(payload) = message.payload() else {
            return dead("the record has no value".to_owned());
        };
        let record = match self.codec.decode::<AuditEventRecord>(payload).await {
            Ok(record) => record,
            Err(e) if e.fault() == Fault::Sender => return dead(format!("undecodable: {e}")),
            Err(e) => return Err(e.into()),
        };
        if message.key() != Some(record.company_id.as_bytes()) {
            // Keys order a company's events on one partition; a record keyed otherwise could
            // overtake its own company's earlier events.
            return dead("the record key is not the event's company_id".to_owned());
        }
        match AuditEvent::try_from(record) {
            Ok(event) => Ok(AuditWork::Append(event)),
            Err(errors) => dead(format!("invalid: {errors}")),
        }
    }

    async fn apply(&self, message: &OwnedMessage, work: &AuditWork) -> Result<(), Transient> {
        let outcome = match work {
            AuditWork::Append(event) => match self.store.append_audit_event(event).await? {
                Appended::New { .. } => "stored",
                Appended::Duplicate => "duplicate",
            },
            AuditWork::DeadLetter(reason) => {
                self.dead_letters
                    .send(message, reason)
                    .await
                    .map_err(|e| Transient(format!("cannot dead-letter: {e}")))?;
                "dead_lettered"
            }
        };
        metrics::counter!("aval_audit_events_total", "outcome" => outcome).increment(1);
        Ok(())
    }

    async fn announce(&self, (): &()) -> Result<(), Transient> {
        Ok(())
    }
}
