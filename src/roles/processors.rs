//! The Kafka processors, alone (`aval audit`, `aval ingest`, `aval train`, `aval score`) or all roles in one process
//! (`aval all`).

use super::gateway::serve_gateway;
use super::{
    KAFKA_TIMEOUT, catalogue, codec, connect_store, register_schemas, stop_on_signal, token_keys,
};
use crate::config::{self, Common};
use anyhow::Context;
use aval_core::model::TrainingOptions;
use aval_processors::audit::AuditProcessor;
use aval_processors::ingest::IngestProcessor;
use aval_processors::score::{DEFAULT_CACHE_COMPANIES, ScoreProcessor};
use aval_processors::train::TrainProcessor;
use aval_processors::{ConsumerSettings, DeadLetters};
use aval_topics::{Publisher, TopicRole};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub async fn audit(common: &Common) -> anyhow::Result<ExitCode> {
    run_audit(common, stop_on_signal()).await
}

pub async fn ingest(common: &Common) -> anyhow::Result<ExitCode> {
    run_ingest(common, stop_on_signal()).await
}

pub async fn score(common: &Common) -> anyhow::Result<ExitCode> {
    run_score(common, stop_on_signal()).await
}

pub async fn train(common: &Common, settings: &config::Train) -> anyhow::Result<ExitCode> {
    run_train(common, settings, stop_on_signal()).await
}

/// Every role in one process, after `topics apply`; the first to fail stops the others.
pub async fn all(
    common: &Common,
    settings: &config::Gateway,
    training: &config::Train,
) -> anyhow::Result<ExitCode> {
    let applied = super::topics_apply(common, false).await?;
    if applied != ExitCode::SUCCESS {
        anyhow::bail!("the topics differ from the catalogue; see the drift above");
    }
    let stop = stop_on_signal();
    let guard = |result: anyhow::Result<ExitCode>, stop: &CancellationToken| {
        stop.cancel();
        result
    };
    let (gateway, audit, ingest, train, score) = tokio::join!(
        async { guard(serve_gateway(common, settings, stop.clone()).await, &stop) },
        async { guard(run_audit(common, stop.clone()).await, &stop) },
        async { guard(run_ingest(common, stop.clone()).await, &stop) },
        async { guard(run_train(common, training, stop.clone()).await, &stop) },
        async { guard(run_score(common, stop.clone()).await, &stop) },
    );
    gateway?;
    audit?;
    ingest?;
    score?;
    train
}

fn consumer(common: &Common, role: &str) -> ConsumerSettings {
    ConsumerSettings {
        bootstrap: common.kafka_bootstrap.clone(),
        group_id: format!("{}{role}", common.group_prefix),
    }
}

async fn run_audit(common: &Common, stop: CancellationToken) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    let catalogue = catalogue(common);
    let codec = codec(common)?;
    register_schemas(&codec, &catalogue).await?;
    let publisher = Publisher::new(&common.kafka_bootstrap, codec.clone(), KAFKA_TIMEOUT)
        .context("cannot create the Kafka producer")?;
    let processor = AuditProcessor {
        consumer: consumer(common, "audit"),
        topic: catalogue.topic(TopicRole::Audit).name.clone(),
        codec,
        store,
        dead_letters: DeadLetters::new(
            publisher.clone(),
            catalogue.topic(TopicRole::DeadLetters).name.clone(),
            "audit",
        ),
    };
    processor
        .run(stop.cancelled_owned())
        .await
        .context("the audit processor failed")?;
    publisher
        .flush(KAFKA_TIMEOUT)
        .context("cannot flush the Kafka producer")?;
    Ok(ExitCode::SUCCESS)
}

async fn run_ingest(common: &Common, stop: CancellationToken) -> anyhow::Result<ExitCode> {
    let tokens = token_keys(common)?;
    let store = connect_store(common).await?;
    let catalogue = catalogue(common);
    let codec = codec(common)?;
    register_schemas(&codec, &catalogue).await?;
    let publisher = Publisher::new(&common.kafka_bootstrap, codec.clone(), KAFKA_TIMEOUT)
        .context("cannot create the Kafka producer")?;
    let dead_letters = DeadLetters::new(
        publisher.clone(),
        catalogue.topic(TopicRole::DeadLetters).name.clone(),
        "ingest",
    );
    let processor = IngestProcessor {
        consumer: consumer(common, "ingest"),
        catalogue: Arc::new(catalogue),
        codec,
        store,
        publisher: publisher.clone(),
        dead_letters,
        tokens: Arc::new(tokens),
    };
    processor
        .run(stop.cancelled_owned())
        .await
        .context("the ingest processor failed")?;
    publisher
        .flush(KAFKA_TIMEOUT)
        .context("cannot flush the Kafka producer")?;
    Ok(ExitCode::SUCCESS)
}

async fn run_train(
    common: &Common,
    settings: &config::Train,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    let catalogue = catalogue(common);
    let codec = codec(common)?;
    register_schemas(&codec, &catalogue).await?;
    let publisher = Publisher::new(&common.kafka_bootstrap, codec.clone(), KAFKA_TIMEOUT)
        .context("cannot create the Kafka producer")?;
    let dead_letters = DeadLetters::new(
        publisher.clone(),
        catalogue.topic(TopicRole::DeadLetters).name.clone(),
        "train",
    );
    let processor = TrainProcessor {
        consumer: consumer(common, "train"),
        catalogue: Arc::new(catalogue),
        codec,
        store,
        publisher: publisher.clone(),
        dead_letters,
        parallelism: settings.train_parallelism,
        options: TrainingOptions {
            seed: settings.train_seed,
            ..TrainingOptions::default()
        },
    };
    processor
        .run(stop.cancelled_owned())
        .await
        .context("the train processor failed")?;
    publisher
        .flush(KAFKA_TIMEOUT)
        .context("cannot flush the Kafka producer")?;
    Ok(ExitCode::SUCCESS)
}

async fn run_score(common: &Common, stop: CancellationToken) -> anyhow::Result<ExitCode> {
    let tokens = token_keys(common)?;
    let store = connect_store(common).await?;
    let catalogue = catalogue(common);
    let codec = codec(common)?;
    register_schemas(&codec, &catalogue).await?;
    // No linger: replies are awaited by requesters (see `low_latency`).
    let publisher = Publisher::low_latency(&common.kafka_bootstrap, codec.clone(), KAFKA_TIMEOUT)
        .context("cannot create the Kafka producer")?;
    let dead_letters = DeadLetters::new(
        publisher.clone(),
        catalogue.topic(TopicRole::DeadLetters).name.clone(),
        "score",
    );
    let processor = ScoreProcessor {
        consumer: consumer(common, "score"),
        catalogue: Arc::new(catalogue),
        codec,
        store,
        publisher: publisher.clone(),
        dead_letters,
        tokens: Arc::new(tokens),
        cache_companies: DEFAULT_CACHE_COMPANIES,
    };
    processor
        .run(stop.cancelled_owned())
        .await
        .context("the score processor failed")?;
    publisher
        .flush(KAFKA_TIMEOUT)
        .context("cannot flush the Kafka producer")?;
    Ok(ExitCode::SUCCESS)
}
