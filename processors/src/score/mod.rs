//! `aval score`: decides orders. Consumes decision requests (from gateways, or produced
//! straight to Kafka with the company's token), decides with the company's model held in
//! memory, records the first decision per order, and produces the reply for the requester and
//! the decision for downstream systems. A second consumer follows the compacted activation
//! topic so a newly activated version decides from the next request on, without a restart.

mod audit;
mod cache;
mod company_topics;
mod request;
mod settings;

use crate::consumer::{FetchBatching, Processor, Source};
use crate::failure::Failure;
use crate::{ConsumerSettings, DeadLetters, ProcessorError};
use aval_core::audit::AuditKind;
use aval_core::experiment::ExperimentInForce;
use aval_core::features::CustomerFacts;
use aval_core::policy::PolicyInForce;
use aval_core::token::TokenKeys;
use aval_store::{Store, TenantCache};
use aval_topics::admin::TopicAdmin;
use aval_topics::records::ModelActivationRecord;
use aval_topics::records::{AUDIT_KIND_HEADER, AuditEventRecord};
use aval_topics::{AvroCodec, Catalogue, Publisher, TopicRole, WireRecord};
use cache::ModelCache;
use company_topics::CompanyTopics;
use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::message::{Headers, OwnedMessage};
use settings::Announced;
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
/// Cached facts are read again after half to all of this (spread), even if no ready dataset
/// was announced: a backstop for an announcement that never reached this scorer. A dataset
/// becoming ready invalidates at once, so this bounds staleness only in that failure. At 60 s,
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
    /// Where each company's own decisions topic is created: `Some` publishes every decision
    /// to the company's topic as well as the shared one; `None`, to the shared one alone.
    pub company_topics: Option<Arc<TopicAdmin>>,
}

/// The processor with its caches: what handles each batch of requests.
#[derive(Debug)]
pub(crate) struct Scorer {
    config: ScoreProcessor,
    cache: ModelCache,
    /// Customers' stored facts (reading and decoding a customer's history is most of a
    /// decision's database cost). Decisions read only checked datasets, so the facts change
    /// only when one of the company's datasets passes its checks: that is announced as a
    /// `dataset.ready` audit event after its commit, and [`Changes`] invalidates the
    /// company when it reads one.
    facts: TenantCache<String, Arc<CustomerFacts>>,
    /// Each company's decision policy in force, dropped when a `policy.changed` audit event
    /// announces another.
    policies: Announced<PolicyInForce>,
    /// Each company's experiment in force (challengers, shadows), dropped when an
    /// `experiment.changed` audit event announces another.
    experiments: Announced<ExperimentInForce>,
    /// The companies whose own decisions topic exists, when decisions go there too.
    company_topics: Option<CompanyTopics>,
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
            policies: Announced::new(self.cache_companies, FACTS_MAX_AGE),
            experiments: Announced::new(self.cache_companies, FACTS_MAX_AGE),
            company_topics: self
                .company_topics
                .clone()
                .map(|admin| CompanyTopics::new(admin, self.catalogue.clone())),
            config: self,
        });
        let stop = CancellationToken::new();
        let work = {
            let (scorer, stop) = (scorer.clone(), stop.clone());
            async move {
                let catalogue = &scorer.config.catalogue;
                let requests = settings.run(
                    scorer.clone(),
                    Source::Group(&topic),
                    stop.clone().cancelled_owned(),
                );
                let activations = settings.run(
                    Arc::new(Activations(scorer.clone())),
                    Source::Follow {
                        topic: &catalogue.topic(TopicRole::ModelActivations).name,
                        from: Offset::Beginning,
                    },
                    stop.clone().cancelled_owned(),
                );
                let changes = settings.run(
                    Arc::new(Changes(scorer.clone())),
                    Source::Follow {
                        topic: &catalogue.topic(TopicRole::Audit).name,
                        from: Offset::End,
                    },
                    stop.clone().cancelled_owned(),
                );
                let (requests, activations, changes) = tokio::join!(requests, activations, changes);
                requests.and(activations).and(changes)
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

/// Points the model cache at each newly activated version. Reads the compacted activation
/// topic from its start, for this instance alone: every scorer must hear every activation,
/// whatever partitions its requests come from. Reading from the start only replays version
/// numbers; models load lazily.
#[derive(Debug)]
struct Activations(Arc<Scorer>);

impl Processor for Activations {
    const NAME: &'static str = "score-activations";
    type Work = Vec<(Uuid, i32)>;
    type Announcement = ();

    fn dead_letters(&self) -> &DeadLetters {
        &self.0.config.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<(Uuid, i32)>, Failure> {
        let mut activations = Vec::with_capacity(messages.len());
        for message in messages {
            let record: ModelActivationRecord = decode(&self.0.config.codec, message).await?;
            activations.push((company_of(&record.company_id)?, record.model_version));
        }
        Ok(activations)
    }

    async fn apply(&self, _: &[OwnedMessage], work: &Vec<(Uuid, i32)>) -> Result<(), Failure> {
        for &(company, version) in work {
            tracing::info!(%company, version, "model activated");
            self.0.cache.activate(company, version);
        }
        Ok(())
    }

    async fn announce(&self, (): &()) -> Result<(), Failure> {
        Ok(())
    }
}

/// Drops what a scorer keeps of a company when it changes: its cached facts whenever one of
/// its datasets became ready (decisions read only checked datasets, so batches of a dataset
/// still receiving change nothing), its cached policy or experiment whenever it saved a new
/// one. Reads the audit topic from its end, for this instance alone.
#[derive(Debug)]
struct Changes(Arc<Scorer>);

/// What changed of a company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Facts(Uuid),
    /// The company saved this policy version.
    Policy(Uuid, i32),
    /// The company's experiment changed to this version.
    Experiment(Uuid, i32),
}

impl Processor for Changes {
    const NAME: &'static str = "score-changes";
    /// The audit topic carries every decision's event, and a dataset becoming ready is rare:
    /// fetched per record, following it cost the broker and the scorer a fetch per decision.
    /// Cached facts and policies are dropped up to half a second later instead.
    const FETCH_BATCHING: Option<FetchBatching> = Some(FetchBatching {
        min_bytes: 1 << 20,
        max_wait: Duration::from_millis(500),
    });
    type Work = Vec<Change>;
    type Announcement = ();

    fn dead_letters(&self) -> &DeadLetters {
        &self.0.config.dead_letters
    }

    async fn prepare(&self, messages: &[OwnedMessage]) -> Result<Vec<Change>, Failure> {
        let ready = AuditKind::DatasetReady.as_str();
        let policy = AuditKind::PolicyChanged.as_str();
        let experiment = AuditKind::ExperimentChanged.as_str();
        let followed = [ready, policy, experiment];
        let mut changes = Vec::new();
        for message in messages {
            // Most of the topic is decisions: their kind, in the header, spares decoding them.
            // A record without the header (produced by an older aval) is decoded.
            if kind_header(message)
                .is_some_and(|kind| !followed.iter().any(|f| f.as_bytes() == kind))
            {
                continue;
            }
            let event: AuditEventRecord = decode(&self.0.config.codec, message).await?;
            let version = || {
                event
                    .details
                    .get("version")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        Failure::BadRecord(format!("a {} event names no version", event.kind))
                    })
            };
            if event.kind == ready {
                changes.push(Change::Facts(company_of(&event.company_id)?));
            } else if event.kind == policy {
                changes.push(Change::Policy(company_of(&event.company_id)?, version()?));
            } else if event.kind == experiment {
                changes.push(Change::Experiment(
                    company_of(&event.company_id)?,
                    version()?,
                ));
            }
        }
        Ok(changes)
    }

    async fn apply(&self, _: &[OwnedMessage], changes: &Vec<Change>) -> Result<(), Failure> {
        for &change in changes {
            match change {
                Change::Facts(company) => self.0.facts.invalidate(company),
                Change::Policy(company, version) => self.0.policies.announced(company, version),
                Change::Experiment(company, version) => {
                    self.0.experiments.announced(company, version);
                }
            }
        }
        Ok(())
    }

    async fn announce(&self, (): &()) -> Result<(), Failure> {
        Ok(())
    }
}

fn kind_header(message: &OwnedMessage) -> Option<&[u8]> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == AUDIT_KIND_HEADER)
            .and_then(|h| h.value)
    })
}

async fn decode<R: WireRecord>(codec: &AvroCodec, message: &OwnedMessage) -> Result<R, Failure> {
    let payload = message
        .payload()
        .ok_or_else(|| Failure::BadRecord("the record has no value".to_owned()))?;
    Ok(codec.decode::<R>(payload).await?)
}

/// The company a record of aval's names.
fn company_of(id: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(id).map_err(|_| Failure::BadRecord(format!("{id:?} is not a company id")))
}
