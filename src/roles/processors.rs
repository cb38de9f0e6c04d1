//! The Kafka processors, alone (`aval audit`, `aval ingest`, `aval train`, `aval score`) or all roles in one process
//! (`aval all`).

use super::gateway::serve_gateway;
use super::health;
use super::{Connections, KAFKA_TIMEOUT, stop_on_signal, token_keys};
use crate::config::{self, Common};
use anyhow::Context;
use aval_core::Outages;
use aval_core::model::TrainingOptions;
use aval_processors::audit::AuditProcessor;
use aval_processors::ingest::IngestProcessor;
use aval_processors::monitor::Monitor;
use aval_processors::outcomes::OutcomesProcessor;
use aval_processors::score::ScoreProcessor;
use aval_processors::train::TrainProcessor;
use aval_processors::{ConsumerSettings, DeadLetters};
use aval_topics::admin::TopicAdmin;
use aval_topics::{Publisher, TopicRole};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn audit(common: &Common, settings: &config::Audit) -> anyhow::Result<ExitCode> {
    alone(common, async |outages, stop| {
        run_audit(common, settings, outages, stop).await
    })
    .await
}

pub async fn ingest(common: &Common) -> anyhow::Result<ExitCode> {
    alone(common, async |outages, stop| {
        run_ingest(common, outages, stop).await
    })
    .await
}

pub async fn score(common: &Common, settings: &config::Score) -> anyhow::Result<ExitCode> {
    alone(common, async |outages, stop| {
        run_score(common, settings, outages, stop).await
    })
    .await
}

pub async fn train(common: &Common, settings: &config::Train) -> anyhow::Result<ExitCode> {
    alone(common, async |outages, stop| {
        run_train(common, settings, outages, stop).await
    })
    .await
}

/// One processor role in its own process, with its health endpoints when configured.
async fn alone(
    common: &Common,
    role: impl AsyncFnOnce(Outages, CancellationToken) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let stop = stop_on_signal();
    let outages = Outages::default();
    let (ran, served) = tokio::join!(
        async {
            let ran = role(outages.clone(), stop.clone()).await;
            stop.cancel();
            ran
        },
        health::serve(common.health_addr, outages.clone(), stop.clone()),
    );
    served?;
    ran
}

/// Every role in one process, after `topics apply`; the first to fail stops the others.
pub async fn all(
    common: &Common,
    settings: &config::Gateway,
    training: &config::Train,
    scoring: &config::Score,
    auditing: &config::Audit,
) -> anyhow::Result<ExitCode> {
    let applied = super::topics_apply(common, false).await?;
    if applied != ExitCode::SUCCESS {
        anyhow::bail!("the topics differ from the catalogue; see the drift above");
    }
    let stop = stop_on_signal();
    let outages = Outages::default();
    let guard = |result: anyhow::Result<ExitCode>, stop: &CancellationToken| {
        stop.cancel();
        result
    };
    let (gateway, audit, ingest, train, score) = tokio::join!(
        async {
            let served = serve_gateway(common, settings, outages.clone(), stop.clone()).await;
            guard(served, &stop)
        },
        async {
            guard(
                run_audit(common, auditing, outages.clone(), stop.clone()).await,
                &stop,
            )
        },
        async {
            guard(
                run_ingest(common, outages.clone(), stop.clone()).await,
                &stop,
            )
        },
        async {
            let ran = run_train(common, training, outages.clone(), stop.clone()).await;
            guard(ran, &stop)
        },
        async {
            let ran = run_score(common, scoring, outages.clone(), stop.clone()).await;
            guard(ran, &stop)
        },
    );
    gateway?;
    audit?;
    ingest?;
    score?;
    train
}

/// What every processor starts with: the shared connections, its consumer group and its
/// dead-letter writer.
struct Wiring {
    consumer: ConsumerSettings,
    store: aval_store::Store,
    catalogue: Arc<aval_topics::Catalogue>,
    codec: aval_topics::AvroCodec,
    publisher: Publisher,
    dead_letters: DeadLetters,
}

impl Wiring {
    /// `low_latency`: no producer linger, for records someone is waiting for.
    async fn new(
        common: &Common,
        role: &'static str,
        low_latency: bool,
        outages: Outages,
    ) -> anyhow::Result<Self> {
        let Connections {
            store,
            catalogue,
            codec,
            publisher,
            kafka,
        } = Connections::open(common, low_latency).await?;
        let dead_letters = DeadLetters::new(
            publisher.clone(),
            catalogue.topic(TopicRole::DeadLetters).name.clone(),
            role,
        );
        Ok(Self {
            consumer: ConsumerSettings {
                kafka,
                group_id: format!("{}{role}", common.group_prefix),
                instance_id: common.instance_id.clone(),
                outages,
            },
            store,
            catalogue,
            codec,
            publisher,
            dead_letters,
        })
    }

    /// Reports the processor's end, after flushing what it still had to produce.
    fn finish(
        &self,
        ran: Result<(), aval_processors::ProcessorError>,
        role: &str,
    ) -> anyhow::Result<ExitCode> {
        ran.with_context(|| format!("the {role} processor failed"))?;
        self.publisher
            .flush(KAFKA_TIMEOUT)
            .context("cannot flush the Kafka producer")?;
        Ok(ExitCode::SUCCESS)
    }
}

async fn run_audit(
    common: &Common,
    settings: &config::Audit,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let w = Wiring::new(common, "audit", false, outages).await?;
    let processor = AuditProcessor {
        consumer: w.consumer.clone(),
        topic: w.catalogue.topic(TopicRole::Audit).name.clone(),
        codec: w.codec.clone(),
        store: w.store.clone(),
        dead_letters: w.dead_letters.clone(),
        publisher: w.publisher.clone(),
        catalogue: w.catalogue.clone(),
        head_interval: Duration::from_millis(settings.audit_head_interval_ms),
    };
    w.finish(processor.run(stop.cancelled_owned()).await, "audit")
}

/// The ingest role takes what companies send of their own: dataset batches and completion
/// markers, and the outcomes of decided orders, each topic with its own consumer group.
async fn run_ingest(
    common: &Common,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let (ingested, reported) = tokio::join!(
        async {
            let ran = run_datasets(common, outages.clone(), stop.clone()).await;
            stop.cancel();
            ran
        },
        async {
            let ran = run_outcomes(common, outages.clone(), stop.clone()).await;
            stop.cancel();
            ran
        },
    );
    ingested?;
    reported
}

async fn run_datasets(
    common: &Common,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let w = Wiring::new(common, "ingest", false, outages).await?;
    let tokens = token_keys(common, &w.store).await?;
    let processor = IngestProcessor {
        consumer: w.consumer.clone(),
        catalogue: w.catalogue.clone(),
        codec: w.codec.clone(),
        store: w.store.clone(),
        publisher: w.publisher.clone(),
        dead_letters: w.dead_letters.clone(),
        tokens,
    };
    w.finish(processor.run(stop.cancelled_owned()).await, "ingest")
}

async fn run_outcomes(
    common: &Common,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let w = Wiring::new(common, "outcomes", false, outages).await?;
    let tokens = token_keys(common, &w.store).await?;
    let processor = OutcomesProcessor {
        consumer: w.consumer.clone(),
        catalogue: w.catalogue.clone(),
        codec: w.codec.clone(),
        store: w.store.clone(),
        publisher: w.publisher.clone(),
        dead_letters: w.dead_letters.clone(),
        tokens,
    };
    w.finish(processor.run(stop.cancelled_owned()).await, "outcomes")
}

async fn run_train(
    common: &Common,
    settings: &config::Train,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let w = Wiring::new(common, "train", false, outages.clone()).await?;
    // The trainer also watches the versions it trained: the monitor runs beside the consume
    // loop, checking only while this process holds the monitor's lease.
    let monitor = Monitor::new(
        w.store.clone(),
        w.publisher.clone(),
        w.catalogue.clone(),
        outages,
        settings.monitor(),
    );
    let monitoring = tokio::spawn(monitor.run(stop.clone().cancelled_owned()));
    let processor = TrainProcessor {
        consumer: w.consumer.clone(),
        catalogue: w.catalogue.clone(),
        codec: w.codec.clone(),
        store: w.store.clone(),
        publisher: w.publisher.clone(),
        dead_letters: w.dead_letters.clone(),
        parallelism: settings.train_parallelism,
        options: TrainingOptions {
            seed: settings.train_seed,
            fit_rows: settings.train_fit_rows,
            ..TrainingOptions::default()
        },
    };
    let trained = processor.run(stop.clone().cancelled_owned()).await;
    stop.cancel();
    if let Err(e) = monitoring.await {
        tracing::error!(error = %e, "the monitor stopped abnormally");
    }
    w.finish(trained, "train")
}

async fn run_score(
    common: &Common,
    settings: &config::Score,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    // No linger: replies are awaited by requesters (see `low_latency`).
    let w = Wiring::new(common, "score", true, outages).await?;
    let tokens = token_keys(common, &w.store).await?;
    // Creates each company's own decisions topic at its first decision.
    let company_topics = if settings.company_decision_topics {
        let admin = TopicAdmin::new(&w.consumer.kafka, KAFKA_TIMEOUT)
            .context("cannot create the Kafka admin client")?;
        Some(Arc::new(admin))
    } else {
        None
    };
    let processor = ScoreProcessor {
        consumer: w.consumer.clone(),
        catalogue: w.catalogue.clone(),
        codec: w.codec.clone(),
        store: w.store.clone(),
        publisher: w.publisher.clone(),
        dead_letters: w.dead_letters.clone(),
        tokens,
        cache_companies: settings.score_cache_companies,
        cache_customers: settings.score_cache_customers,
        company_topics,
    };
    w.finish(processor.run(stop.cancelled_owned()).await, "score")
}
