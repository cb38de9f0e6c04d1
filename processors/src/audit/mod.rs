//! `aval audit`: appends every audit event to its company's hash chain in PostgreSQL, a
//! consumed batch per transaction, and publishes the chains' heads to `audit-heads`.

mod heads;

use crate::consumer::{FetchBatching, Processor, Source};
use crate::failure::Failure;
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::AuditEvent;
use aval_store::Store;
use aval_store::audit::Appended;
use aval_topics::records::AuditEventRecord;
use aval_topics::{AvroCodec, Catalogue, Publisher};
use heads::HeadPublisher;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const DEFAULT_GROUP: &str = "aval-audit";
/// How often, at most, a company's chain head is published to `audit-heads`.
pub const DEFAULT_HEAD_INTERVAL: Duration = Duration::from_millis(5_000);

#[derive(Debug, Clone)]
pub struct AuditProcessor {
    pub consumer: ConsumerSettings,
    pub topic: String,
    pub codec: AvroCodec,
    pub store: Store,
    pub dead_letters: DeadLetters,
    /// Publishes the chain heads to the catalogue's `audit-heads` topic.
    pub publisher: Publisher,
    pub catalogue: Arc<Catalogue>,
    /// A company's head is published at most once per this.
    pub head_interval: Duration,
}

/// The processor with its pending chain heads: what handles each batch of events.
#[derive(Debug)]
struct Appender {
    config: AuditProcessor,
    heads: HeadPublisher,
}

impl AuditProcessor {
    /// Runs until `shutdown` resolves, then commits the stored offsets and publishes every
    /// pending chain head.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        let heads = HeadPublisher::new(
            self.publisher.clone(),
            self.catalogue.clone(),
            self.head_interval,
        );
        let appender = Arc::new(Appender {
            config: self,
            heads,
        });
        let stop = CancellationToken::new();
        let consumed = async {
            let consumed = consumer
                .run(appender.clone(), Source::Group(&topic), shutdown)
                .await;
            stop.cancel();
            consumed
        };
        let (consumed, ()) = tokio::join!(consumed, appender.heads.tick(stop.clone()));
        consumed
    }
}

impl Appender {
    /// The event a record carries; a record that is not one is the sender's fault.
    async fn event(&self, message: &OwnedMessage) -> Result<AuditEvent, Failure> {
        let payload = message
            .payload()
            .ok_or_else(|| Failure::BadRecord("the record has no value".to_owned()))?;
        let record = self
            .config
            .codec
            .decode::<AuditEventRecord>(payload)
            .await?;
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

impl Processor for Appender {
    const NAME: &'static str = "audit";
    /// Nobody waits on an append, and each one is a transaction with its commit's flush: a
    /// fetch the broker holds up to 100 ms turns a record per transaction at a few hundred
    /// decisions/s into tens, for up to 100 ms more of audit lag.
    const FETCH_BATCHING: Option<FetchBatching> = Some(FetchBatching {
        min_bytes: 1 << 20,
        max_wait: Duration::from_millis(100),
    });
    type Work = Vec<AuditEvent>;
    /// The heads of the chains that grew.
    type Announcement = Appended;

    fn dead_letters(&self) -> &DeadLetters {
        &self.config.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<AuditEvent>, Failure> {
        let mut events = Vec::with_capacity(messages.len());
        for message in messages {
            events.push(self.event(message).await?);
        }
        Ok(events)
    }

    async fn apply(
        &self,
        _: &[OwnedMessage],
        events: &Vec<AuditEvent>,
    ) -> Result<Appended, Failure> {
        let appended = self.config.store.append_audit_events(events).await?;
        metrics::counter!("aval_audit_events_total", "outcome" => "stored")
            .increment(appended.stored as u64);
        metrics::counter!("aval_audit_events_total", "outcome" => "duplicate")
            .increment(appended.duplicates as u64);
        Ok(appended)
    }

    async fn announce(&self, appended: &Appended) -> Result<(), Failure> {
        self.heads.grew(&appended.heads).await?;
        Ok(())
    }
}
