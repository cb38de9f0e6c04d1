//! `POST`/`GET /v1/decisions/{request_id}/review` and `GET /v1/reviews`: a company's requests,
//! for its customers, that a person review a decision aval made (LGPD art. 20), and the
//! queue of them. The answer is the analyst's override outcome of the order (`POST
//! /v1/outcomes`, or the outcomes topic) reported at or after the request: a request is open
//! until one is.

use crate::auth::Authenticated;
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::routes::openapi::{examples, params, responses};
use crate::routes::paging::{self, Cursor};
use crate::routes::query::refuse_unknown;
use crate::routes::tokens::audit;
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_core::audit::{AuditEvent, AuditKind};
use aval_core::text::{self, TextKind};
use aval_store::reviews::{ReviewRequest, ReviewStatus};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest reason a request carries, in characters.
const MAX_REASON_CHARS: usize = 1_000;

/// What `POST /v1/decisions/{request_id}/review` takes: `{}` when the customer gave no reason.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = ReviewRequestBody)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewBody {
    /// The customer's words, as the company passes them on: up to 1,000 characters, no
    /// control character.
    #[schema(schema_with = reason_schema)]
    reason: Option<String>,
}

fn reason_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(MAX_REASON_CHARS))
        .pattern(Some(text::text_pattern()))
        .description(Some(
            "The customer's words, as the company passes them on: up to 1,000 characters, no \
             control character.",
        ))
        .build()
}

/// The analyst's answer: the order's override outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReviewAnswer {
    /// When the override happened, by the company's clock.
    occurred_at: DateTime<Utc>,
    /// `approved_rejection` (the analyst approved what aval did not) or `blocked_approval` (the
    /// analyst blocked what aval did not).
    direction: Option<String>,
    reason_code: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ReviewRequest)]
pub(crate) struct ReviewView {
    request_id: String,
    order_id: String,
    /// The decision reviewed: `approved`, `rejected` or `review`.
    decision: String,
    decided_at: DateTime<Utc>,
    requested_at: DateTime<Utc>,
    /// `company:<id>`: who asked.
    requested_by: String,
    reason: Option<String>,
    /// `open` until the analyst's override of the order is reported, then `answered`.
    #[schema(pattern = "^(open|answered)$")]
    status: &'static str,
    answer: Option<ReviewAnswer>,
}

impl From<ReviewRequest> for ReviewView {
    fn from(request: ReviewRequest) -> Self {
        let answer = request.answered_at.map(|occurred_at| {
            let details = request.answer.map(|a| a.0).unwrap_or_default();
            let field = |name: &str| {
                details
                    .get(name)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            ReviewAnswer {
                occurred_at,
                direction: field("direction"),
                reason_code: field("reason_code"),
            }
        });
        Self {
            request_id: request.request_id,
            order_id: request.order_id,
            decision: request.decision,
            decided_at: request.decided_at,
            requested_at: request.requested_at,
            requested_by: request.requested_by,
            reason: request.reason,
            status: if answer.is_some() {
                ReviewStatus::Answered.as_str()
            } else {
                ReviewStatus::Open.as_str()
            },
            answer,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReviewPage {
    /// Newest request first.
    reviews: Vec<ReviewView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/decisions/{request_id}/review",
    tag = "decisions",
    operation_id = "requestReview",
    summary = "Ask that a person review a decision (LGPD art. 20)",
    description = "Records the company's request, for its customer, that a person review the decision of `request_id` (any decision: approved, rejected or review), with the customer's `reason` when given. Audited (`decision.review_requested`) and stored only once its audit event is on the audit topic (else 503, nothing recorded): 201. A decision has one request: asking again returns the first (200) and is not audited again. The analyst answers by reporting an override outcome of the order (`POST /v1/outcomes`, kind `override`), which marks the request `answered`. An unknown request id, or another company's, gets 404.",
    params(params::RequestId),
    request_body(content = ReviewBody, content_type = "application/json", example = examples::review_request),
    responses(
        (status = 201, description = "Recorded.", content_type = "application/json", body = ReviewView, headers(("Location" = String, description = "`/v1/decisions/{request_id}/review`.")), example = examples::review_201),
        (status = 200, description = "Asked before: the first request.", content_type = "application/json", body = ReviewView),
        (status = 400, response = responses::MalformedBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::DecisionNotFound),
        (status = 413, response = responses::BodyTooLarge),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn request(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    JsonBody(body): JsonBody<ReviewBody>,
) -> Result<Response, Problem> {
    let mut errors = FieldErrors::default();
    if let Some(reason) = &body.reason
        && let Err(refused) = text::check(reason, TextKind::Value, MAX_REASON_CHARS)
    {
        errors.push("reason", refused);
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let company = auth.company.id;
    let now = Utc::now();
    let failed = |e| Problem::dependency_failed("cannot record the review request", e);
    let pending = state
        .store
        .begin_review_request(
            company,
            &request_id,
            body.reason.as_deref(),
            &auth.actor(),
            now,
        )
        .await
        .map_err(failed)?
        .ok_or_else(|| Problem::not_found(format!("no decision with request id {request_id}")))?;
    let (recorded, new) = &pending.value;
    if *new {
        let event = AuditEvent::new(company, AuditKind::ReviewRequested, auth.actor(), now)
            .with_detail("request_id", recorded.request_id.clone())
            .with_detail("order_id", recorded.order_id.clone())
            .with_detail("decision", recorded.decision.clone());
        audit(&state, &event, "the review request was not recorded").await?;
    }
    let (recorded, new) = pending.commit().await.map_err(failed)?;
    let view = Json(ReviewView::from(recorded));
    if new {
        let location = format!("/v1/decisions/{request_id}/review");
        Ok((StatusCode::CREATED, [(header::LOCATION, location)], view).into_response())
    } else {
        Ok(view.into_response())
    }
}

#[utoipa::path(
    get,
    path = "/v1/decisions/{request_id}/review",
    tag = "decisions",
    operation_id = "getReview",
    summary = "The review request of a decision, and its answer",
    description = "404 when no review of the decision was requested, or for an unknown request id or another company's.",
    params(params::RequestId),
    responses(
        (status = 200, description = "The request.", content_type = "application/json", body = ReviewView, example = examples::review_201),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::DecisionNotFound),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn show(
    auth: Authenticated,
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ReviewView>, Problem> {
    let mut errors = FieldErrors::default();
    refuse_unknown(&params, &[], &mut errors);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let request = state
        .store
        .review_request(auth.company.id, &request_id)
        .await
        .map_err(|e| Problem::dependency_failed("cannot read the review request", e))?
        .ok_or_else(|| {
            Problem::not_found(format!("no review was requested of decision {request_id}"))
        })?;
    Ok(Json(request.into()))
}

#[utoipa::path(
    get,
    path = "/v1/reviews",
    tag = "decisions",
    operation_id = "listReviews",
    summary = "The company's review requests: the analysts' queue",
    description = "Newest request first, each with its decision and, once reported, the analyst's override. `status` narrows to `open` or `answered` requests. Paging: pass `next_cursor` as `cursor`, with the same `status`. Any other query parameter, or a bad value, is refused (422, naming the field).",
    params(params::ReviewPaging),
    responses(
        (status = 200, description = "A page.", content_type = "application/json", body = ReviewPage, example = examples::list_reviews_200),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::InvalidRequest),
        (status = 503, response = responses::Unavailable),
    )
)]
pub(crate) async fn list(
    auth: Authenticated,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ReviewPage>, Problem> {
    let statuses = ReviewStatus::ALL.map(ReviewStatus::as_str);
    let page = paging::page_request(&params, ReviewStatus::parse, &statuses, |id| !id.is_empty())
        .map_err(Problem::invalid)?;
    let after = page.cursor.as_ref().map(|c| (c.at, c.id.as_str()));
    let requests = state
        .store
        .review_requests(auth.company.id, page.status, after, page.limit + 1)
        .await
        .map_err(|e| Problem::dependency_failed("cannot list the review requests", e))?;
    let (requests, next_cursor) = paging::cut(requests, page.limit, |r| Cursor {
        at: r.requested_at,
        id: r.order_id.clone(),
    });
    Ok(Json(ReviewPage {
        reviews: requests.into_iter().map(ReviewView::from).collect(),
        next_cursor,
    }))
}
