//! `aval audit`: appends every audit event to its company's hash chain in PostgreSQL.

use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::AuditEvent;
use aval_store::Store;
use aval_store::audit::Appended;
use aval_topics::records::AuditEventRecord;
use aval_topics::{AvroCodec, Fault};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::BorrowedMessage;
use std::future::Future;
use std::time::Duration;

pub const DEFAULT_GROUP: &str = "aval-audit";
const MAX_BACKOFF: Duration = Duration::from_secs(10);

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

/// A failure worth retrying the same record for: the database or the registry is down.
struct Transient(String);

impl AuditProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let consumer = self.consumer.subscribe(&self.topic)?;
        tracing::info!(topic = %self.topic, group = %self.consumer.group_id, "audit processor started");
        tokio::pin!(shutdown);
        loop {
            let message = tokio::select! {
                () = &mut shutdown => break,
                received = consumer.recv() => match received {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka consume error");
                        continue;
                    }
                },
            };
            let mut backoff = Duration::from_millis(100);
            loop {
                match self.process(&message).await {
                    Ok(outcome) => {
                        let label = match outcome {
                            Outcome::Stored => "stored",
                            Outcome::Duplicate => "duplicate",
                            Outcome::DeadLettered => "dead_lettered",
                        };
                        metrics::counter!("aval_audit_events_total", "outcome" => label)
                            .increment(1);
                        break;
                    }
                    Err(Transient(reason)) => {
                        // Same record again after a pause: skipping it would lose a valid event.
                        tracing::warn!(%reason, retry_in = ?backoff, "audit event not stored yet");
                        tokio::select! {
                            () = &mut shutdown => {
                                commit(&consumer);
                                return Ok(());
                            }
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            consumer.store_offset_from_message(&message)?;
        }
        commit(&consumer);
        tracing::info!("audit processor stopped");
        Ok(())
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
            Err(e) => return Err(Transient(e.to_string())),
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
            Err(e) => Err(Transient(e.to_string())),
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

fn commit(consumer: &rdkafka::consumer::StreamConsumer) {
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored since the last automatic commit is also fine.
        tracing::debug!(error = %e, "final offset commit");
    }
}
