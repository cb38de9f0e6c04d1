//! How every processor consumes: at least once, one record at a time per partition, the offset
//! stored by hand only after the record's effect is durable. A record that fails for a reason
//! outside it (database, registry or Kafka down) is retried with backoff, never skipped.

use crate::ProcessorError;
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use std::future::Future;
use std::time::Duration;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub bootstrap: String,
    /// The consumer group: instances sharing it split the partitions between them.
    pub group_id: String,
}

/// A failure worth retrying the same record for: an external system is down or busy.
#[derive(Debug)]
pub(crate) struct Transient(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Transient {
    fn from(e: E) -> Self {
        Transient(e.to_string())
    }
}

/// What a processor does with one record; `Ok` means done (stored, ignored as a duplicate, or
/// dead-lettered), so its offset may be stored.
pub(crate) trait Handler {
    fn handle(&self, message: &BorrowedMessage<'_>) -> impl Future<Output = Result<(), Transient>>;
}

impl ConsumerSettings {
    /// Offsets are committed in the background, but only those the loop stored explicitly
    /// (`enable.auto.offset.store=false`), i.e. of records whose effect is durable.
    fn subscribe(&self, topic: &str) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .create()?;
        consumer.subscribe(&[topic])?;
        Ok(consumer)
    }

    /// Reads `topic` until `shutdown` resolves, handing each record to `handler`, then commits
    /// the stored offsets.
    pub(crate) async fn run(
        &self,
        name: &str,
        topic: &str,
        handler: &impl Handler,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ProcessorError> {
        let consumer = self.subscribe(topic)?;
        tracing::info!(processor = name, %topic, group = %self.group_id, "processor started");
        tokio::pin!(shutdown);
        'records: loop {
            let message = tokio::select! {
                () = &mut shutdown => break,
                received = consumer.recv() => match received {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(processor = name, error = %e, "kafka consume error");
                        continue;
                    }
                },
            };
            let mut backoff = FIRST_BACKOFF;
            while let Err(Transient(reason)) = handler.handle(&message).await {
                tracing::warn!(processor = name, %reason, retry_in = ?backoff, "record not processed yet");
                tokio::select! {
                    () = &mut shutdown => break 'records,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            consumer.store_offset_from_message(&message)?;
        }
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored since the last automatic commit is fine too.
            tracing::debug!(processor = name, error = %e, "final offset commit");
        }
        tracing::info!(processor = name, "processor stopped");
        Ok(())
    }
}
