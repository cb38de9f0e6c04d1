//! Liveness (the process answers) and readiness (every dependency answers).

use crate::routes::openapi::examples;
use crate::state::AppState;
use aval_core::Dependency;
use aval_core::fault::Outage;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use std::time::Duration;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The dependencies readiness asks, by the names it gives them.
const DEPENDENCIES: [Dependency; 3] = [
    Dependency::Kafka,
    Dependency::SchemaRegistry,
    Dependency::Database,
];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    #[schema(schema_with = ok)]
    status: &'static str,
}

fn ok() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["ok"]))
        .into()
}

/// The readiness answer; `down` and `failing` only when not ready.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    #[schema(schema_with = readiness_status)]
    status: &'static str,
    /// The dependencies that did not answer, or that a processor of this process finds
    /// failing; only when `status` is `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = down)]
    down: Option<Vec<&'static str>>,
    /// Why each dependency is down: a probe's error, or what a processor of this process
    /// reports failing, with its last error and for how long; only when `status` is
    /// `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<Failing>)]
    failing: Option<Vec<Failing>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Failing {
    #[schema(schema_with = dependency)]
    dependency: &'static str,
    /// The probe's error, or the last error a processor saw, for an operator.
    error: String,
    /// How long a processor has found it failing; absent for a probe that did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    for_seconds: Option<u64>,
}

fn readiness_status() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["ready", "unavailable"]))
        .into()
}

fn dependency() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(DEPENDENCIES.map(Dependency::as_str)))
}

fn down() -> Schema {
    ArrayBuilder::new()
        .items(dependency())
        .description(Some(
            "The dependencies that did not answer; only when `status` is `unavailable`.",
        ))
        .into()
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "Liveness",
    description = "200 while the process runs. Checks no dependency.",
    security(),
    responses(
        (status = 200, description = "Alive.", content_type = "application/json", body = Health),
    )
)]
pub(crate) async fn healthz() -> impl IntoResponse {
    Json(Health { status: "ok" })
}

/// 200 when Kafka, the schema registry and the database all answer within the timeout and no
/// processor of this process finds one failing; else 503 naming each one down, and why.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    summary = "Readiness",
    description = "Asks Kafka, the schema registry and the database, each with a 2-second timeout.",
    security(),
    responses(
        (status = 200, description = "Every dependency answered.", content_type = "application/json", body = Readiness, example = examples::readyz_200),
        (status = 503, description = "At least one dependency did not answer; `down` names each, `failing` says why. This body is plain JSON, not a problem document.", content_type = "application/json", body = Readiness, example = examples::readyz_503),
    )
)]
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
) -> (StatusCode, Json<Readiness>) {
    let mut down: Vec<Dependency> = unanswered.iter().map(|(d, _)| *d).collect();
    down.extend(outages.iter().map(|o| o.dependency));
    down.sort();
    down.dedup();
    if down.is_empty() {
        let ready = Readiness {
            status: "ready",
            down: None,
            failing: None,
        };
        return (StatusCode::OK, Json(ready));
    }
    let probed = unanswered.iter().map(|(dependency, error)| Failing {
        dependency: dependency.as_str(),
        error: error.clone(),
        for_seconds: None,
    });
    let failing = probed
        .chain(outages.iter().map(|o| Failing {
            dependency: o.dependency.as_str(),
            error: o.error.clone(),
            for_seconds: Some(o.for_how_long.as_secs()),
        }))
        .collect();
    let unavailable = Readiness {
        status: "unavailable",
        down: Some(down.iter().map(|d| d.as_str()).collect()),
        failing: Some(failing),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(unavailable))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    description = "Prometheus text format. Includes `aval_http_requests_total` and the histogram `aval_http_request_duration_seconds`, labelled by `route` (the route template, or `unmatched`), `method` and `status`.",
    security(),
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain; version=0.0.4", body = String),
    )
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
