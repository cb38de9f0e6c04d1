//! Liveness (the process answers) and readiness (every dependency answers).

use crate::state::AppState;
use aval_core::Dependency;
use aval_core::fault::Outage;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 200 when Kafka, the schema registry and the database all answer within the timeout and no
/// processor of this process finds one failing; else 503 naming each one down, and why.
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let kafka = {
        let publisher = state.publisher.clone();
        async move {
            tokio::task::spawn_blocking(move || publisher.broker_reachable(PROBE_TIMEOUT))
                .await
                .map_err(|e| e.to_string())
                .and_then(|reached| reached.map_err(|e| e.to_string()))
        }
    };
    let registry = async {
        let probe = state
            .publisher
            .codec()
            .registry_request(reqwest::Method::GET, "/subjects")
            .timeout(PROBE_TIMEOUT);
        match probe.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("answered HTTP {}", response.status())),
            Err(e) => Err(e.without_url().to_string()),
        }
    };
    let database = async {
        match tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        }
    };
    let (kafka, registry, database) = tokio::join!(kafka, registry, database);
    let unanswered: Vec<(Dependency, String)> = [
        (Dependency::Kafka, kafka),
        (Dependency::SchemaRegistry, registry),
        (Dependency::Database, database),
    ]
    .into_iter()
    .filter_map(|(dependency, probe)| probe.err().map(|error| (dependency, error)))
    .collect();
    readiness(&unanswered, &state.outages.current()).into_response()
}

/// The readiness answer: ready, or 503 with every dependency down, whether it did not answer
/// a probe (`unanswered`, with the probe's error) or a processor finds it failing (`outages`,
/// with its last error and for how long).
pub fn readiness(
    unanswered: &[(Dependency, String)],
    outages: &[Outage],
) -> (StatusCode, Json<Value>) {
    let mut down: Vec<Dependency> = unanswered.iter().map(|(d, _)| *d).collect();
    down.extend(outages.iter().map(|o| o.dependency));
    down.sort();
    down.dedup();
    if down.is_empty() {
        return (StatusCode::OK, Json(json!({"status": "ready"})));
    }
    let probed = unanswered
        .iter()
        .map(|(dependency, error)| json!({"dependency": dependency.as_str(), "error": error}));
    let failing: Vec<Value> = probed
        .chain(outages.iter().map(|o| {
            json!({
                "dependency": o.dependency.as_str(),
                "error": o.error,
                "for_seconds": o.for_how_long.as_secs(),
            })
        }))
        .collect();
    let down: Vec<&str> = down.iter().map(|d| d.as_str()).collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "down": down, "failing": failing})),
    )
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
