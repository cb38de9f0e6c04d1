//! `aval gateway`: the HTTP API.

use super::{Connections, KAFKA_TIMEOUT, stop_on_signal, token_keys};
use crate::config::{self, Common};
use anyhow::Context;
use aval_core::Outages;
use aval_gateway::AppState;
use aval_gateway::replies::ReplyRouter;
use aval_topics::Publisher;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub async fn gateway(common: &Common, settings: &config::Gateway) -> anyhow::Result<ExitCode> {
    serve_gateway(common, settings, Outages::default(), stop_on_signal()).await
}

/// `outages`: what the processors of this process report, so readiness shows it too.
pub(super) async fn serve_gateway(
    common: &Common,
    settings: &config::Gateway,
    outages: Outages,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    // No linger: decision requests are awaited by their HTTP callers (see `low_latency`).
    let Connections {
        store,
        catalogue,
        codec,
        publisher,
        kafka,
    } = Connections::open(common, true).await?;
    let uploads = Publisher::new(&kafka, codec.clone(), KAFKA_TIMEOUT)
        .context("cannot create the Kafka producer of uploads")?;
    let tokens = token_keys(common, &store).await?;
    // Unique per process, so several gateways each receive only their own replies.
    let replies = Arc::new(ReplyRouter::new(
        &kafka,
        store.clone(),
        codec,
        &common.group_prefix,
        uuid::Uuid::new_v4().to_string(),
        std::time::Duration::from_millis(settings.decision_timeout_ms),
    ));
    // Started now rather than on the first decision, which would pay for it.
    replies
        .start(catalogue.topic(aval_topics::TopicRole::DecisionReplies))
        .await
        .context("cannot read the decision replies topic")?;
    let state = AppState {
        store,
        publisher: publisher.clone(),
        uploads,
        catalogue,
        tokens,
        metrics: aval_gateway::telemetry::prometheus(),
        replies,
        outages,
        admission: Arc::new(aval_gateway::admission::Admission::new(settings.limits())),
        console: match &settings.console_dir {
            Some(dir) => aval_gateway::console::Console::from_dir(dir.clone()),
            None => aval_gateway::console::Console::embedded(),
        },
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
