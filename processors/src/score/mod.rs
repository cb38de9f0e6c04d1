//! `aval score`: decides orders. Consumes decision requests (from gateways, or produced
//! straight to Kafka with the company's token), decides with the company's model held in
//! memory, records the first decision per order, and produces the reply for the requester and
//! the decision for downstream systems. A second consumer follows the compacted activation
//! topic so a newly activated version decides from the next request on, without a restart.

mod cache;
mod decide;
mod request;
mod validate;

use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::token::TokenKeys;
use aval_store::Store;
use aval_topics::records::ModelActivationRecord;
use aval_topics::{AvroCodec, Catalogue, Publisher, TopicRole};
use cache::ModelCache;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const DEFAULT_GROUP: &str = "aval-score";
/// Companies whose models stay in memory; a trained model is tens to hundreds of KiB.
pub const DEFAULT_CACHE_COMPANIES: usize = 1_000;

#[derive(Debug, Clone)]
pub struct ScoreProcessor {
    pub consumer: ConsumerSettings,
    pub catalogue: Arc<Catalogue>,
    pub codec: AvroCodec,
    pub store: Store,
    pub publisher: Publisher,
    pub dead_letters: DeadLetters,
    pub tokens: Arc<TokenKeys>,
    pub cache_companies: usize,
}

/// The processor with its model cache: what handles each request.
#[derive(Debug)]
pub(crate) struct Scorer {
    config: ScoreProcessor,
    cache: ModelCache,
}

impl ScoreProcessor {
    /// Runs until `shutdown` resolves (or a consumer fails), then commits stored offsets.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProcessorError> {
        let topic = self
            .catalogue
            .topic(TopicRole::DecisionRequests)
            .name
            .clone();
        let settings = self.consumer.clone();
        let scorer = Arc::new(Scorer {
            cache: ModelCache::new(self.store.clone(), self.cache_companies),
            config: self,
        });
        let stop = CancellationToken::new();
        let work = {
            let (scorer, stop) = (scorer.clone(), stop.clone());
            async move {
                let requests = settings.run_batches(
                    "score",
                    &topic,
                    scorer.clone(),
                    stop.clone().cancelled_owned(),
                );
                let activations = follow_activations(&scorer, stop.clone());
                let (requests, activations) = tokio::join!(requests, activations);
                requests.and(activations)
            }
        };
        tokio::pin!(work, shutdown);
        tokio::select! {
            result = &mut work => {
                stop.cancel();
                result
            }
            () = &mut shutdown => {
                stop.cancel();
                work.await
            }
        }
    }
}

/// Reads every activation from the start of the compacted topic in a group of its own (each
/// scorer instance must see all of them, whatever partitions its requests come from), and
/// points the cache at the new version. Reading from the start only replays version numbers;
/// models load lazily.
async fn follow_activations(
    scorer: &Scorer,
    stop: CancellationToken,
) -> Result<(), ProcessorError> {
    let config = &scorer.config;
    let topic = config
        .catalogue
        .topic(TopicRole::ModelActivations)
        .name
        .clone();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.consumer.bootstrap)
        .set(
            "group.id",
            format!(
                "{}-activations-{}",
                config.consumer.group_id,
                Uuid::new_v4()
            ),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // An activation should reach the scorer within milliseconds of its production.
        .set("fetch.wait.max.ms", "50")
        .create()?;
    consumer.subscribe(&[&topic])?;
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            received = consumer.recv() => match received {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "activation consume error");
                    continue;
                }
            },
        };
        let Some(payload) = message.payload() else {
            continue;
        };
        match config.codec.decode::<ModelActivationRecord>(payload).await {
            Ok(activation) => match Uuid::parse_str(&activation.company_id) {
                Ok(company) => {
                    tracing::info!(%company, version = activation.model_version, "model activated");
                    scorer.cache.activate(company, activation.model_version);
                }
                Err(_) => {
                    tracing::warn!(company = %activation.company_id, "activation for a malformed company id")
                }
            },
            // Activations are produced by aval itself; a bad one is logged, not fatal.
            Err(e) => tracing::warn!(error = %e, "undecodable activation record"),
        }
    }
}
