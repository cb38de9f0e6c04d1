//! `aval train`: turns each training request into a new model version. Training is CPU-bound
//! and slow, so it runs on the blocking pool, several requests at once up to the configured
//! parallelism, while the consumer keeps polling (and so heartbeating). A request's offset is
//! stored once it and every earlier request of its partition are finished; a crash mid-training
//! leaves the request to be delivered again, and a request already trained is recognised.

mod offsets;
mod run;

use crate::consumer::{Transient, retry, store_offsets};
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::model::TrainingOptions;
use aval_store::Store;
use aval_topics::{AvroCodec, Catalogue, Publisher, TopicRole};
use offsets::OffsetTracker;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub const DEFAULT_GROUP: &str = "aval-train";

#[derive(Debug, Clone)]
pub struct TrainProcessor {
    pub consumer: ConsumerSettings,
    pub catalogue: Arc<Catalogue>,
    pub codec: AvroCodec,
    pub store: Store,
    pub publisher: Publisher,
    pub dead_letters: DeadLetters,
    /// How many trainings run at once (each takes a core while it runs).
    pub parallelism: usize,
    pub options: TrainingOptions,
}

impl TrainProcessor {
    /// Runs until `shutdown` resolves. Trainings still running then are abandoned: their
    /// offsets are not stored, so they are delivered again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let topic = self
            .catalogue
            .topic(TopicRole::TrainingRequests)
            .name
            .clone();
        let consumer = self.consumer.subscribe(&topic)?;
        tracing::info!(%topic, group = %self.consumer.group_id, parallelism = self.parallelism, "train processor started");
        let processor = Arc::new(self);
        let permits = Arc::new(Semaphore::new(processor.parallelism.max(1)));
        let stop = CancellationToken::new();
        let mut running: JoinSet<Option<(i32, i64)>> = JoinSet::new();
        let mut offsets = OffsetTracker::default();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    let Some((partition, offset)) = done.map_err(|e| ProcessorError::Apply(e.to_string()))? else {
                        continue;
                    };
                    if let Some(next) = offsets.finish(partition, offset) {
                        // Everything before `next` is done.
                        store_offsets(&consumer, &[(topic.clone(), partition, next - 1)]);
                    }
                }
                received = consumer.recv(), if permits.available_permits() > 0 => {
                    let message = match received {
                        Ok(message) => message.detach(),
                        Err(e) => {
                            tracing::warn!(error = %e, "kafka consume error");
                            continue;
                        }
                    };
                    // Only this loop takes permits, so one is free and this returns at once.
                    let permit = permits
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| ProcessorError::Apply(e.to_string()))?;
                    let (partition, offset) = (message.partition(), message.offset());
                    offsets.start(partition, offset);
                    let (processor, stop) = (processor.clone(), stop.clone());
                    running.spawn(async move {
                        let _permit = permit;
                        retry("train", &stop, || processor.handle(&message))
                            .await
                            .map(|()| (partition, offset))
                    });
                }
            }
        }
        stop.cancel();
        running.shutdown().await;
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "final offset commit");
        }
        tracing::info!("train processor stopped");
        Ok(())
    }

    async fn dead_letter(
        &self,
        message: &rdkafka::message::OwnedMessage,
        reason: &str,
    ) -> Result<(), Transient> {
        self.dead_letters
            .send(message, reason)
            .await
            .map_err(|e| Transient(format!("cannot dead-letter: {e}")))
    }
}
