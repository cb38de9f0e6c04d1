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
use aval_core::audit::AuditKind;
use aval_core::features::CustomerFacts;
use aval_core::token::TokenKeys;
use aval_store::{Store, TenantCache};
use aval_topics::records::AuditEventRecord;
use aval_topics::records::ModelActivationRecord;
use aval_topics::{AvroCodec, Catalogue, Publisher, TopicRole, WireRecord};
use cache::ModelCache;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const DEFAULT_GROUP: &str = "aval-score";
/// Companies whose models stay in memory. A model takes tens to hundreds of KiB, and a
/// gradient-boosted one adds its explanation tables once it has explained an order (about
/// 1.5 MiB for the default 300 trees of depth 3), so the default bounds the cache near 2 GiB.
pub const DEFAULT_CACHE_COMPANIES: usize = 1_000;
/// Customers whose stored facts stay in memory; a customer's facts (its history of orders,
/// limits and reports) take a few KiB, so the default bounds the cache near 250 MiB.
pub const DEFAULT_CACHE_CUSTOMERS: usize = 50_000;
/// Cached facts are read again after half to all of this (spread), even if no upload was
/// seen: a backstop for an upload whose announcement never reached this scorer. Uploads
/// themselves invalidate at once, so this bounds staleness only in that failure. At 60 s,
/// 2,000 busy customers meant about 50 reads a second, each on some decision's path (1-5 ms
/// under load, most of the slow decisions at 1,000/s).
const FACTS_MAX_AGE: Duration = Duration::from_secs(300);

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
    pub cache_customers: usize,
}

/// The processor with its caches: what handles each batch of requests.
#[derive(Debug)]
pub(crate) struct Scorer {
    config: ScoreProcessor,
    cache: ModelCache,
    /// Customers' stored facts (reading and decoding a customer's history is most of a
    /// decision's database cost). They change only when the company uploads: every stored
    /// batch is announced as a `batch.accepted` audit event after its commit, and
    /// `follow_uploads` invalidates the company when it reads one.
    facts: TenantCache<String, Arc<CustomerFacts>>,
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
            facts: TenantCache::new(self.cache_customers, FACTS_MAX_AGE),
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
                let uploads = follow_uploads(&scorer, stop.clone());
                let (requests, activations, uploads) = tokio::join!(requests, activations, uploads);
                requests.and(activations).and(uploads)
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

/// A consumer in a group of its own: each scorer instance must read every record of these
/// topics, whatever partitions its requests come from.
fn own_consumer(config: &ScoreProcessor, purpose: &str) -> Result<StreamConsumer, ProcessorError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &config.consumer.bootstrap)
        .set(
            "group.id",
            format!("{}-{purpose}-{}", config.consumer.group_id, Uuid::new_v4()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // What these records change should reach the scorer within milliseconds.
        .set("fetch.wait.max.ms", "50")
        .create()?)
}

/// Hands each record of `consumer`, decoded as `R`, to `act` until `stop`. These topics are
/// written by aval itself: a record that cannot be read is logged and skipped, never fatal.
async fn follow<R: WireRecord>(
    consumer: &StreamConsumer,
    codec: &AvroCodec,
    what: &str,
    stop: CancellationToken,
    mut act: impl FnMut(R),
) -> Result<(), ProcessorError> {
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            received = consumer.recv() => match received {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, what, "consume error");
                    continue;
                }
            },
        };
        let Some(payload) = message.payload() else {
            continue;
        };
        match codec.decode::<R>(payload).await {
            Ok(record) => act(record),
            Err(e) => tracing::warn!(error = %e, what, "undecodable record"),
        }
    }
}

/// The company a record of aval's names, when it is a valid id.
fn company_of(id: &str, what: &str) -> Option<Uuid> {
    let company = Uuid::parse_str(id).ok();
    if company.is_none() {
        tracing::warn!(company = %id, what, "record for a malformed company id");
    }
    company
}

/// Reads every activation from the start of the compacted topic and points the cache at the
/// new version. Reading from the start only replays version numbers; models load lazily.
async fn follow_activations(
    scorer: &Scorer,
    stop: CancellationToken,
) -> Result<(), ProcessorError> {
    let config = &scorer.config;
    let topic = &config.catalogue.topic(TopicRole::ModelActivations).name;
    let consumer = own_consumer(config, "activations")?;
    consumer.subscribe(&[topic])?;
    follow(
        &consumer,
        &config.codec,
        "activation",
        stop,
        |activation: ModelActivationRecord| {
            if let Some(company) = company_of(&activation.company_id, "activation") {
                tracing::info!(%company, version = activation.model_version, "model activated");
                scorer.cache.activate(company, activation.model_version);
            }
        },
    )
    .await
}

/// Reads the audit topic from its end and drops a company's cached facts whenever one of its
/// batches was stored.
async fn follow_uploads(scorer: &Scorer, stop: CancellationToken) -> Result<(), ProcessorError> {
    let config = &scorer.config;
    let topic = &config.catalogue.topic(TopicRole::Audit).name;
    let consumer = own_consumer(config, "uploads")?;
    // Assigned, not subscribed: no group to join, so reading starts at once.
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        partitions.add_partition_offset(topic, partition.id(), Offset::End)?;
    }
    consumer.assign(&partitions)?;
    let stored = AuditKind::BatchAccepted.as_str();
    follow(
        &consumer,
        &config.codec,
        "audit event",
        stop,
        |event: AuditEventRecord| {
            if event.kind == stored
                && let Some(company) = company_of(&event.company_id, "audit event")
            {
                scorer.facts.invalidate(company);
            }
        },
    )
    .await
}
