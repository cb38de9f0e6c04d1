//! `GET /v1/audit`: the token's company's audit events, newest first, with the hash chain so
//! the company can verify nothing was rewritten.

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::openapi::{params, responses};
use crate::state::AppState;
use aval_core::FieldErrors;
use aval_store::audit::StoredAuditEvent;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub(crate) const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 500;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    /// Newest first.
    events: Vec<AuditEventView>,
    /// Pass as `before` for the next (older) page. Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i64, minimum = 1)]
    next_before: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvent)]
pub(crate) struct AuditEventView {
    /// Position in the company's chain, from 1.
    #[schema(minimum = 1)]
    seq: i64,
    #[schema(format = Uuid)]
    event_id: String,
    /// What happened. New kinds may appear.
    #[schema(examples(
        "company.registered",
        "dataset.created",
        "batch.accepted",
        "batch.rejected",
        "dataset.ready",
        "dataset.rejected",
        "training.started",
        "training.finished",
        "training.failed",
        "model.activated",
        "model.kept_as_candidate",
        "token.issued",
        "token.revoked"
    ))]
    kind: String,
    occurred_at: DateTime<Utc>,
    /// Who acted: `company:<id>` for a token holder, `system:<role>` for a processor.
    #[schema(examples("company:0b6f3c1e-8d2a-4c57-9a43-1f2e3d4c5b6a"))]
    actor: String,
    /// Small facts about the event (ids, counts), all as text.
    details: BTreeMap<String, String>,
    /// The previous event's `hash` (64 zeros for the first event), hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    prev_hash: String,
    /// SHA-256 of `prev_hash` and the event's length-prefixed fields, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    hash: String,
}

impl From<StoredAuditEvent> for AuditEventView {
    fn from(stored: StoredAuditEvent) -> Self {
        Self {
            seq: stored.seq,
            event_id: stored.event.event_id.to_string(),
            kind: stored.event.kind,
            occurred_at: stored.event.occurred_at,
            actor: stored.event.actor,
            details: stored.event.details,
            prev_hash: hex::encode(stored.prev_hash),
            hash: hex::encode(stored.hash),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    operation_id = "listAuditEvents",
    summary = "The company's audit events",
    description = "Newest first, one page at a time. For the next (older) page pass the `next_before` of this one as `before`. Any other query parameter is refused (422).",
    params(params::AuditPaging),
    responses(
        (status = 200, description = "One page of events.", content_type = "application/json", body = AuditPage),
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
) -> Result<Json<AuditPage>, Problem> {
    let mut errors = FieldErrors::default();
    for key in params
        .keys()
        .filter(|k| !matches!(k.as_str(), "limit" | "before"))
    {
        errors.push(key.as_str(), "unknown parameter; use limit and before");
    }
    let limit = match params.get("limit").map(|v| v.parse::<i64>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            errors.push("limit", format!("must be an integer from 1 to {MAX_LIMIT}"));
            DEFAULT_LIMIT
        }
    };
    let before = match params.get("before").map(|v| v.parse::<i64>()) {
        None => None,
        Some(Ok(before)) if before >= 1 => Some(before),
        Some(_) => {
            errors.push(
                "before",
                "must be a positive integer (a seq from an earlier page)",
            );
            None
        }
    };
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let events = state
        .store
        .audit_events(auth.company.id, before, limit)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the audit log");
            Problem::unavailable("cannot read the audit log right now; retry")
        })?;
    let next_before = match events.last() {
        Some(oldest) if events.len() as i64 == limit && oldest.seq > 1 => Some(oldest.seq),
        _ => None,
    };
    Ok(Json(AuditPage {
        events: events.into_iter().map(AuditEventView::from).collect(),
        next_before,
    }))
}
