//! Liveness (the process answers) and readiness (every dependency answers).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 200 when Kafka, the schema registry and the database all answer within the timeout; else
/// 503 naming each one that did not.
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let kafka = {
        let publisher = state.publisher.clone();
        async move {
            tokio::task::spawn_blocking(move || publisher.broker_reachable(PROBE_TIMEOUT))
                .await
                .unwrap_or(false)
        }
    };
    let registry = async {
        let url = format!(
            "{}/subjects",
            state.publisher.codec().registry_url().trim_end_matches('/')
        );
        matches!(
            state.http.get(url).timeout(PROBE_TIMEOUT).send().await,
            Ok(response) if response.status().is_success()
        )
    };
    let database = async {
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await,
            Ok(Ok(()))
        )
    };
    let (kafka, registry, database) = tokio::join!(kafka, registry, database);
    let down: Vec<&str> = [
        ("kafka", kafka),
        ("schema_registry", registry),
        ("database", database),
    ]
    .into_iter()
    .filter(|(_, up)| !up)
    .map(|(name, _)| name)
    .collect();
    if down.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "down": down})),
        )
            .into_response()
    }
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
