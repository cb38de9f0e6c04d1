//! `GET /openapi.json`: the OpenAPI 3.1 description of this API, generated from the code. Each
//! handler's `#[utoipa::path]` states its call, registered with the route itself
//! (`crate::routes`), so the document lists exactly the calls the router serves; schemas come
//! from the types the handlers read and write, and from the ingest rules of `aval_core` (built
//! from the validators' own constants and patterns). [`ApiDoc`] holds what belongs to the API
//! as a whole. The document is made once, on first use.
//!
//! `gateway/openapi.json` is a copy of it kept for review; a test fails when it is stale and
//! says how to write it again.

pub(crate) mod examples;
pub(crate) mod params;
pub(crate) mod responses;
#[cfg(test)]
mod tests;

use aval_core::ingest::ItemKind;
use aval_core::ingest::schema::{batch_name, reference};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::sync::LazyLock;
use utoipa::Modify;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Required};

/// The upload route serves one call per item kind; the document lists each (see
/// [`upload_calls`]).
pub(crate) const UPLOAD_ROUTE: &str = "/v1/datasets/{id}/{kind}";

/// What the document says of the API as a whole; the calls and their schemas are added by
/// `crate::routes` as it registers each handler.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "aval HTTP API"),
    tags(
        (name = "companies", description = "Registration, the token's company and the company's tokens."),
        (name = "datasets", description = "Upload sessions: create, send batches, complete, read status."),
        (name = "models", description = "Model versions trained on the datasets: list, read, compare, activate, retrain."),
        (name = "decisions", description = "Approve or reject an order with the company's model, and say why."),
        (name = "outcomes", description = "What happened to decided orders, as the company reports it, and its definition of a bad order."),
        (name = "monitoring", description = "How the company's model versions do on live orders once their outcomes are known."),
        (name = "policy", description = "The company's decision policy around the model: hard rules, the cut-off, refer bands; its versions, and a candidate replayed on past decisions."),
        (name = "experiments", description = "Champion and challengers: versions that decide a share of the customers or score every order in the shadow, compared on the same orders, promoted or rolled back in one call, guarded by a guardrail."),
        (name = "audit", description = "The company's hash-chained audit log."),
        (name = "operations", description = "Liveness, readiness, metrics and this document."),
    ),
    security(("bearerAuth" = [])),
    components(
        schemas(
            crate::routes::datasets::BatchReceipt,
            crate::routes::decisions::DecisionResult,
            crate::routes::outcomes::OutcomeReport,
            crate::problem::Problem,
            aval_core::FieldError,
            aval_core::ingest::Counts,
            aval_core::model::ModelMetrics,
        ),
        responses(
            responses::MalformedBody,
            responses::MalformedBatch,
            responses::Unauthorized,
            responses::Forbidden,
            responses::DatasetNotFound,
            responses::ModelNotFound,
            responses::NoDriftReference,
            responses::PolicyNotFound,
            responses::DecisionNotFound,
            responses::DatasetClosed,
            responses::BodyTooLarge,
            responses::BatchTooLarge,
            responses::UnsupportedMediaType,
            responses::InvalidRequest,
            responses::InvalidBatch,
            responses::BatchAccepted,
            responses::Unavailable,
            responses::NoModel,
            responses::DecisionFailed,
            responses::DecisionUnavailable,
            responses::DecisionTimeout,
            responses::TooManyBatches,
            responses::DecisionConflict,
        )
    ),
    modifiers(&WholeApi)
)]
pub(crate) struct ApiDoc;

/// What the derive cannot state: the description with the code's body limit, the license's
/// SPDX identifier, the summary of OpenAPI 3.1, the token scheme, and the schemas of uploaded
/// items, which come from the ingest rules rather than from a Rust type.
struct WholeApi;

impl Modify for WholeApi {
    fn modify(&self, api: &mut OpenApi) {
        api.info.version = env!("CARGO_PKG_VERSION").to_owned();
        api.info.description = Some(description());
        api.info.license = Some(
            utoipa::openapi::LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        );
        api.info.contact = None;
        let mut summary = Extensions::default();
        summary.insert(
            "summary".to_owned(),
            json!(
                "Upload a company's credit history, train and manage its model versions, \
                 decide its orders, read its audit log."
            ),
        );
        api.info.extensions = Some(summary);
        let components = api.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".to_owned());
        bearer.description = Some(
            "The token from registration: an HS256 JWT with `sub` (the company id), `iat`, \
             `exp`, `jti` and `iss: aval`. A missing, malformed, forged, expired, wrong-issuer \
             or other-algorithm token gets 401; a revoked token, or one of a deactivated \
             company, gets 403."
                .to_owned(),
        );
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(bearer));
        components
            .schemas
            .extend(aval_core::ingest::schema::schemas());
    }
}

fn description() -> String {
    format!(
        "Register a company, get a bearer token, upload datasets (customers, orders, credit \
         limits, bureau reports) in batches, complete them, and read their status; list, \
         compare, activate and retrain the model versions trained on them; decide orders, one at \
         a time or in batches, with the reasons behind each decision; report what happened to \
         decided orders and set what counts as a bad one; see how each model version does on \
         live orders; and read the company's audit log.\n\nRequest bodies are JSON, sent as `application/json` (any \
         `application/*+json` is also taken), at most {}. Every error is an RFC 9457 problem \
         document served as `application/problem+json`; input errors list each bad field as \
         `{{field, reason}}`. An unknown path gets a 404 problem. A known path called with a \
         method it does not serve gets a 405 problem (type `/problems/method-not-allowed`) with \
         an `Allow` header listing the methods it does serve.\n\nEvery call but registration, \
         `/healthz`, `/readyz`, `/metrics` and `/openapi.json` needs `Authorization: Bearer \
         <token>`. The company is always the token's, never a field of the body.",
        responses::body_limit()
    )
}

/// The document: the router's calls over [`ApiDoc`], the upload route as one call per kind.
pub(crate) fn api() -> OpenApi {
    let mut api = crate::routes(None).into_openapi();
    upload_calls(&mut api);
    optional_retrain_body(&mut api);
    api
}

/// `POST /v1/models/retrain` takes no body, a blank one, or a `RetrainRequest`, but not JSON
/// `null`. `#[utoipa::path]` makes a body optional only through an `Option`, whose schema would
/// take null; so the body is stated as the request there and made optional here.
fn optional_retrain_body(api: &mut OpenApi) {
    let body = api
        .paths
        .paths
        .get_mut("/v1/models/retrain")
        .and_then(|item| item.post.as_mut())
        .and_then(|operation| operation.request_body.as_mut());
    if let Some(body) = body {
        body.required = Some(Required::False);
    }
}

/// The document as served (and as kept in `gateway/openapi.json`).
pub(crate) fn document_text() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        let mut text = api().to_pretty_json().unwrap_or_else(|e| {
            // Serialising a tree of maps and strings cannot fail; a test makes it every run.
            panic!("the OpenAPI document does not serialise: {e}")
        });
        text.push('\n');
        text
    });
    &DOCUMENT
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    summary = "This document",
    security(),
    responses(
        (status = 200, description = "The OpenAPI 3.1 description of this API.", content_type = "application/json", body = Object),
    )
)]
pub(crate) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_text(),
    )
}

/// What differs between the upload calls of each kind.
struct Upload {
    operation_id: &'static str,
    summary: &'static str,
    what: &'static str,
    rule: &'static str,
    example: fn() -> Value,
}

fn upload(kind: ItemKind) -> Upload {
    match kind {
        ItemKind::Customers => Upload {
            operation_id: "uploadCustomers",
            summary: "Send a batch of customers",
            what: "customers",
            rule: "Customer ids must be unique within the batch.",
            example: examples::upload_customers_request,
        },
        ItemKind::Orders => Upload {
            operation_id: "uploadOrders",
            summary: "Send a batch of orders",
            what: "orders",
            rule: "Order ids must be unique within the batch.",
            example: examples::upload_orders_request,
        },
        ItemKind::CreditLimits => Upload {
            operation_id: "uploadCreditLimits",
            summary: "Send a batch of credit limits",
            what: "credit limits",
            rule: "No two items of the batch may share `customer_id` and `valid_from`.",
            example: examples::upload_credit_limits_request,
        },
        ItemKind::BureauReports => Upload {
            operation_id: "uploadBureauReports",
            summary: "Send a batch of bureau reports",
            what: "credit-bureau (Serasa) reports",
            rule: "No two items of the batch may share `customer_id` and `queried_at` (compared \
                   as instants).",
            example: examples::upload_bureau_reports_request,
        },
    }
}

/// [`UPLOAD_ROUTE`] is one route whose `{kind}` is one of the item kinds' path segments (any
/// other gets 404): the document states one call per kind, each with its own body.
fn upload_calls(api: &mut OpenApi) {
    let Some(route) = api.paths.paths.remove(UPLOAD_ROUTE) else {
        return;
    };
    let Some(common) = route.post else {
        return;
    };
    for kind in ItemKind::ALL {
        let doc = upload(kind);
        let mut operation: Operation = common.clone();
        operation.operation_id = Some(doc.operation_id.to_owned());
        operation.summary = Some(doc.summary.to_owned());
        operation.description = Some(format!(
            "One batch of 1 to {} {}. The whole batch is checked and every bad item reported; a \
             refused batch is not stored at all. {}",
            aval_core::ingest::MAX_BATCH_ITEMS,
            doc.what,
            doc.rule
        ));
        let content = ContentBuilder::new()
            .schema(Some(reference(batch_name(kind))))
            .example(Some((doc.example)()))
            .build();
        operation.request_body = Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", content)
                .build(),
        );
        let path = UPLOAD_ROUTE.replace("{kind}", kind.path_segment());
        let mut item = PathItem::default();
        item.post = Some(operation);
        api.paths.paths.insert(path, item);
    }
}
