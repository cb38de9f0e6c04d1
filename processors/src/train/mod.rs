//! `aval train`: turns each training request into a new model version. Training is CPU-bound
//! and slow, so it runs on the blocking pool; a batch takes up to the configured parallelism
//! of requests and trains them at once. A crash mid-training leaves the request to be
//! delivered again; a request already trained is recognised, and what follows a stored
//! version (the audit events, the activation) is carried out again, so a crash between any
//! two steps ends where a run without it would.

mod run;

use crate::consumer::{Processor, Source};
use crate::failure::Failure;
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::model::TrainingOptions;
use aval_store::Store;
use aval_topics::{AvroCodec, Catalogue, Publisher, TopicRole};
use rdkafka::message::OwnedMessage;
use run::Request;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
        let consumer = self.consumer.clone();
        consumer
            .run(Arc::new(self), Source::Group(&topic), shutdown)
            .await
    }
}

impl Processor for TrainProcessor {
    const NAME: &'static str = "train";
    /// A large company's training takes minutes: the group must not take its partition away
    /// meanwhile.
    const MAX_POLL_INTERVAL: Duration = Duration::from_secs(3_600);
    type Work = Vec<Request>;
    type Announcement = ();

    fn max_batch(&self) -> usize {
        self.parallelism.max(1)
    }

    fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<Request>, Failure> {
        let mut requests = Vec::with_capacity(messages.len());
        for message in messages {
            requests.push(self.decode(message).await?);
        }
        Ok(requests)
    }

    /// Trains the batch's requests at once, each to its end (a failure of one does not cut
    /// the others short); each is idempotent, so the batch may be retried whole.
    async fn apply(&self, _: &[OwnedMessage], requests: &Vec<Request>) -> Result<(), Failure> {
        let handled =
            futures::future::join_all(requests.iter().map(|request| self.handle(request))).await;
        handled.into_iter().collect()
    }

    async fn announce(&self, (): &()) -> Result<(), Failure> {
        Ok(())
    }
}
