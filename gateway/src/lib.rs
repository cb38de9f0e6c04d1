//! The HTTP API. Thin on purpose: authenticate, validate the shape, turn the request into a
//! record, produce it, answer. Business state lives in Kafka and the database.

pub mod admission;
pub mod auth;
pub mod json;
pub mod problem;
pub mod replies;
mod routes;
pub mod state;
pub mod telemetry;

pub use routes::health::readiness;
pub use state::AppState;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use problem::Problem;

/// Largest request body accepted: a batch of 500 bureau reports is well under 1 MiB.
pub const BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    // In-flight limits: each of these routes is authenticated first (the layer added last
    // runs first), then admitted against the company's and the gateway's limits.
    let admission = &state.admission;
    let decide = Router::new()
        .route("/v1/decisions", post(routes::decisions::decide))
        .route_layer(from_fn_with_state(
            admission.decisions.clone(),
            admission::admit_one,
        ));
    let decide_batch = Router::new()
        .route("/v1/decisions/batch", post(routes::decisions::decide_batch))
        .route_layer(from_fn_with_state(
            admission.decisions.clone(),
            admission::admit_batch,
        ));
    let upload = Router::new()
        .route("/v1/datasets/{id}/{kind}", post(routes::datasets::upload))
        .route_layer(from_fn_with_state(
            admission.uploads.clone(),
            admission::admit_one,
        ));
    let limited = decide
        .merge(decide_batch)
        .merge(upload)
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .route("/v1/companies", post(routes::companies::register))
        .route("/v1/companies/me", get(routes::companies::me))
        .route("/v1/datasets", post(routes::datasets::create))
        .route("/v1/datasets/{id}", get(routes::datasets::show))
        .route(
            "/v1/datasets/{id}/complete",
            post(routes::datasets::complete),
        )
        .route("/v1/models", get(routes::models::list))
        .route("/v1/models/compare", get(routes::models::compare))
        .route("/v1/models/retrain", post(routes::models::retrain))
        .route("/v1/models/{version}", get(routes::models::show))
        .route(
            "/v1/models/{version}/activate",
            post(routes::models::activate),
        )
        .merge(limited)
        .route("/v1/audit", get(routes::audit::list))
        .route("/healthz", get(routes::health::healthz))
        .route("/openapi.json", get(routes::openapi::document))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(telemetry::record_request))
        .with_state(state)
}
