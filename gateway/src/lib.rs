//! The HTTP API. Thin on purpose: authenticate, validate the shape, turn the request into a
//! record, produce it, answer. Business state lives in Kafka and the database.

pub mod admission;
pub mod auth;
pub mod console;
pub mod json;
pub mod problem;
pub mod replies;
mod routes;
pub mod state;
pub mod telemetry;

pub use routes::health::{Readiness, readiness};
pub use state::AppState;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use problem::Problem;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body accepted: a batch of 500 bureau reports is well under 1 MiB.
pub const BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let (routes, _) = routes(Some(&state)).split_for_parts();
    routes
        .merge(console::routes(state.console.clone()))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(telemetry::record_request))
        .with_state(state)
}

/// Every call of the API with its documentation: `routes!` registers a handler at the path and
/// methods of its `#[utoipa::path]` and adds that to the document, so the document names
/// exactly the calls served. With a state, the in-flight limits and authentication wrap the
/// routes they guard (the layer added last runs first: authenticated, then admitted against
/// the company's and the gateway's limits); without one, for the document alone
/// (`routes::openapi::api`), the layers are left out: they change no call's path or method.
pub(crate) fn routes(layers: Option<&AppState>) -> OpenApiRouter<AppState> {
    let mut decide = OpenApiRouter::default().routes(routes!(routes::decisions::decide));
    let mut decide_batch =
        OpenApiRouter::default().routes(routes!(routes::decisions::decide_batch));
    let mut upload = OpenApiRouter::default().routes(routes!(routes::datasets::upload));
    if let Some(state) = layers {
        let admission = &state.admission;
        decide = decide.route_layer(from_fn_with_state(
            admission.decisions.clone(),
            admission::admit_one,
        ));
        decide_batch = decide_batch.route_layer(from_fn_with_state(
            admission.decisions.clone(),
            admission::admit_batch,
        ));
        upload = upload.route_layer(from_fn_with_state(
            admission.uploads.clone(),
            admission::admit_one,
        ));
    }
    let mut limited = decide.merge(decide_batch).merge(upload);
    if let Some(state) = layers {
        limited = limited.route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    }
    OpenApiRouter::with_openapi(routes::openapi::ApiDoc::openapi())
        .routes(routes!(routes::companies::register))
        .routes(routes!(routes::companies::me))
        .routes(routes!(routes::tokens::list, routes::tokens::issue))
        .routes(routes!(routes::tokens::revoke))
        .routes(routes!(routes::datasets::list, routes::datasets::create))
        .routes(routes!(routes::datasets::show))
        .routes(routes!(routes::datasets::complete))
        .routes(routes!(routes::models::list))
        .routes(routes!(routes::models::compare))
        .routes(routes!(routes::models::retrain))
        // The router prefers this static path to `/v1/models/{version}` (an e2e test checks).
        .routes(routes!(routes::training_runs::list))
        .routes(routes!(routes::models::show))
        .routes(routes!(routes::models::activate))
        .merge(limited)
        .routes(routes!(routes::decision_history::list))
        .routes(routes!(routes::decision_history::export))
        .routes(routes!(routes::decision_activity::activity))
        .routes(routes!(routes::decision_history::show))
        .routes(routes!(routes::reviews::request, routes::reviews::show))
        .routes(routes!(routes::reviews::list))
        .routes(routes!(routes::outcomes::list, routes::outcomes::report))
        .routes(routes!(
            routes::outcomes::definition,
            routes::outcomes::set_definition
        ))
        .routes(routes!(routes::overrides::report))
        .routes(routes!(routes::monitoring::performance))
        .routes(routes!(routes::drift::drift))
        .routes(routes!(routes::policy::show, routes::policy::save))
        .routes(routes!(routes::policy::versions))
        .routes(routes!(routes::policy::replay))
        .routes(routes!(
            routes::experiments::show,
            routes::experiments::save
        ))
        .routes(routes!(routes::experiments::comparison))
        .routes(routes!(routes::experiments::champions))
        .routes(routes!(routes::experiments::promote))
        .routes(routes!(routes::experiments::rollback))
        .routes(routes!(routes::audit::list))
        .routes(routes!(routes::audit::verify))
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::openapi::document))
        .routes(routes!(routes::health::readyz))
        .routes(routes!(routes::health::metrics))
}
