//! What each subcommand does: wire configuration to the library crates and run.

use crate::config::{self, Common, Environment, LogFormat, SecretChoice};
use anyhow::Context;
use aval_gateway::AppState;
use aval_gateway::auth::TokenKeys;
use aval_processors::audit::AuditProcessor;
use aval_processors::{ConsumerSettings, DeadLetters};
use aval_store::Store;
use aval_topics::admin::TopicAdmin;
use aval_topics::{AvroCodec, Catalogue, Publisher, TopicRole};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

const REGISTRY_TIMEOUT: Duration = Duration::from_secs(5);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);
/// Exit code of `topics apply` when the cluster differs from the catalogue.
const EXIT_DRIFT: u8 = 3;

pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn connect_store(common: &Common) -> anyhow::Result<Store> {
    let store = Store::connect(&common.database_url, common.db_max_connections)
        .await
        .context("cannot connect to the database (DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

fn codec(common: &Common) -> anyhow::Result<AvroCodec> {
    AvroCodec::new(&common.schema_registry_url, REGISTRY_TIMEOUT)
        .context("invalid SCHEMA_REGISTRY_URL")
}

fn catalogue(common: &Common) -> Catalogue {
    Catalogue::new(&common.topic_prefix, common.replication_factor)
}

/// Registers every value schema so producers never race to register, and so a registry that is
/// down stops the process at start rather than at the first record.
async fn register_schemas(codec: &AvroCodec, catalogue: &Catalogue) -> anyhow::Result<()> {
    for topic in catalogue.topics().iter().filter(|t| t.value.is_some()) {
        let id = codec
            .register(topic)
            .await
            .with_context(|| format!("cannot register the schema of {}", topic.name))?;
        tracing::debug!(subject = %topic.value_subject(), id, "schema registered");
    }
    Ok(())
}

pub async fn migrate(common: &Common) -> anyhow::Result<ExitCode> {
    connect_store(common).await?;
    tracing::info!("database migrations applied");
    Ok(ExitCode::SUCCESS)
}

pub async fn topics_apply(common: &Common) -> anyhow::Result<ExitCode> {
    let catalogue = catalogue(common);
    let admin = TopicAdmin::new(&common.kafka_bootstrap, KAFKA_TIMEOUT)
        .context("invalid KAFKA_BOOTSTRAP")?;
    let report = admin
        .apply(&catalogue, &codec(common)?)
        .await
        .context("cannot apply the topic catalogue")?;
    for topic in &report.created {
        println!("created   {topic}");
    }
    for topic in &report.unchanged {
        println!("unchanged {topic}");
    }
    for (subject, id) in &report.schemas {
        println!("schema    {subject} id={id}");
    }
    for drift in &report.drift {
        println!("DRIFT     {drift}");
    }
    if report.drift.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "aval: {} setting(s) differ from the catalogue; fix them by hand",
            report.drift.len()
        );
        Ok(ExitCode::from(EXIT_DRIFT))
    }
}

pub async fn gateway(common: &Common, settings: &config::Gateway) -> anyhow::Result<ExitCode> {
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    serve_gateway(common, settings, stop).await
}

pub async fn audit(common: &Common) -> anyhow::Result<ExitCode> {
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    run_audit(common, stop).await
}

/// Every role in one process; the first to fail stops the others.
pub async fn all(common: &Common, settings: &config::Gateway) -> anyhow::Result<ExitCode> {
    let applied = topics_apply(common).await?;
    if applied != ExitCode::SUCCESS {
        anyhow::bail!("the topics differ from the catalogue; see the drift above");
    }
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    let guard = |result: anyhow::Result<ExitCode>, stop: &CancellationToken| {
        stop.cancel();
        result
    };
    let (gateway, audit) = tokio::join!(
        async { guard(serve_gateway(common, settings, stop.clone()).await, &stop) },
        async { guard(run_audit(common, stop.clone()).await, &stop) },
    );
    gateway?;
    audit
}

async fn run_audit(common: &Common, stop: CancellationToken) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    let catalogue = catalogue(common);
    let codec = codec(common)?;
    register_schemas(&codec, &catalogue).await?;
    let publisher = Publisher::new(&common.kafka_bootstrap, codec.clone(), KAFKA_TIMEOUT)
        .context("cannot create the Kafka producer")?;
    let processor = AuditProcessor {
        consumer: ConsumerSettings {
            bootstrap: common.kafka_bootstrap.clone(),
            group_id: format!("{}audit", common.group_prefix),
        },
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

async fn serve_gateway(
    common: &Common,
    settings: &config::Gateway,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let secret = match settings.secret(common.environment)? {
        SecretChoice::Configured(secret) => secret,
        SecretChoice::Development => {
            let banner = "!".repeat(78);
            eprintln!(
                "{banner}\n!! AVAL_JWT_SECRET is unset: signing tokens with the PUBLIC DEVELOPMENT KEY.\n!! Anyone can forge tokens. Never expose this gateway; set AVAL_JWT_SECRET.\n{banner}"
            );
            tracing::warn!("using the built-in development JWT key");
            config::DEVELOPMENT_JWT_SECRET
        }
    };
    if common.environment == Environment::Development {
        tracing::info!("AVAL_ENV=development");
    }
    let store = connect_store(common).await?;
    let catalogue = catalogue(common);
    let codec = codec(common)?;
    register_schemas(&codec, &catalogue).await?;
    let publisher = Publisher::new(&common.kafka_bootstrap, codec, KAFKA_TIMEOUT)
        .context("cannot create the Kafka producer")?;
    let state = AppState {
        store,
        publisher: publisher.clone(),
        catalogue: Arc::new(catalogue),
        tokens: Arc::new(TokenKeys::new(
            secret.as_bytes(),
            chrono::Duration::days(settings.token_ttl_days),
        )),
        metrics: aval_gateway::telemetry::prometheus(),
        http: reqwest::Client::new(),
    };
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen on {} (AVAL_HTTP_ADDR)", settings.http_addr))?;
    tracing::info!(addr = %settings.http_addr, "gateway listening");
    axum::serve(listener, aval_gateway::router(state))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
        .context("HTTP server failed")?;
    publisher
        .flush(KAFKA_TIMEOUT)
        .context("cannot flush the Kafka producer")?;
    tracing::info!("gateway stopped");
    Ok(ExitCode::SUCCESS)
}

pub async fn deactivate_company(
    common: &Common,
    company_id: uuid::Uuid,
) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    store
        .deactivate_company(company_id, chrono::Utc::now())
        .await
        .with_context(|| format!("cannot deactivate company {company_id}"))?;
    println!("company {company_id} deactivated");
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke_token(
    common: &Common,
    company_id: uuid::Uuid,
    jti: uuid::Uuid,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let store = connect_store(common).await?;
    store
        .revoke_token(company_id, jti, reason, chrono::Utc::now())
        .await
        .with_context(|| format!("cannot revoke token {jti}"))?;
    println!("token {jti} revoked");
    Ok(ExitCode::SUCCESS)
}

/// Cancels `stop` on SIGTERM (how orchestrators stop a process) or Ctrl-C.
async fn cancel_on_signal(stop: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
    stop.cancel();
}
